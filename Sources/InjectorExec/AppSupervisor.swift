import InjectorBase
import InjectorConfig
import InjectorJob
import InjectorOutputs
import InjectorSidecar
import Logging
import SecretsManager
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The app `exec` supervises, as one service of `run`'s group: started once the first generation
/// is committed, in a process group of its own that every signal is forwarded to, stopped
/// (`restartSignal`, then SIGKILL after `stopTimeoutSeconds`) and started again when a committed
/// generation changes its environment, once the change has settled and a random splay has passed.
/// It sleeps in poll(2) on a pipe that SIGCHLD, forwarded stops and new environments write to.
final class AppSupervisor: SupervisedApp, Sendable {
    let command: [String]
    let settings: ExecSettings
    let logger: Logger
    /// This process's environment, read once.
    let inherited: [[UInt8]]
    /// A number in 0..<1 for the splay.
    let random: @Sendable () -> Double

    private struct State {
        /// The environment the app would get now, and the one it was started with.
        var latest: [[UInt8]] = []
        var running: [[UInt8]]?
        /// When the pending change is acted on: settled, then the splay drawn for it.
        var actAt: ContinuousClock.Instant?
        var splay: Duration?
        /// The group is stopping (another service ended, or it was cancelled).
        var stopRequested = false
        /// The app's exit status once `exec` ends with it.
        var status: Int32?
    }
    private let state = Mutex(State())

    init(
        command: [String], settings: ExecSettings, logger: Logger,
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.command = command
        self.settings = settings
        self.logger = logger
        self.inherited = AppProcess.inheritedEnvironment
        self.random = random
    }

    /// The environment the app would get now.
    var latestEnvironment: [[UInt8]] { state.withLock { $0.latest } }

    /// The status `exec` ends with: the app's (or 126/127 when it could not start).
    var exitStatus: Int32? { state.withLock { $0.status } }

    func valuesCommitted(
        injector: Injector, files: [OutputFile], results: [SecretRequest: Result<SecretValue, AWSCallError>]
    ) throws(InjectorFailure) {
        let variables = try injector.environmentVariables(files: files, results: results)
        if let variable = variables.first(where: { $0.value.contains(0) }) {
            throw InjectorFailure(problems: [
                Problem(
                    message:
                        "env \(variable.name): the value holds a NUL byte, which an environment variable cannot hold",
                    exitStatus: .notFoundOrDenied)
            ])
        }
        let environment = AppEnvironment(inherited: inherited, drop: settings.dropEnvironment, configured: variables)
        let now = ContinuousClock.now
        let scheduled: Duration? = state.withLock { state in
            state.latest = environment.entries
            guard let running = state.running else { return nil }  // the first: the app starts with it
            guard running != environment.entries, settings.restart != .none else {
                state.actAt = nil
                state.splay = nil
                return nil
            }
            // Each change restarts the settle time; the splay is drawn once for the pending change.
            let splay = state.splay ?? .milliseconds(Int(random() * Double(settings.splaySeconds) * 1000))
            state.splay = splay
            state.actAt = now + .seconds(settings.settleSeconds) + splay
            return .seconds(settings.settleSeconds) + splay
        }
        if state.withLock({ $0.running == nil }), !environment.overridden.isEmpty {
            logger.info(
                "configured variables replace the inherited ones of the same name",
                metadata: ["names": "\(environment.overridden.joined(separator: ","))"])
        }
        if let scheduled {
            logger.info(
                "the app's environment changed",
                metadata: ["action": "\(action)", "inSeconds": "\(Double(scheduled.milliseconds) / 1000)"])
            AppProcess.wakeWatcher()
        } else if state.withLock({ $0.running != nil && $0.running != environment.entries }) {
            logger.info("the app's environment changed; exec.restart is none: the app keeps its environment")
        }
    }

    private var action: String {
        switch settings.restart {
        case .restart: "restart"
        case .signal(let name): "signal SIG\(name)"
        case .none: "none"
        }
    }

    func run() async throws {
        let status = await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await runOnOwnThread { self.supervise() }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
        state.withLock { $0.status = status }
    }

    /// The group is stopping: the app is stopped as a forwarded SIGTERM would stop it.
    func stop() {
        state.withLock { $0.stopRequested = true }
        AppProcess.wakeWatcher()
    }

