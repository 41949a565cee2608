internal import CProcess

#if canImport(Glibc)
    import Glibc
#endif

/// The app `exec` runs: in this process's place, or as the one child it supervises, in a process
/// group of its own that every signal is forwarded to. Its environment is given as raw
/// `NAME=value` bytes, and goes only into its `envp`: never into this process's environment.
public enum AppProcess {
    /// This process's environment as it is, bytes and order kept (`environ`).
    public static var inheritedEnvironment: [[UInt8]] {
        var entries: [[UInt8]] = []
        let start: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = environ
        guard var cursor = start else { return entries }
        while let entry = cursor.pointee {
            entries.append(Array(UnsafeRawBufferPointer(start: entry, count: strlen(entry))))
            cursor += 1
        }
        return entries
    }

    /// Runs `argv` (`argv[0]` looked up on `PATH` as execvp does) in this process's place, same pid.
    /// As `user` (uid, gid; no supplementary group) when given. Returns only when it cannot, with why.
    public static func replaceProcess(_ argv: [String], environment: [[UInt8]], user: (uid: UInt32, gid: UInt32)?)
        -> StartError
    {
        withCStrings(argv, environment) { arguments, variables in
            _ = cprocess_exec_path(
                argv[0], arguments, variables, user == nil ? 0 : 1, user?.uid ?? 0, user?.gid ?? 0)
            return StartError(errno: errno)
        }
    }

    /// Starts `argv` (PATH lookup as execvp) as a child in a process group of its own (its pid is
    /// the group's id), every signal at its default action, standard streams shared, no other
    /// descriptor of ours. As `user` (uid, gid) when given: fork and exec in a small C helper,
    /// because posix_spawn cannot change ids. The child is tracked (``ChildReaper``): reap it with
    /// ``ChildReaper/exitStatus(of:)``; ``ChildReaper/reapOrphans()`` leaves it alone.
    public static func start(_ argv: [String], environment: [[UInt8]], user: (uid: UInt32, gid: UInt32)?) -> Result<
        Int32, StartError
    > {
        let (result, pid) = withCStrings(argv, environment) { arguments, variables in
            ChildReaper.spawn { pid in
                if let user {
                    var child: Int32 = 0
                    let result = cprocess_spawn_as(&child, argv[0], arguments, variables, user.uid, user.gid)
                    pid = child
                    return result
                }
                var actions = posix_spawn_file_actions_t()
                posix_spawn_file_actions_init(&actions)
                defer { posix_spawn_file_actions_destroy(&actions) }
                cprocess_spawn_close_from(&actions, 3)
                var attributes = posix_spawnattr_t()
                posix_spawnattr_init(&attributes)
                defer { posix_spawnattr_destroy(&attributes) }
                cprocess_spawn_clean_attributes(&attributes)
                let result = posix_spawnp(&pid, argv[0], &actions, &attributes, arguments, variables)
                // The core limit this process set aside for itself, given back (the app may not have
                // run a line yet; it has not dumped core either).
                if result == 0 { _ = cprocess_restore_core_limit(pid) }
                return result
            }
        }
        return result == 0 ? .success(pid) : .failure(StartError(errno: result))
    }

    /// Why the app did not start; its exit status is the shell's: 127 not found, 126 not runnable.
    public struct StartError: Error, Sendable {
        public var errno: Int32
        public var exitCode: Int32 { errno == ENOENT ? 127 : 126 }
        public var reason: String { String(cString: strerror(errno)) }
    }

    /// From now on every signal this process gets is held for the app, but SIGCHLD, SIGPIPE and the
    /// faults a program raises itself (SIGKILL and SIGSTOP cannot be caught): call before
    /// ``start(_:environment:user:)``, so that no signal in between ends this process and leaves
    /// the app behind. The calling thread unblocks every signal, so one thread at least takes each.
    public static func holdSignals() { _ = cprocess_forward_signals(0) }

    /// Sends the held signals, and every later one, to the group `group`.
    public static func forwardSignals(to group: Int32) { _ = cprocess_forward_signals_to(group) }

    /// Holds every signal (once each) from now until ``forwardSignals(to:)`` names the next group:
    /// the app is being restarted.
    public static func holdSignalsForNextApp() { _ = cprocess_forward_signals_to(0) }

    /// A descriptor that becomes readable on every SIGCHLD, every forwarded SIGTERM or SIGINT, and
    /// every ``wakeWatcher()``: the supervisor sleeps in poll(2) on it. Read it empty
    /// (``drainWatcher(_:)``) after each wake. -1 when no pipe or handler could be set up.
    public static func watchChildren() -> Int32 { cprocess_watch_children() }

    /// Wakes the reader of ``watchChildren()``.
    public static func wakeWatcher() { _ = cprocess_wake_children_watcher() }

    /// Waits until `descriptor` is readable or `milliseconds` pass, then reads it empty.
    public static func waitOnWatcher(_ descriptor: Int32, milliseconds: Int32) {
        guard descriptor >= 0 else {
            usleep(useconds_t(max(0, min(milliseconds, 100)) * 1000))
            return
        }
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        _ = poll(&entry, 1, milliseconds)
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(descriptor, &buffer, buffer.count) > 0 {}
    }

    /// How many SIGTERM and SIGINT have been forwarded (the supervisor's stop timeout starts at the first).
    public static var forwardedStops: Int { Int(cprocess_forwarded_stops()) }

    /// The child's status once it exited, as a shell reports it: its code, or 128 + the signal.
    public static func shellStatus(_ waitStatus: Int32) -> Int32 {
        let signal = waitStatus & 0x7f
        return signal == 0 ? (waitStatus >> 8) & 0xff : 128 + signal
    }

    private static func withCStrings<T>(
        _ argv: [String], _ environment: [[UInt8]],
        _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>, UnsafePointer<UnsafeMutablePointer<CChar>?>) -> T
    ) -> T {
        let arguments = argv.map { strdup($0) } + [nil]
        let variables: [UnsafeMutablePointer<CChar>?] =
            environment.map { entry in
                let copy = UnsafeMutablePointer<CChar>.allocate(capacity: entry.count + 1)
                entry.withUnsafeBufferPointer { bytes in
                    for (index, byte) in bytes.enumerated() { copy[index] = CChar(bitPattern: byte) }
                }
                copy[entry.count] = 0
                return copy
            } + [nil]
        defer {
            arguments.forEach { free($0) }
            for variable in variables {
                guard let variable else { continue }
                // Wiped: the values stay in no freed memory of ours.
                memset(variable, 0, strlen(variable))
                variable.deallocate()
            }
        }
        return body(arguments, variables)
    }
}
