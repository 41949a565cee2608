import InjectorBase
public import InjectorConfig
public import InjectorTelemetry
public import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Tells the application that its secrets changed (SPEC §6): runs `onChange.command` (argv, no
/// shell, `onChange.timeoutSeconds`, output logged, an environment with no secret in it) and/or
/// sends the signal to the pid in `pidFile`.
///
/// Telling happens on a thread of its own, outside the refresh round (issue 17): ``notify(generation:changed:)``
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

/// The application's pid file, read as a file someone else may control (issue 17): a regular file
/// of at most 32 bytes, reached through no link and never waited on, owned by root, the injector's
/// uid or the application's; the pid in it is not 1 and not ours, and when the application's uid
/// is configured (`onChange.signal.uid`), `/proc/PID` must show that uid.
enum PIDFile {
    static let limit = 32

    struct Refusal: Error, Equatable {
        var reason: String
    }

    static func read(_ path: String, appUID: UInt32?) throws(Refusal) -> pid_t {
        let contents: SmallFile.Contents
        do {
            contents = try SmallFile.read(path, limit: limit)
        } catch {
            throw Refusal(reason: "the pid file \(error.description)")
        }
        let owners: Set<UInt32> = Set([0, geteuid()] + (appUID.map { [$0] } ?? []))
        guard owners.contains(contents.ownerUID) else {
            throw Refusal(
                reason:
                    "the pid file \(path) is owned by uid \(contents.ownerUID), not by root, the injector or onChange.signal.uid"
            )
        }
        guard let pid = parse(contents.bytes) else { throw Refusal(reason: "the pid file \(path) holds no pid") }
        guard pid != 1, pid != getpid() else {
            throw Refusal(
                reason: "the pid file \(path) names pid \(pid), which is \(pid == 1 ? "init" : "the injector")")
        }
        if let appUID {
            guard let uid = realUID(of: pid) else { throw Refusal(reason: "no process \(pid) (from \(path))") }
            guard uid == appUID else {
                throw Refusal(
                    reason: "process \(pid) (from \(path)) runs as uid \(uid), not the application's uid \(appUID)")
            }
        }
        return pid
    }

    /// A positive decimal pid, with blanks and line ends around it.
    static func parse(_ bytes: [UInt8]) -> pid_t? {
        let text = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \t\r\n")
        guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let pid = pid_t(text), pid > 0
        else { return nil }
        return pid
    }

    /// The real uid `/proc/PID/status` shows.
    static func realUID(of pid: pid_t) -> UInt32? {
        guard let status = try? SmallFile.read("/proc/\(pid)/status", limit: 16_384) else { return nil }
        let text = String(decoding: status.bytes, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { return nil }
        return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { UInt32($0) }
    }
}

/// The sidecar as a reaper (issue 17): a child subreaper, so that what `onChange` commands leave
/// behind is ours to reap even when we are not PID 1, and a sweep every second.
struct OrphanReaper: Service {
    let logger: Logger

    func run() async throws {
        if !ChildReaper.becomeSubreaper() {
            logger.warning(
                "cannot become a child subreaper; orphans of onChange commands are reaped only as PID 1",
                metadata: ["error": "\(String(cString: strerror(errno)))"])
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                ChildReaper.reapOrphans()
            }
        }
    }
}
