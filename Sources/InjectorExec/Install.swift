import InjectorBase

#if canImport(Glibc)
    import Glibc
#endif

/// `install DIR`: the injector copied into DIR (a volume the app's container shares), so that the
/// app's image needs no change to run `exec`. What is copied is the portable build beside this
/// binary (`secrets-injector-portable`: static, it needs nothing from the app's image), else this
/// binary itself. The copy is written beside its final name, made 0755 and flushed, then renamed
/// over it: a reader sees the old binary or the whole new one.
public enum Install {
    /// The name the binary gets in DIR.
    public static let fileName = "secrets-injector"
    /// The portable build's name beside this binary.
    public static let portableName = "secrets-injector-portable"

    /// Copies the portable build beside this binary (else `/proc/self/exe`) to
    /// `directory/secrets-injector`; returns that path. Every failure is thrown with exit status 5
    /// and one line naming the step.
    public static func run(directory: String) throws(CommandExit) -> String {
        let target = (directory.hasSuffix("/") ? String(directory.dropLast()) : directory) + "/" + fileName
        let portable = SiblingExecutable.candidates(portableName, path: "").first
        // Non-blocking: a FIFO in the portable build's place is refused below, not waited on.
        var source = portable.map { open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) } ?? -1
        if source < 0 { source = open("/proc/self/exe", O_RDONLY | O_CLOEXEC) }
        guard source >= 0 else { throw failure("cannot read this binary (/proc/self/exe)", directory) }
        defer { close(source) }
        var status = stat()
        guard fstat(source, &status) == 0 else { throw failure("cannot read this binary (/proc/self/exe)", directory) }
        guard (status.st_mode & S_IFMT) == S_IFREG, status.st_size > 0 else {
            errno = EINVAL
            throw failure("the binary to copy is not a regular, non-empty file", directory)
        }
        var folder = stat()
        guard stat(directory, &folder) == 0, (folder.st_mode & S_IFMT) == S_IFDIR else {
            throw failure("not a directory (mount the shared volume there)", directory)
        }
        let temporary = "\(directory)/.\(fileName).\(getpid()).tmp"
        // One a killed install left (as PID 1, the same name every time) would block every later one.
        unlink(temporary)
        let copy = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o700)
        guard copy >= 0 else { throw failure("cannot write in the directory", directory) }
        var done = false
        defer {
            close(copy)
            if !done { unlink(temporary) }
        }
        var remaining = Int(status.st_size)
        while remaining > 0 {
            let sent = sendfile(copy, source, nil, remaining)
            if sent < 0, errno == EINTR { continue }
            guard sent > 0 else { throw failure("cannot copy the binary", directory) }
            remaining -= sent
        }
        guard fchmod(copy, 0o755) == 0, fsync(copy) == 0 else { throw failure("cannot copy the binary", directory) }
        guard rename(temporary, target) == 0 else { throw failure("cannot rename the copy into place", directory) }
        done = true
        let folderHandle = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folderHandle >= 0 {
            _ = fsync(folderHandle)
            close(folderHandle)
        }
        return target
    }

    static func failure(_ step: String, _ directory: String) -> CommandExit {
        CommandExit(
            .cannotWrite, "cannot install into \(directory): \(step): \(String(cString: strerror(errno)))")
    }
}
