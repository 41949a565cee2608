internal import CProcess
public import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Tells the application that its secrets changed (SPEC §6): runs `onChange.command` (argv, no
/// shell, 30 s, output logged, an environment with no secret in it) and/or sends the signal to
/// the pid in `pidFile`.
public struct ChangeNotifier: Sendable {
    public let settings: OnChangeSettings?
    public let outputDir: String
    public let timeoutSeconds: Int32
    let logger: Logger

    public init(settings: OnChangeSettings?, outputDir: String, timeoutSeconds: Int32 = 30, logger: Logger) {
        self.settings = settings
        self.outputDir = outputDir
        self.timeoutSeconds = timeoutSeconds
        self.logger = logger
    }

    /// Runs the command and sends the signal for one committed generation.
    public func notify(generation: String, changed aliases: [String]) async {
        guard let settings else { return }
        if let command = settings.command {
            // Only what the command needs to find the files: never the parent's environment, which
            // holds the credential endpoint's token.
            let environment = [
                "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "SECRETS_INJECTOR_OUTPUT_DIR": outputDir,
                "SECRETS_INJECTOR_GENERATION": generation, "SECRETS_INJECTOR_CHANGED": aliases.joined(separator: ","),
            ]
            let timeout = timeoutSeconds
            let result = await runOnOwnThread {
                ChildProcess.run(command, environment: environment, timeoutSeconds: timeout)
            }
            for line in result.output.split(separator: "\n").prefix(200) {
                logger.info("onChange output", metadata: ["line": "\(line)"])
            }
            switch result.status {
            case .exited(0): logger.info("onChange command ran", metadata: ["command": "\(command[0])"])
            case .exited(let code):
                logger.error("onChange command failed", metadata: ["command": "\(command[0])", "exitCode": "\(code)"])
            case .signalled(let signal):
                logger.error("onChange command killed", metadata: ["command": "\(command[0])", "signal": "\(signal)"])
            case .timedOut:
                logger.error(
                    "onChange command timed out and was killed",
                    metadata: ["command": "\(command[0])", "seconds": "\(timeout)"])
            case .couldNotStart(let code):
                logger.error(
                    "onChange command could not start",
                    metadata: ["command": "\(command[0])", "error": "\(String(cString: strerror(code)))"])
            }
        }
        if let pidFile = settings.signalPIDFile, let name = settings.signalName {
            sendSignal(name, toPIDIn: pidFile)
        }
    }

    func sendSignal(_ name: String, toPIDIn pidFile: String) {
        let signals: [String: Int32] = [
            "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "TERM": SIGTERM, "USR1": SIGUSR1, "USR2": SIGUSR2,
            "WINCH": SIGWINCH,
        ]
        guard let bytes = readFile(pidFile),
            let pid = Int32(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: " \t\r\n")), pid > 0
        else {
            logger.error("onChange signal not sent: no pid in the pid file", metadata: ["pidFile": "\(pidFile)"])
            return
        }
        if kill(pid, signals[name] ?? SIGHUP) == 0 {
            logger.info("onChange signal sent", metadata: ["signal": "SIG\(name)", "pid": "\(pid)"])
        } else {
            logger.error(
                "onChange signal failed",
                metadata: ["signal": "SIG\(name)", "pid": "\(pid)", "error": "\(String(cString: strerror(errno)))"])
        }
    }
}

/// A child process run to completion with its output captured (posix_spawn: FoundationEssentials
/// has no `Process`).
enum ChildProcess {
    enum Status: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        case timedOut
        case couldNotStart(Int32)
    }

    struct Result: Sendable {
        var status: Status
        var output: String
    }

    /// Blocks: call from a thread of its own.
    static func run(_ argv: [String], environment: [String: String], timeoutSeconds: Int32) -> Result {
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
        // Its own process group, so a timeout ends the command and everything it started.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        let arguments = argv.map { strdup($0) } + [nil]
        let variables = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            arguments.forEach { free($0) }
            variables.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, argv[0], &actions, &attributes, arguments, variables)
        close(pipeEnds[1])
        guard spawned == 0 else {
            close(pipeEnds[0])
            return Result(status: .couldNotStart(spawned), output: "")
        }

        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        deadline.tv_sec += Int(timeoutSeconds)
        var timedOut = false
        while true {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let remaining = Int32(
                max(0, (deadline.tv_sec - now.tv_sec) * 1000 + (deadline.tv_nsec - now.tv_nsec) / 1_000_000))
            if remaining == 0 {
                timedOut = true
                break
            }
            var poller = pollfd(fd: pipeEnds[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, remaining)
            if ready < 0, errno == EINTR { continue }
            if ready <= 0 { continue }
            let count = buffer.withUnsafeMutableBytes { read(pipeEnds[0], $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { break }
            if output.count < 65_536 { output += buffer[0..<count] }
        }
        close(pipeEnds[0])
        if timedOut { kill(-pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        if timedOut { return Result(status: .timedOut, output: String(decoding: output, as: UTF8.self)) }
        let signal = status & 0x7f
        let result: Status = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
        return Result(status: result, output: String(decoding: output, as: UTF8.self))
    }
}

/// Runs blocking work on a thread of its own, so Swift's cooperative pool never waits on it.
func runOnOwnThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let box = Unmanaged.passRetained(ThreadWork { continuation.resume(returning: work()) }).toOpaque()
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
}

private final class ThreadWork: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
