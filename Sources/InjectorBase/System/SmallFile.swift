#if canImport(Glibc)
    import Glibc
#endif

/// A small file that someone else may control, read without trusting it: the SSRF
/// token file, the credential endpoint's token file, an `onChange` pid file. Shared by the layers
/// above, as ``trimmingCharacters(in:)`` is.
///
/// It is opened with `O_NOFOLLOW | O_NONBLOCK` (a symbolic link is refused, a FIFO or a device
/// never blocks the caller), must be a regular file of at most `limit` bytes, and is read by one
/// open, read and close: never through a link (unless the caller must follow one), never without
/// bound.
public enum SmallFile {
    /// What identifies one version of a file: device, inode, modification and change times, and
    /// size. A file rewritten in place or replaced gets another (the change time moves with every
    /// write, even one that sets the modification time back).
    public struct Identity: Sendable, Equatable {
        var device: UInt64
        var inode: UInt64
        var modified: timespec
        var changed: timespec
        var size: Int

        public static func == (left: Self, right: Self) -> Bool {
            left.device == right.device && left.inode == right.inode && left.size == right.size
                && left.modified.tv_sec == right.modified.tv_sec && left.modified.tv_nsec == right.modified.tv_nsec
                && left.changed.tv_sec == right.changed.tv_sec && left.changed.tv_nsec == right.changed.tv_nsec
        }
    }

    /// The bytes read, the identity of the file they came from and its owner.
    public struct Contents: Sendable {
        public var bytes: [UInt8]
        public var identity: Identity
        public var ownerUID: UInt32
    }

    /// Why a small file was not read, in words for a log line or an error.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path) \(reason)" }
    }

    /// Reads `path` as a regular file of at most `limit` bytes, through no symbolic link, or
    /// through links when `followingLinks` (what it reaches must still be a regular file).
    public static func read(_ path: String, limit: Int, followingLinks: Bool = false) throws(Refusal) -> Contents {
        let descriptor = open(
            path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (followingLinks ? 0 : O_NOFOLLOW))
        guard descriptor >= 0 else {
            let code = errno
            throw Refusal(
                path: path,
                reason: code == ELOOP
                    ? "is a symbolic link, which is not followed" : "cannot be opened: \(reason(code))")
        }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw Refusal(path: path, reason: "cannot be read: \(reason(errno))")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw Refusal(path: path, reason: "is not a regular file") }
        guard Int(status.st_size) <= limit else {
            throw Refusal(path: path, reason: "is larger than \(limit) bytes")
        }
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var count = 0
        while count <= limit {
            let read = bytes.withUnsafeMutableBytes {
                Glibc.read(descriptor, $0.baseAddress! + count, limit + 1 - count)
            }
            if read < 0, errno == EINTR { continue }
            if read < 0 { throw Refusal(path: path, reason: "cannot be read: \(reason(errno))") }
            if read == 0 { break }
            count += read
        }
        guard count <= limit else { throw Refusal(path: path, reason: "is larger than \(limit) bytes") }
        return Contents(bytes: Array(bytes[..<count]), identity: Identity(status), ownerUID: status.st_uid)
    }

    /// The identity of what is at `path` now (a link itself, not its target), or nil.
    public static func identity(_ path: String) -> Identity? {
        var status = stat()
        return lstat(path, &status) == 0 ? Identity(status) : nil
    }

    private static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }
}

extension SmallFile.Identity {
    init(_ status: stat) {
        self.init(
            device: UInt64(status.st_dev), inode: UInt64(status.st_ino), modified: status.st_mtim,
            changed: status.st_ctim, size: Int(status.st_size))
    }
}
