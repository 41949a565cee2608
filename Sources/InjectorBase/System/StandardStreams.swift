#if canImport(Glibc)
    import Glibc
#endif

/// Standard output and standard error, written whole: EMF lines and command output go to the
/// first, log lines and error messages to the second (one writer for all of them).
public enum StandardStream: Sendable {
    case output, error

    var descriptor: Int32 { self == .output ? STDOUT_FILENO : STDERR_FILENO }

    /// Writes all of `bytes`, through short writes and interruptions; gives up silently on an
    /// error (a closed pipe: there is nowhere left to say so).
    public func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }

    public func write(_ text: String) { write(Array(text.utf8)) }
}
