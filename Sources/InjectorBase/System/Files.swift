#if canImport(Glibc)
    import Glibc
#endif

/// A file system call that failed, said with its path and the system's reason; or a file in
/// the output folder that the injector did not make, which it refuses to touch.
public struct FileSystemError: Error, Sendable, CustomStringConvertible, ExitStatusProviding {
    public var operation: String
    public var path: String
    public var code: Int32
    /// Our own words, instead of the system's reason (a foreign file, an unsafe folder).
    public var detail: String?

    public init(operation: String, path: String, code: Int32, detail: String? = nil) {
        self.operation = operation
        self.path = path
        self.code = code
        self.detail = detail
    }

    /// `path` is not something the injector made: nothing is removed, nothing written.
    package static func foreign(_ path: String, _ what: String) -> FileSystemError {
        FileSystemError(
            operation: "refuse", path: path, code: EEXIST,
            detail:
                "\(path): \(what), which the injector did not make; nothing was removed or written: remove it, or give outputDir a folder of its own"
        )
    }

    /// The outputs could not be written (or a file read): exit 5.
    public var exitStatus: ExitStatus { .cannotWrite }

    public var description: String {
        if let detail { return detail }
        let reason = String(cString: strerror(code))
        if operation == "fchown", code == EPERM {
            return
                "cannot give \(path) to its configured uid/gid: \(reason); run as root or with CAP_CHOWN, or remove uid/gid from the configuration"
        }
        if operation == "read" { return "cannot read \(path): \(reason)" }
        return "cannot write \(path): \(reason) (\(operation))"
    }
}

extension stat {
    package var isDirectory: Bool { (st_mode & S_IFMT) == S_IFDIR }
    package var isRegularFile: Bool { (st_mode & S_IFMT) == S_IFREG }
    package var isSymbolicLink: Bool { (st_mode & S_IFMT) == S_IFLNK }
}

/// A whole file's bytes; the error says why it could not be read.
public func readWholeFile(_ path: String) throws(FileSystemError) -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw FileSystemError(operation: "read", path: path, code: errno) }
    defer { close(descriptor) }
    return try readAll(descriptor, path: path)
}

/// Everything left to read on an open descriptor.
package func readAll(_ descriptor: Int32, path: String) throws(FileSystemError) -> [UInt8] {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
        if count < 0, errno == EINTR { continue }
        if count < 0 { throw FileSystemError(operation: "read", path: path, code: errno) }
        if count == 0 { return bytes }
        bytes += chunk[0..<count]
    }
}
