import InjectorBase

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// OpenSSH's StrictModes for `outputDir`: whoever can write into the folder can plant
/// `..data` or swap a visible link, so the folder must be ours (or root's) and writable by no one
/// else — unless it has the sticky bit, or its group is the outputs' group on a folder we own.
public enum OutputFolderPolicy {
    /// The reason `status` is unsafe, with what to change; nil when it is safe.
    public static func problem(
        uid: UInt32, gid: UInt32, mode: UInt32, path: String, outputGroup: UInt32?, ourUID: UInt32 = geteuid()
    ) -> String? {
        if uid != ourUID, uid != 0 {
            return
                "outputDir \(path) is owned by uid \(uid), not by the injector's uid \(ourUID) or root: chown it to \(ourUID), or run the injector as uid \(uid) (`user` in the task definition)"
        }
        let sticky = mode & UInt32(S_ISVTX) != 0
        let octal = String(mode & 0o7777, radix: 8)
        if mode & 0o002 != 0, !sticky {
            return
                "outputDir \(path) is writable by every user (mode 0\(octal)), so any of them could plant ..data: chmod o-w it (a tmpfs or volume of mode 0750)"
        }
        if mode & 0o020 != 0, !sticky, !(gid == outputGroup && uid == ourUID) {
            return
                "outputDir \(path) is writable by group \(gid) (mode 0\(octal)), which is not the outputs' group on a folder the injector owns: chmod g-w it (a tmpfs or volume of mode 0750)"
        }
        return nil
    }

    static func check(_ status: stat, path: String, outputGroup: UInt32?) throws(FileSystemError) {
        if let problem = problem(
            uid: status.st_uid, gid: status.st_gid, mode: UInt32(status.st_mode), path: path, outputGroup: outputGroup)
            ?? ancestorProblem(of: path)
        {
            throw FileSystemError(operation: "refuse", path: path, code: EPERM, detail: problem)
        }
    }

    /// The problem of `outputDir` (when it exists) or of the folders above it, for `check`; nil
    /// when all are safe.
    public static func problem(of path: String, outputGroup: UInt32?) -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else { return ancestorProblem(of: path) }
        return problem(
            uid: status.st_uid, gid: status.st_gid, mode: UInt32(status.st_mode), path: path, outputGroup: outputGroup)
            ?? ancestorProblem(of: path)
    }

    /// Every folder above `outputDir` up to `/`, as sshd's StrictModes checks them:
    /// owned by root or us, and writable by no group or other unless sticky. Whoever can write
    /// one could rename `outputDir` away and put a folder of their own in its place. The path is
    /// resolved first (`realpath` of the deepest folder that exists), so a linked parent is
    /// checked where it really is.
    static func ancestorProblem(of path: String, ourUID: UInt32 = geteuid()) -> String? {
        var existing = parent(of: path)
        var resolved: String?
        while resolved == nil {
            if let real = realpath(existing, nil) {
                resolved = String(cString: real)
                free(real)
            } else if existing == "/" || existing.isEmpty {
                return nil
            } else {
                existing = parent(of: existing)
            }
        }
        var folder = resolved!
        while true {
            var status = stat()
            if stat(folder, &status) == 0 {
                let mode = UInt32(status.st_mode)
                let octal = String(mode & 0o7777, radix: 8)
                if status.st_uid != 0, status.st_uid != ourUID {
                    return
                        "outputDir \(path): the folder above it \(folder) is owned by uid \(status.st_uid), not root or the injector's uid \(ourUID), so that user could swap outputDir: chown it to root, or choose an outputDir whose every parent is root's or the injector's"
                }
                if mode & 0o022 != 0, mode & UInt32(S_ISVTX) == 0 {
                    return
                        "outputDir \(path): the folder above it \(folder) is writable by \(mode & 0o002 != 0 ? "every user" : "group \(status.st_gid)") (mode 0\(octal), no sticky bit), so they could swap outputDir: chmod go-w it"
                }
            }
            guard folder != "/" else { return nil }
            folder = parent(of: folder)
        }
    }

    private static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
