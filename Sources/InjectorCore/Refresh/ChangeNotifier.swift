internal import CProcess
import HTTPTransport
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

/// The signals `onChange.signal.name` may name.
enum Signals {
    static let byName: [(name: String, number: Int32)] = [
        ("HUP", SIGHUP), ("INT", SIGINT), ("QUIT", SIGQUIT), ("TERM", SIGTERM), ("USR1", SIGUSR1), ("USR2", SIGUSR2),
        ("WINCH", SIGWINCH),
    ]
    static var names: [String] { byName.map(\.name) }
    static func number(_ name: String) -> Int32? { byName.first { $0.name == name }?.number }
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

/// A child process run to completion with its output captured (posix_spawn: FoundationEssentials
/// has no `Process`), in a process group of its own, every signal at its default action.
enum ChildProcess {
    enum Status: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        /// Killed with its whole group at the deadline.
        case timedOut
        /// Still not gone 5 s after SIGKILL (a process stuck in the kernel).
        case unkillable
        case couldNotStart(Int32)
    }

    struct Result: Sendable {
        var status: Status
        var output: String
    }

    /// Blocks until the command exits or its deadline passes (call from a thread of its own). The
    /// deadline holds whatever the command does with its output: its exit is polled, not waited
    /// for, and at the deadline its whole process group is killed. `started` gets the group's id.
    static func run(
        _ argv: [String], environment: [String: String], timeoutSeconds: Int, started: (pid_t) -> Void = { _ in }
    ) -> Result {
        // Close-on-exec, so no other process started meanwhile holds the pipe open.
        var pipeEnds: [Int32] = [0, 0]
        guard cprocess_pipe_cloexec(&pipeEnds) == 0 else { return Result(status: .couldNotStart(errno), output: "") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)
        // Nothing else of ours (sockets, files) reaches the command.
        cprocess_spawn_close_from(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        cprocess_spawn_clean_attributes(&attributes)

        let arguments = argv.map { strdup($0) } + [nil]
        let variables = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            arguments.forEach { free($0) }
            variables.forEach { free($0) }
        }
        let (spawned, pid) = ChildReaper.spawn { pid in
            posix_spawnp(&pid, argv[0], &actions, &attributes, arguments, variables)
        }
        close(pipeEnds[1])
        guard spawned == 0 else {
            close(pipeEnds[0])
            return Result(status: .couldNotStart(spawned), output: "")
        }
        started(pid)
        defer { close(pipeEnds[0]) }
        _ = fcntl(pipeEnds[0], F_SETFL, fcntl(pipeEnds[0], F_GETFL) | O_NONBLOCK)

        var output: [UInt8] = []
        var outputOpen = true
        func drain() {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while outputOpen {
                let count = buffer.withUnsafeMutableBytes { read(pipeEnds[0], $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                if count == 0 { outputOpen = false }
                guard count > 0 else { return }
                if output.count < 65_536 { output += buffer[0..<count] }
            }
        }
        let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
        var status: Int32?
        while status == nil {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { break }
            let wait = Int32(
                min(
                    50,
                    max(
                        1,
                        remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000))
            )
            if outputOpen {
                var poller = pollfd(fd: pipeEnds[0], events: Int16(POLLIN), revents: 0)
                if poll(&poller, 1, wait) > 0 { drain() }
            } else {
                usleep(UInt32(min(wait, 20)) * 1000)
            }
            status = ChildReaper.exitStatus(of: pid)
        }
        drain()
        let text = String(decoding: output, as: UTF8.self)
        guard let status else {
            kill(-pid, SIGKILL)
            let killed = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < killed {
                if ChildReaper.exitStatus(of: pid) != nil { return Result(status: .timedOut, output: text) }
                usleep(10_000)
            }
            return Result(status: .unkillable, output: text)
        }
        let signal = status & 0x7f
        return Result(status: signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal), output: text)
    }
}

/// The children ``ChildProcess`` starts, and the orphans nobody waits for (issue 17). A tracked
/// child is reaped by its owner, by its own pid; ``reapOrphans()`` reaps every other exited child
/// (one reparented to us as PID 1 or as a subreaper) without touching a tracked one, so no zombie
/// piles up and no exit status is lost.
enum ChildReaper {
    private static let tracked = Mutex<Set<pid_t>>([])

    /// Runs `spawn` (which sets the pid and returns 0) under the lock, so no sweep reaps the child
    /// before it is tracked.
    static func spawn(_ spawn: (inout pid_t) -> Int32) -> (result: Int32, pid: pid_t) {
        tracked.withLock { tracked in
            var pid: pid_t = 0
            let result = spawn(&pid)
            if result == 0 { tracked.insert(pid) }
            return (result, pid)
        }
    }

    /// The wait status of a tracked child once it exited (then it is forgotten); nil while it runs.
    static func exitStatus(of pid: pid_t) -> Int32? {
        var status: Int32 = 0
        var result = waitpid(pid, &status, WNOHANG)
        while result < 0, errno == EINTR { result = waitpid(pid, &status, WNOHANG) }
        guard result == pid || (result < 0 && errno == ECHILD) else { return nil }
        _ = tracked.withLock { $0.remove(pid) }
        return result == pid ? status : 0
    }

    /// Reaps every exited child that is not tracked.
    static func reapOrphans() {
        tracked.withLock { tracked in
            while true {
                let pid = cprocess_exited_child()
                guard pid > 0, !tracked.contains(pid) else { return }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0, errno == EINTR {}
            }
        }
    }
}

/// The sidecar as a reaper (issue 17): a child subreaper, so that what `onChange` commands leave
/// behind is ours to reap even when we are not PID 1, and a sweep every second.
struct OrphanReaper: Service {
    let logger: Logger

    func run() async throws {
        if cprocess_become_subreaper() != 0 {
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

/// Runs blocking work on a thread of its own, so Swift's cooperative pool never waits on it.
func runOnOwnThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        startThread { continuation.resume(returning: work()) }
    }
}

/// Starts `work` on a detached thread of its own (or runs it here when no thread can be made).
func startThread(_ work: @escaping @Sendable () -> Void) {
    let box = Unmanaged.passRetained(ThreadWork(work)).toOpaque()
    var thread = pthread_t()
    let started = pthread_create(
        &thread, nil,
        { context in
            Unmanaged<ThreadWork>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, box)
    if started == 0 {
        pthread_detach(thread)
    } else {
        Unmanaged<ThreadWork>.fromOpaque(box).takeRetainedValue().run()
    }
}

private final class ThreadWork: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
