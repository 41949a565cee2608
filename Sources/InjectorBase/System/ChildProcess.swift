internal import CProcess
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A child process run to completion with its output captured (posix_spawn: FoundationEssentials
/// has no `Process`), in a process group of its own, every signal at its default action.
public enum ChildProcess {
    public enum Status: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        /// Killed with its whole group at the deadline.
        case timedOut
        /// Still not gone 5 s after SIGKILL (a process stuck in the kernel).
        case unkillable
        case couldNotStart(Int32)
    }

    public struct Result: Sendable {
        public var status: Status
        public var output: String
    }

    /// Where the command's standard error goes.
    public enum ErrorOutput: Sendable {
        /// Into `output`, with standard output (a log of what it said).
        case captured
        /// To `/dev/null`: `output` is standard output alone (a document the caller parses).
        case discarded
    }

    /// Blocks until the command exits or its deadline passes (call from a thread of its own). The
    /// deadline holds whatever the command does with its output: its exit is polled, not waited
    /// for, and at the deadline its whole process group is killed. `started` gets the group's id.
    public static func run(
        _ argv: [String], environment: [String: String], timeoutSeconds: Int, errorOutput: ErrorOutput = .captured,
        started: (Int32) -> Void = { _ in }
    ) -> Result {
        // Close-on-exec, so no other process started meanwhile holds the pipe open.
        var pipeEnds: [Int32] = [0, 0]
        guard cprocess_pipe_cloexec(&pipeEnds) == 0 else { return Result(status: .couldNotStart(errno), output: "") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        if errorOutput == .captured {
            posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
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

/// The children ``ChildProcess`` starts, and the orphans nobody waits for. A tracked
/// child is reaped by its owner, by its own pid; ``reapOrphans()`` reaps every other exited child
/// (one reparented to us as PID 1 or as a subreaper) without touching a tracked one, so no zombie
/// piles up and no exit status is lost.
public enum ChildReaper {
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
    public static func exitStatus(of pid: Int32) -> Int32? {
        var status: Int32 = 0
        var result = waitpid(pid, &status, WNOHANG)
        while result < 0, errno == EINTR { result = waitpid(pid, &status, WNOHANG) }
        guard result == pid || (result < 0 && errno == ECHILD) else { return nil }
        _ = tracked.withLock { $0.remove(pid) }
        return result == pid ? status : 0
    }

    /// Reaps every exited child that is not tracked.
    public static func reapOrphans() {
        tracked.withLock { tracked in
            while true {
                let pid = cprocess_exited_child()
                guard pid > 0, !tracked.contains(pid) else { return }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0, errno == EINTR {}
            }
        }
    }

    /// Makes this process the reaper of its descendants' orphans (`PR_SET_CHILD_SUBREAPER`);
    /// false with `errno` set when the kernel refuses.
    public static func becomeSubreaper() -> Bool { cprocess_become_subreaper() == 0 }
}

/// Runs blocking work on a thread of its own, so Swift's cooperative pool never waits on it.
public func runOnOwnThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        startThread { continuation.resume(returning: work()) }
    }
}

/// Starts `work` on a detached thread of its own (or runs it here when no thread can be made).
public func startThread(_ work: @escaping @Sendable () -> Void) {
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
