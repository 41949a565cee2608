import AWSCredentials
import FoundationEssentials
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A deterministic discrete-event world for Swift concurrency: virtual time, and one serial
/// executor that every simulated task prefers (child tasks and default actors inherit it).
///
/// ``run(until:)`` runs every job that is ready; when none is, it moves the clock to the earliest
/// timer and resumes whoever set it. Nothing runs on another thread, so the same seed gives the
/// same events in the same order, however the machine schedules threads.
public final class Simulation: TaskExecutor, @unchecked Sendable {
    /// Seconds since the simulation began.
    public private(set) var now: Double = 0
    /// The wall-clock date that `now == 0` stands for.
    public let epoch: Date
    private let jobs = Mutex<[UnownedJob]>([])
    private var timers = TimerHeap()
    private var sequence = 0
    private let driver = pthread_self()
    /// Jobs enqueued from a thread other than the one running the simulation: each one is work
    /// that escaped to another executor, which would make the results depend on thread timing.
    private let escaped = Mutex(0)
    public var escapedJobs: Int { escaped.withLock { $0 } }

    public init(epoch: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        self.epoch = epoch
    }

    public func enqueue(_ job: UnownedJob) {
        if pthread_equal(pthread_self(), driver) == 0 { escaped.withLock { $0 += 1 } }
        jobs.withLock { $0.append(job) }
    }

    /// Starts `operation` as a task of the simulation.
    public func spawn(_ operation: @escaping @Sendable () async -> Void) {
        Task(executorPreference: self) { await operation() }
    }

    /// Suspends the calling task for `seconds` of simulated time.
    public func sleep(_ seconds: Double) async {
        await withCheckedContinuation { continuation in
            sequence += 1
            timers.insert(Timer(time: now + max(0, seconds), sequence: sequence, continuation: continuation))
        }
    }

    public func sleep(until time: Double) async { await sleep(time - now) }

    /// Runs the simulation until no job is ready and the next timer lies beyond `end` (or none is
    /// left). Tasks still sleeping then stay suspended.
    public func run(until end: Double) {
        while true {
            while let batch = takeJobs() {
                for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
            }
            guard let first = timers.first, first.time <= end else { return }
            now = first.time
            // Every timer due now, in the order they were set.
            while let timer = timers.first, timer.time <= now {
                timers.removeFirst()
                timer.continuation.resume()
            }
        }
    }

    private func takeJobs() -> [UnownedJob]? {
        jobs.withLock { jobs in
            guard !jobs.isEmpty else { return nil }
            defer { jobs.removeAll(keepingCapacity: true) }
            return jobs
        }
    }

    /// The simulation's time as a ``WallClock``, for the production code that reads the clock.
    public var clock: any WallClock { SimulatedClock(simulation: self) }
}

struct SimulatedClock: WallClock {
    let simulation: Simulation
    func now() -> Date { simulation.epoch.addingTimeInterval(simulation.now) }
}

struct Timer {
    let time: Double
    let sequence: Int
    let continuation: CheckedContinuation<Void, Never>

    func precedes(_ other: Timer) -> Bool { (time, sequence) < (other.time, other.sequence) }
}

/// A binary min-heap of timers by (time, order set).
struct TimerHeap {
    private var items: [Timer] = []

    var first: Timer? { items.first }

    mutating func insert(_ timer: Timer) {
        items.append(timer)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].precedes(items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func removeFirst() {
        items.swapAt(0, items.count - 1)
        items.removeLast()
        var parent = 0
        while true {
            let (left, right) = (2 * parent + 1, 2 * parent + 2)
            var smallest = parent
            if left < items.count, items[left].precedes(items[smallest]) { smallest = left }
            if right < items.count, items[right].precedes(items[smallest]) { smallest = right }
            guard smallest != parent else { return }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

/// SplitMix64: a small, seedable source of numbers in 0..<1, one per simulated task.
public final class SeededRandom: @unchecked Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53)
    }
}
