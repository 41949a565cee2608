import Synchronization

/// Counters the sidecar exposes on `/metrics`, as atomics: the server counts each request on its
/// event loop without a lock, a `Task` or an actor hop (issue: serving at nginx speed).
public final class SidecarMetrics: Sendable {
    /// Request latency histogram: upper bounds in seconds (cumulative when rendered).
    public static let latencyBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
    /// The statuses counted one by one; any other is counted as its class (`2xx` … `5xx`).
    static let statuses = [200, 400, 403, 404, 405, 413, 429, 500, 502, 503, 504]

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
        func add(_ amount: Int = 1) { value.add(amount, ordering: .relaxed) }
        var current: Int { value.load(ordering: .relaxed) }
    }

    private let refreshCount = Counter()
    private let refreshFailureCount = Counter()
    private let generationCount = Counter()
    private let notificationCount = Counter()
    private let statusCounts = SidecarMetrics.statuses.map { _ in Counter() }
    private let otherStatusCounts = (0..<6).map { _ in Counter() }
    private let latencyBucketCounts = (0...SidecarMetrics.latencyBuckets.count).map { _ in Counter() }
    private let latencyNanoseconds = Counter()
    private let refusedCount = Counter()

    public init() {}

    public var refreshes: Int { refreshCount.current }
    public var refreshFailures: Int { refreshFailureCount.current }
    public var generations: Int { generationCount.current }
    public var notifications: Int { notificationCount.current }

    package func refreshed(failed: Bool) {
        refreshCount.add()
        if failed { refreshFailureCount.add() }
    }
    package func committed() { generationCount.add() }
    package func notified() { notificationCount.add() }
    /// A request refused (4xx): a bad token, a peer not allowed, an unknown secret, a bad request.
    package func refused() { refusedCount.add() }
    public var requestsRefused: Int { refusedCount.current }

    /// One request answered, with its status and the time it took.
    public func served(status: Int, seconds: Double) {
        if let index = Self.statuses.firstIndex(of: status) {
            statusCounts[index].add()
        } else {
            otherStatusCounts[min(max(status / 100, 0), 5)].add()
        }
        let bucket = Self.latencyBuckets.firstIndex { seconds <= $0 } ?? Self.latencyBuckets.count
        latencyBucketCounts[bucket].add()
        latencyNanoseconds.add(Int(seconds * 1e9))
    }

    /// Every request answered, whatever its status.
    public var requestsServed: Int { latencyBucketCounts.reduce(0) { $0 + $1.current } }

    /// Counts seconds; every 60th, the requests served and refused since the last minute.
    package final class MinuteCounter: Sendable {
        private struct State {
            var seconds = 0
            var served = 0
            var refused = 0
        }
        let metrics: SidecarMetrics
        private let state = Mutex(State())

        init(metrics: SidecarMetrics) { self.metrics = metrics }

        package func tick() -> (served: Int, refused: Int)? {
            let (served, refused) = (metrics.requestsServed, metrics.requestsRefused)
            return state.withLock { state in
                state.seconds += 1
                guard state.seconds % 60 == 0 else { return nil }
                defer { (state.served, state.refused) = (served, refused) }
                return (served - state.served, refused - state.refused)
            }
        }
    }

    package func minuteCounter() -> MinuteCounter { MinuteCounter(metrics: self) }

    /// Requests served by status (`"200"`, …, or a class like `"3xx"`), for `/metrics`.
    public var served: [(status: String, count: Int)] {
        zip(Self.statuses, statusCounts).map { ("\($0.0)", $0.1.current) }.filter { $0.count > 0 }
            + otherStatusCounts.enumerated().map { ("\($0.offset)xx", $0.element.current) }.filter { $0.count > 0 }
    }

    public var latencyCounts: [Int] { latencyBucketCounts.map(\.current) }
    public var latencySum: Double { Double(latencyNanoseconds.current) / 1e9 }
}
