public import FoundationEssentials

/// When the sidecar refreshes, as a pure state machine: events and the current time
/// in, actions out. No clock, no sleeping, no I/O — the refresher service drives it.
///
/// - The first round at a random point of the first interval (from 10 % of it): tasks a
///   deployment started together check spread over the interval, not together, so that one
///   listing a round per task stays under its account-wide quota. A change is still seen
///   within one interval of the start.
/// - Every `interval` ±10 % jitter after a success.
/// - After a failure, back off `1 s × 2^(failures−1)` with full jitter, never longer than the interval.
/// - A secret past its `NextRotationDate` is checked again within a minute until a new version
///   appears; an upcoming rotation date brings the next refresh forward to it.
/// - A refresh asked for while one runs (SIGHUP, `refreshNow`) is coalesced into one more.
/// - A round in which any required secret's check failed is a failed round: it counts in
///   `consecutiveFailures` and backs off like a round that could check nothing.
public struct RefreshPolicy: Sendable {
    public struct Settings: Sendable, Equatable {
        public var interval: TimeInterval
        public var jitter: Double = 0.1
        public var firstBackoff: TimeInterval = 1
        public var rotationRecheck: TimeInterval = 60

        public init(interval: TimeInterval) {
            self.interval = interval
        }
    }

    public enum Event: Sendable, Equatable {
        /// The first generation is written: the clock starts.
        case started
        /// The timer set by the last `.sleep(until:)` went off.
        case timerFired
        /// Someone asked for a refresh now (SIGHUP, `refreshNow=true`).
        case refreshRequested
        /// A round ran; its report says whether every required secret was checked.
        case refreshed(RoundReport)
        /// A round could check nothing at all.
        case refreshFailed
    }

    /// What one round saw: failed checks of required secrets, and rotations.
    public struct RoundReport: Sendable, Equatable {
        /// Required secrets whose check failed this round (their last values stay).
        public var failedSecrets: [String]
        /// A secret's `NextRotationDate` has passed and no new version has appeared yet.
        public var rotationOverdue: Bool
        /// The earliest `NextRotationDate` still ahead.
        public var nextRotation: Date?
        /// Secrets checked this round, and how many of those checks failed (any secret, required
        /// or not): CloudWatch's `FetchSuccess` and `FetchFailure`.
        public var checked = 0
        public var failedChecks = 0

        public init(failedSecrets: [String] = [], rotationOverdue: Bool = false, nextRotation: Date? = nil) {
            self.failedSecrets = failedSecrets
            self.rotationOverdue = rotationOverdue
            self.nextRotation = nextRotation
        }
    }

    public enum Action: Sendable, Equatable {
        /// Run one refresh round now, then report `.refreshSucceeded` or `.refreshFailed`.
        case refresh
        /// Nothing to do before this time; then send `.timerFired`.
        case sleep(until: Date)
        /// Nothing to do now (a refresh is running; the request is remembered).
        case wait
    }

    public let settings: Settings
    private let random: @Sendable () -> Double
    private var refreshing = false
    private var requestedWhileRefreshing = false
    private var nextRefresh: Date?
    public private(set) var lastSuccess: Date?
    public private(set) var consecutiveFailures = 0

    /// `random` gives numbers in 0..<1 (jitter); tests pass fixed ones.
    public init(settings: Settings, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.settings = settings
        self.random = random
    }

    public mutating func handle(_ event: Event, now: Date) -> Action {
        switch event {
        case .started:
            lastSuccess = now
            return schedule(now.addingTimeInterval(max(1, settings.interval * (0.1 + 0.9 * random()))))
        case .timerFired:
            if refreshing { return .wait }
            if let nextRefresh, now < nextRefresh { return .sleep(until: nextRefresh) }
            return beginRefresh()
        case .refreshRequested:
            if refreshing {
                requestedWhileRefreshing = true
                return .wait
            }
            return beginRefresh()
        case .refreshed(let report) where !report.failedSecrets.isEmpty:
            return handle(.refreshFailed, now: now)
        case .refreshed(let report):
            refreshing = false
            lastSuccess = now
            consecutiveFailures = 0
            if requestedWhileRefreshing { return beginRefresh() }
            var next = now.addingTimeInterval(jittered(settings.interval))
            if report.rotationOverdue {
                next = min(next, now.addingTimeInterval(settings.rotationRecheck * (0.5 + 0.5 * random())))
            }
            if let rotation = report.nextRotation, rotation > now { next = min(next, rotation) }
            return schedule(next)
        case .refreshFailed:
            refreshing = false
            consecutiveFailures += 1
            if requestedWhileRefreshing { return beginRefresh() }
            return schedule(now.addingTimeInterval(backoff()))
        }
    }

    /// Seconds since the last round that checked every required secret.
    public func staleness(now: Date) -> TimeInterval? { lastSuccess.map { now.timeIntervalSince($0) } }

    /// The time of the next planned refresh, if one is planned.
    public var plannedRefresh: Date? { refreshing ? nil : nextRefresh }

    // MARK: Private

    private mutating func beginRefresh() -> Action {
        refreshing = true
        requestedWhileRefreshing = false
        nextRefresh = nil
        return .refresh
    }

    private mutating func schedule(_ date: Date) -> Action {
        nextRefresh = date
        return .sleep(until: date)
    }

    /// `interval × (1 ± jitter)`, never under a second.
    private func jittered(_ interval: TimeInterval) -> TimeInterval {
        max(1, interval * (1 - settings.jitter + 2 * settings.jitter * random()))
    }

    /// Full jitter over `min(firstBackoff × 2^(failures−1), interval)`, at least 100 ms.
    private func backoff() -> TimeInterval {
        let ceiling = min(settings.firstBackoff * Double(1 << min(consecutiveFailures - 1, 30)), settings.interval)
        return max(0.1, ceiling * random())
    }
}