    /// Blocks (a thread of its own) until the app exits on its own or is stopped; returns its
    /// status as a shell gives it (its code, or 128 + the signal).
    private func supervise() -> Int32 {
        if !ChildReaper.becomeSubreaper() {
            logger.warning(
                "cannot become a child subreaper; the app's orphans are reaped only as PID 1",
                metadata: ["error": "\(String(cString: strerror(errno)))"])
        }
        let watcher = AppProcess.watchChildren()
        AppProcess.holdSignals()
        var pid: Int32
        switch start() {
        case .success(let started): pid = started
        case .failure(let error): return Exec.cannotStart(command[0], error)
        }
        var stopKillAt: ContinuousClock.Instant?
        var stopKilled = false
        /// The app was sent `restartSignal`, and is killed at this time if it has not exited.
        var restarting: (killAt: ContinuousClock.Instant, killed: Bool)?
        while true {
            if let status = ChildReaper.exitStatus(of: pid) {
                ChildReaper.reapOrphans()
                let stopping = AppProcess.forwardedStops > 0 || state.withLock { $0.stopRequested }
                if restarting != nil, !stopping {
                    logger.info(
                        "the app stopped for its restart", metadata: ["status": "\(AppProcess.shellStatus(status))"])
                    switch start() {
                    case .success(let started): pid = started
                    case .failure(let error): return Exec.cannotStart(command[0], error)
                    }
                    restarting = nil
                    continue
                }
                let code = AppProcess.shellStatus(status)
                logger.info("the app exited", metadata: ["status": "\(code)"])
                return code
            }
            ChildReaper.reapOrphans()
            let now = ContinuousClock.now
            let (stopRequested, actAt) = state.withLock { ($0.stopRequested, $0.actAt) }
            if stopKillAt == nil, AppProcess.forwardedStops > 0 || stopRequested {
                if AppProcess.forwardedStops == 0 {
                    logger.info("stopping the app: the injector stops")
                    kill(-pid, SIGTERM)
                }
                stopKillAt = now + .seconds(settings.stopTimeoutSeconds)
            }
            if let stopKillAt, !stopKilled, now >= stopKillAt {
                logger.warning(
                    "the app is still running after the stop timeout: killing its process group",
                    metadata: ["stopTimeoutSeconds": "\(settings.stopTimeoutSeconds)"])
                kill(-pid, SIGKILL)
                stopKilled = true
            }
            if stopKillAt == nil, restarting == nil, let actAt, now >= actAt {
                restarting = act(on: pid, now: now)
            }
            if let current = restarting, !current.killed, now >= current.killAt {
                logger.warning(
                    "the app is still running after the stop timeout: killing its process group for the restart",
                    metadata: ["stopTimeoutSeconds": "\(settings.stopTimeoutSeconds)"])
                kill(-pid, SIGKILL)
                restarting?.killed = true
            }
            var deadlines: [ContinuousClock.Instant] = []
            if let stopKillAt, !stopKilled { deadlines.append(stopKillAt) }
            if let current = restarting, !current.killed { deadlines.append(current.killAt) }
            if stopKillAt == nil, restarting == nil, let actAt { deadlines.append(actAt) }
            // A wake at least every second, whatever happens to the pipe.
            let wait = min(deadlines.min().map { $0 - .now } ?? .seconds(1), .seconds(1))
            AppProcess.waitOnWatcher(watcher, milliseconds: Int32(max(0, wait.milliseconds)) + (wait > .zero ? 1 : 0))
        }
    }

    /// The pending change's time has come: the restart begins (the stop signal sent, signals held for
    /// the next app) and its kill time is returned, or the configured signal is sent.
    private func act(on pid: Int32, now: ContinuousClock.Instant) -> (killAt: ContinuousClock.Instant, killed: Bool)? {
        state.withLock { state in
            state.actAt = nil
            state.splay = nil
            if case .signal = settings.restart { state.running = state.latest }
        }
        switch settings.restart {
        case .restart:
            AppProcess.holdSignalsForNextApp()
            logger.info(
                "restarting the app with its new environment",
                metadata: ["signal": "SIG\(settings.restartSignal)", "pid": "\(pid)"])
            kill(-pid, Signals.number(settings.restartSignal) ?? SIGTERM)
            return (now + .seconds(settings.stopTimeoutSeconds), false)
        case .signal(let name):
            logger.info("telling the app its secrets changed", metadata: ["signal": "SIG\(name)", "pid": "\(pid)"])
            kill(-pid, Signals.number(name) ?? SIGHUP)
            return nil
        case .none:
            return nil
        }
    }

    /// Starts the app with the latest environment, and sends its group the signals held meanwhile.
    private func start() -> Result<Int32, AppProcess.StartError> {
        let environment = state.withLock { state in
            state.running = state.latest
            state.actAt = nil
            state.splay = nil
            return state.latest
        }
        let started = AppProcess.start(command, environment: environment, user: settings.user)
        if case .success(let pid) = started {
            AppProcess.forwardSignals(to: pid)
            logger.info("started the app", metadata: ["program": "\(command[0])", "pid": "\(pid)"])
        }
        return started
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    fileprivate var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
