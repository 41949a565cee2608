internal import CProcess

/// SPEC §7: the process cannot be dumped or traced by others of its uid, and writes no core file.
public enum ProcessHardening {
    /// Applies both; true when the kernel accepted them.
    @discardableResult
    public static func disableCoreDumps() -> Bool { cprocess_disable_core_dumps() == 0 }
}
