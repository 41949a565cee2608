public import AWSCredentials
import FoundationEssentials
public import InjectorAgent
public import InjectorConfig
import InjectorJob
import InjectorRefresh
import InjectorSources
public import Logging
import ServiceLifecycle
public import UnixSignals

/// Drives the ``RefreshPolicy`` with the real clock: sleeps until the next refresh (woken
/// early by SIGHUP), and runs rounds through the ``Refresher``.
public actor RefreshScheduler: Service {
    let refresher: Refresher
    let clock: any WallClock
    let logger: Logger
    private var machine: RefreshPolicy
    private let maxStaleSeconds: Int?
    private var requested = false
    private var wakeup: CheckedContinuation<Void, Never>?
    private var sleeper: Task<Void, Never>?
    /// SIGHUP, trapped before the sidecar serves (so that none sent after `.ready` is lost); nil
    /// under `exec`, where SIGHUP is the app's.
    private let hangups: UnixSignalsSequence?

    public init(
        refresher: Refresher, settings: RefreshSettings, clock: any WallClock = SystemWallClock(), logger: Logger,
        hangups: UnixSignalsSequence? = nil
    ) {
        self.refresher = refresher
        self.hangups = hangups
        self.clock = clock
        self.logger = logger
        self.machine = RefreshPolicy(settings: .init(interval: TimeInterval(settings.intervalSeconds)))
        self.maxStaleSeconds = settings.maxStaleSeconds
    }

    /// Until graceful shutdown: refresh on schedule, and at once on each of `hangups`.
    public func run() async throws {
        let hangups = Task { [weak self, hangups] in
            guard let hangups else { return }
            for await _ in hangups {
                self?.logger.info("SIGHUP: refreshing now")
                await self?.requestRefresh()
            }
        }
        defer { hangups.cancel() }
        await cancelWhenGracefulShutdown { await self.loop() }
    }

    private func loop() async {
        var action = begin()
        while !Task.isCancelled {
            switch action {
            case .refresh:
                action = await runRound()
            case .sleep(let until):
                await sleep(until: until)
                if requested {
                    requested = false
                    action = machine.handle(.refreshRequested, now: clock.now())
                } else {
                    action = machine.handle(.timerFired, now: clock.now())
                }
            case .wait:
                action = .sleep(until: clock.now().addingTimeInterval(1))
            }
        }
    }

    /// The first generation is written: the clock starts.
    func begin() -> RefreshPolicy.Action { machine.handle(.started, now: clock.now()) }

    /// One round through the refresher, its outcome told to the state machine.
    func runRound() async -> RefreshPolicy.Action {
        do {
            let report = try await refresher.refresh()
            if !report.failedSecrets.isEmpty {
                logger.error(
                    "refresh round failed for required secrets; their last values stay",
                    metadata: [
                        "secrets": "\(report.failedSecrets.joined(separator: ","))",
                        "failures": "\(machine.consecutiveFailures + 1)",
                    ])
            }
            return machine.handle(.refreshed(report), now: clock.now())
        } catch {
            logger.error(
                "refresh failed; the last generation stays",
                metadata: ["error": "\(error)", "failures": "\(machine.consecutiveFailures + 1)"])
            return machine.handle(.refreshFailed, now: clock.now())
        }
    }

    /// Asks for a round now (coalesced with any already asked for).
    public func requestRefresh() {
        requested = true
        wake()
    }

    /// The health the state machine and the store see.
    public func health(store: SecretStore) async -> HealthReport {
        let now = clock.now()
        return HealthReport(
            ready: await store.ready, consecutiveFailures: machine.consecutiveFailures,
            secondsSinceLastRefresh: machine.staleness(now: now), generation: await store.generation,
            strategy: await store.strategy, deniedOperations: refresher.injector.source.deniedOperations,
            writeFailure: await store.writeFailure, servingRegion: refresher.injector.source.servingRegion,
            notifierProblem: refresher.notifier.problem,
            secrets: await store.statuses(), maxStaleSeconds: maxStaleSeconds, now: now)
    }

    private func sleep(until deadline: Date) async {
        let seconds = deadline.timeIntervalSince(clock.now())
        guard seconds > 0, !requested else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                wakeup = continuation
                sleeper = Task { [weak self] in
                    try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                    await self?.wake()
                }
            }
        } onCancel: {
            Task { await self.wake() }
        }
    }

    private func wake() {
        sleeper?.cancel()
        sleeper = nil
        if let wakeup {
            self.wakeup = nil
            wakeup.resume()
        }
    }
}
