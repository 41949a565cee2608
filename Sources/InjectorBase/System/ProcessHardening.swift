internal import CProcess

#if canImport(Glibc)
    import Glibc
#endif

/// The process cannot be dumped or traced by others of its uid, and writes no core file.
public enum ProcessHardening {
    /// Applies both; true when the kernel accepted them.
    @discardableResult
    public static func disableCoreDumps() -> Bool { cprocess_disable_core_dumps() == 0 }

    /// Raises the soft limit of open descriptors to the hard one (at most 65,536): each listener
    /// holds up to `server.maxConnections` (800 by default, like the Agent) and the default soft
    /// limit of 1,024 would run out first.
    public static func raiseOpenFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = min(limit.rlim_max, 65_536)
        guard limit.rlim_cur < wanted else { return }
        limit.rlim_cur = wanted
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
