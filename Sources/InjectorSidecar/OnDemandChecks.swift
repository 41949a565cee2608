import AWSCredentials
import FoundationEssentials
public import InjectorAgent
import InjectorBase
import InjectorConfig
import InjectorJob
import InjectorRefresh
import InjectorSources
import Logging
import SecretsManager

/// The checks a client asks for between rounds: `refreshNow` (the Agent's API) and `POST /refresh`.
/// This decides what to check and answers; the ``Refresher`` commits and tells a new version as it
/// does a round's, so the answers switch with the generation on disk.
public actor OnDemandChecks {
    let refresher: Refresher
    let injector: Injector
    let store: SecretStore
    let lastChecks: LastChecks
    let clock: any WallClock
    let logger: Logger
    /// When each secret was last checked for `refreshNow`: its own spacing, since a `refreshNow` of a
    /// version the rounds do not keep (`versionId`) must still reach Secrets Manager.
    private var refreshedNow: [SecretRequest: Date] = [:]
    /// The `POST /refresh` checks under way: a request for the same secret waits for it.
    private var inFlight: [SecretRequest: Task<Void, Never>] = [:]

    public init(refresher: Refresher) {
        self.refresher = refresher
        self.injector = refresher.injector
        self.store = refresher.store
        self.lastChecks = refresher.lastChecks
        self.clock = refresher.clock
        self.logger = refresher.logger
    }

    /// `refreshNow` (the Agent's API): a check of the one secret `query` names, now, unless it was
    /// checked for `refreshNow` within `refresh.minRefreshSeconds`; a new version is committed and
    /// told like a round's. A query no configured secret answers refreshes nothing (nil: the store
    /// answers).
    ///
    /// A query for one version (`versionId`) is answered as the Agent answers it, from what Secrets
    /// Manager says of that version now: its stages after a rotation moved them, or Secrets
    /// Manager's own refusal (a stage the version does not carry is its 400).
    public func refreshNow(_ query: SecretQuery) async -> AgentResponse? {
        guard let request = store.request(answering: query) else { return nil }
        let now = clock.now()
        if let last = refreshedNow[request], now.timeIntervalSince(last) < lastChecks.minRefresh { return nil }
        refreshedNow[request] = now
        let exact = query.versionID.map {
            SecretRequest(id: request.id, versionStage: query.versionStage, versionID: $0)
        }
        let asked = [request] + (exact.map { $0 == request ? [] : [$0] } ?? [])
        var outcomes: [SecretRequest: Result<SecretValue, AWSCallError>]
        do {
            outcomes = try await injector.source.fetch(asked)
        } catch {
            await store.record(failure: error, for: [request])
            logger.error("refreshNow failed", metadata: ["secret": "\(request.id)", "error": "\(error)"])
            return nil
        }
        var answer: AgentResponse?
        if let exact, exact != request, let outcome = outcomes.removeValue(forKey: exact) {
            answer = .version(outcome, of: exact)
        }
        await refresher.settle([request], outcomes: outcomes, at: now)
        return answer
    }

    /// `POST /refresh`: a check now of one configured secret (`secretID`) or of all, then the answer
    /// after the commit: the configured ids that changed, or `unchanged`, never a value. A secret
    /// whose window (``LastChecks``) is open is not checked again: its last result is the answer,
    /// with `"cached": true`; a check under way is waited for.
    public func refresh(secretID: String?) async -> AgentResponse {
        let configured = await refresher.configuredRequests
        let requests: [SecretRequest]
        if let secretID {
            guard let request = store.request(answering: SecretQuery(secretID: secretID)),
                configured.contains(request)
            else {
                return .notConfigured(secretID: secretID)
            }
            requests = [request]
        } else {
            requests = configured
        }
        let now = clock.now()
        var underWay: [Task<Void, Never>] = []
        var idle: [SecretRequest] = []
        for request in requests {
            if let task = inFlight[request] { underWay.append(task) } else { idle.append(request) }
        }
        let due = lastChecks.due(idle, at: now)
        if !due.isEmpty {
            let task = Task { await self.check(due, at: now) }
            lastChecks.began(due, at: now)
            for request in due { inFlight[request] = task }
            await task.value
            for request in due { inFlight[request] = nil }
        }
        for task in underWay { await task.value }
        return .refreshed(lastChecks.results(for: requests), cached: due.isEmpty)
    }

    /// One `POST /refresh` check, committed and told as a round's is: `DescribeSecret` for each
    /// secret (`GetSecretValue` with the `get` strategy, or where it is denied), then the changed
    /// versions by id (`SecretSource.probeEach`). Never `ListSecrets` or `BatchGetSecretValue`:
    /// their quotas are 100 a second for the whole account, and a fleet's apps ask at the same
    /// moment when a rotation breaks their logins (`scripts/bench fleet --rotate`).
    private func check(_ requests: [SecretRequest], at now: Date) async {
        let outcomes: [SecretRequest: Result<SecretValue, AWSCallError>]
        do {
            let strategy: RefreshStrategy = injector.config.refresh.strategy == .get ? .get : .describe
            let probe = try await injector.source.probeEach(requests, strategy: strategy)
            outcomes = try await refresher.changes(requests, probe: probe, at: now)
        } catch {
            await store.record(failure: error, for: requests)
            logger.error("refresh failed", metadata: ["secrets": "\(requests.count)", "error": "\(error)"])
            lastChecks.record(failure: error, for: requests)
            return
        }
        await refresher.settle(requests, outcomes: outcomes, at: now)
    }
}
