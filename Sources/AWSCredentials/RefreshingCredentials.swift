public import FoundationEssentials
public import Logging

/// Keeps the current credentials and refreshes them before they expire.
///
/// - Advisory window (15 min before `Expiration`): refresh; if that fails, keep using the old
///   credentials, warn, and wait a minute before trying again.
/// - Mandatory window (10 min before): refresh; a failure is the caller's error.
/// - One refresh in flight at a time, shared by every caller (the ECS endpoint allows ~10 req/s).
public actor RefreshingCredentials {
    public static let advisoryWindow: TimeInterval = 15 * 60
    public static let mandatoryWindow: TimeInterval = 10 * 60
    /// After a failed advisory refresh, the pause before the next advisory attempt.
    public static let advisoryRetryPause: TimeInterval = 60

    public nonisolated let provider: any CredentialProvider
    private let clock: any WallClock
    private let logger: Logger
    private var cached: Credentials?
    private var inFlight: Task<Credentials, any Error>?
    private var nextAdvisoryAttempt: Date?

    /// `cached`: credentials already fetched, used until they are due for refresh.
    public init(
        provider: any CredentialProvider, clock: any WallClock = SystemWallClock(),
        logger: Logger = Logger(label: "secrets-injector.credentials"), cached: Credentials? = nil
    ) {
        self.provider = provider
        self.clock = clock
        self.logger = logger
        self.cached = cached
    }

    /// Credentials good for at least the mandatory window, refreshing them when due.
    public func current() async throws(CredentialError) -> Credentials {
        guard let cached else { return try await refresh() }
        guard let expiration = cached.expiration else { return cached }
        let now = clock.now()
        let remaining = expiration.timeIntervalSince(now)
        if remaining > Self.advisoryWindow { return cached }
        if remaining > Self.mandatoryWindow {
            if let next = nextAdvisoryAttempt, now < next { return cached }
            do {
                return try await refresh()
            } catch {
                nextAdvisoryAttempt = now.addingTimeInterval(Self.advisoryRetryPause)
                logger.warning(
                    "advisory credential refresh failed; using the current credentials until the mandatory window",
                    metadata: ["error": "\(error)", "expiresInSeconds": "\(Int(remaining))"])
                return cached
            }
        }
        return try await refresh()
    }

    /// Drops the cached credentials and fetches new ones: after `ExpiredTokenException` or
    /// `UnrecognizedClientException`. Joins a refresh already in flight.
    public func forceRefresh() async throws(CredentialError) -> Credentials {
        try await refresh()
    }

    private func refresh() async throws(CredentialError) -> Credentials {
        let task: Task<Credentials, any Error>
        if let inFlight {
            task = inFlight
        } else {
            let provider = self.provider
            task = Task { try await provider.fetch() }
            inFlight = task
        }
        do {
            let credentials = try await task.value
            if inFlight == task {
                inFlight = nil
                cached = credentials
                nextAdvisoryAttempt = nil
                logger.debug(
                    "credentials refreshed",
                    metadata: [
                        "source": "\(credentials.source)",
                        "expiration": "\(credentials.expiration.map { "\($0)" } ?? "none")",
                    ])
            }
            return credentials
        } catch let error as CredentialError {
            if inFlight == task { inFlight = nil }
            throw error
        } catch {
            if inFlight == task { inFlight = nil }
            throw CredentialError(.unavailable, "\(provider.name): \(error)")
        }
    }
}
