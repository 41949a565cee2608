import InjectorBase
public import InjectorConfig
public import InjectorTelemetry
public import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Tells the application that its secrets changed: runs `onChange.command` (argv, no
/// shell, `onChange.timeoutSeconds`, output logged, an environment with no secret in it) and/or
/// sends the signal to the pid in `pidFile`.
///
/// Telling happens on a thread of its own, outside the refresh round: ``notify(generation:changed:)``
/// returns at once, one notification runs at a time, and changes committed meanwhile are told
/// together when it ends. A command that cannot finish (killed at its deadline, or unable to
/// start) is the ``problem`` `/health` reports as `degraded` until one finishes.
public final class ChangeNotifier: Sendable {
    public let settings: OnChangeSettings?
    public let outputDir: String
    let logger: Logger
    let metrics: SidecarMetrics?

    private struct State {
        var pending: (generation: String, changed: Set<String>)?
        var running = false
        var problem: String?
        /// The process group of the command running now.
        var group: pid_t?
    }

    private let state = Mutex(State())

    public init(settings: OnChangeSettings?, outputDir: String, logger: Logger, metrics: SidecarMetrics? = nil) {
        self.settings = settings
        self.outputDir = outputDir
        self.logger = logger
        self.metrics = metrics
    }

    /// Asks for the application to be told of `generation`, and returns at once.
    public func notify(generation: String, changed aliases: [String]) {
        guard settings != nil else { return }
        let start = state.withLock { state in
            state.pending = (generation, (state.pending?.changed ?? []).union(aliases))
            defer { state.running = true }
            return !state.running
        }
        guard start else { return }
        startThread { [self] in
            while let next = state.withLock({ state in
                defer { state.pending = nil }
                if state.pending == nil { state.running = false }
                return state.pending
            }) {
                tell(generation: next.generation, changed: next.changed.sorted())
            }
        }
    }

    /// Tells the application of `generation` now, and returns when it was told (tests).
    public func notifyAndWait(generation: String, changed aliases: [String]) async {
        await runOnOwnThread { [self] in tell(generation: generation, changed: aliases) }
    }

    /// Why the last notification could not finish, if it could not.
    public var problem: String? { state.withLock { $0.problem } }

    /// Kills the command running now, with everything it started: the sidecar is stopping.
    public func stop() {
        if let group = state.withLock({ $0.group }) { kill(-group, SIGKILL) }
    }

    /// Blocks: runs the command and sends the signal for one committed generation.
    private func tell(generation: String, changed aliases: [String]) {
        guard let settings else { return }
        metrics?.notified()
        if let command = settings.command {
            // Only what the command needs to find the files: never the parent's environment, which
            // holds the credential endpoint's token.
            let environment = [
                "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "SECRETS_INJECTOR_OUTPUT_DIR": outputDir,
                "SECRETS_INJECTOR_GENERATION": generation, "SECRETS_INJECTOR_CHANGED": aliases.joined(separator: ","),
            ]
            let timeout = settings.timeoutSeconds
            let result = ChildProcess.run(command, environment: environment, timeoutSeconds: timeout) { group in
                state.withLock { $0.group = group }
            }
            for line in result.output.split(separator: "\n").prefix(200) {
                logger.info("onChange output", metadata: ["line": "\(line)"])
            }
            let program = "\(command[0])"
            var problem: String?
            switch result.status {
            case .exited(0): logger.info("onChange command ran", metadata: ["command": "\(program)"])
            case .exited(let code):
                logger.error("onChange command failed", metadata: ["command": "\(program)", "exitCode": "\(code)"])
            case .signalled(let signal):
                logger.error("onChange command killed", metadata: ["command": "\(program)", "signal": "\(signal)"])
            case .timedOut:
                problem =
                    "onChange command \(program) did not finish in \(timeout) s and was killed with its process group"
                logger.error(
                    "onChange command timed out and was killed",
                    metadata: ["command": "\(program)", "seconds": "\(timeout)"]
                )
            case .unkillable:
                problem = "onChange command \(program) did not finish in \(timeout) s and could not be killed"
                logger.critical("onChange command could not be killed", metadata: ["command": "\(program)"])
            case .couldNotStart(let code):
                problem = "onChange command \(program) could not start: \(String(cString: strerror(code)))"
                logger.error(
                    "onChange command could not start",
                    metadata: ["command": "\(program)", "error": "\(String(cString: strerror(code)))"])
            }
            state.withLock {
                $0.group = nil
                $0.problem = problem
            }
        }
        if let pidFile = settings.signalPIDFile, let name = settings.signalName {
            sendSignal(name, toPIDIn: pidFile, appUID: settings.signalUID)
        }
    }

    /// Sends the signal to the pid `pidFile` holds, when the file and the pid pass ``PIDFile``.
    func sendSignal(_ name: String, toPIDIn pidFile: String, appUID: UInt32?) {
        let pid: pid_t
        do {
            pid = try PIDFile.read(pidFile, appUID: appUID)
        } catch {
            logger.warning(
                "onChange signal not sent", metadata: ["signal": "SIG\(name)", "reason": "\(error.reason)"])
            return
        }
        if kill(pid, Signals.number(name) ?? SIGHUP) == 0 {
            logger.info("onChange signal sent", metadata: ["signal": "SIG\(name)", "pid": "\(pid)"])
        } else {
            logger.error(
                "onChange signal failed",
                metadata: ["signal": "SIG\(name)", "pid": "\(pid)", "error": "\(String(cString: strerror(errno)))"])
        }
    }
}
