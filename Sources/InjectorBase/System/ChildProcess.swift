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
        /// What it wrote, as it wrote it (up to the run's `outputLimit`).
        public var bytes: [UInt8]
        /// More than `outputLimit` bytes came: `bytes` holds the first ones only.
        public var truncated = false
        /// `bytes` as UTF-8, any invalid sequence replaced.
        public var output: String { String(decoding: bytes, as: UTF8.self) }
    }

    /// Where the command's standard error goes.
    public enum ErrorOutput: Sendable {
        /// Into `output`, with standard output (a log of what it said).
        case captured
        /// To `/dev/null`: `output` is standard output alone (a document the caller parses).
        case discarded
        /// To this process's standard error: `output` is standard output alone, and what the command
        /// says reaches the operator as it said it.
        case inherited
    }

    /// Blocks until the command exits or its deadline passes (call from a thread of its own). The
    /// deadline holds whatever the command does with its output: its exit is polled, not waited
    /// for, and at the deadline its whole process group is killed. `started` gets the group's id.
    /// Output past `outputLimit` bytes is read and dropped (``Result/truncated``).
    public static func run(
        _ argv: [String], environment: [String: String], timeoutSeconds: Int, errorOutput: ErrorOutput = .captured,
        outputLimit: Int = 65_536, started: (Int32) -> Void = { _ in }
    ) -> Result {
        // Close-on-exec, so no other process started meanwhile holds the pipe open.
        var pipeEnds: [Int32] = [0, 0]
        guard cprocess_pipe_cloexec(&pipeEnds) == 0 else { return Result(status: .couldNotStart(errno), bytes: []) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        switch errorOutput {
        case .captured: posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)
        case .discarded: posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        case .inherited: break
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
            return Result(status: .couldNotStart(spawned), bytes: [])
        }
        started(pid)
        defer { close(pipeEnds[0]) }
        _ = fcntl(pipeEnds[0], F_SETFL, fcntl(pipeEnds[0], F_GETFL) | O_NONBLOCK)

        var output: [UInt8] = []
        var truncated = false
        var outputOpen = true
        func drain() {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while outputOpen {
                let count = buffer.withUnsafeMutableBytes { read(pipeEnds[0], $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                if count == 0 { outputOpen = false }
                guard count > 0 else { return }
                let room = max(0, outputLimit - output.count)
                output += buffer[0..<min(count, room)]
                if count > room { truncated = true }
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
        guard let status else {
            kill(-pid, SIGKILL)
            let killed = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < killed {
                if ChildReaper.exitStatus(of: pid) != nil {
                    return Result(status: .timedOut, bytes: output, truncated: truncated)
                }
                usleep(10_000)
            }
            return Result(status: .unkillable, bytes: output, truncated: truncated)
        }
        let signal = status & 0x7f
        return Result(
            status: signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal), bytes: output,
            truncated: truncated)
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
