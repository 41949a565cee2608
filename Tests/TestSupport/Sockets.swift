import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A free TCP port on 127.0.0.1 (bound, read, released).
public func freeLoopbackPort() -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A client socket with blocking calls, for exchanges that `curl` cannot make (a half-sent head,
/// a pause between two requests on one connection, a half-close). Use it on a thread of its own
/// (``onThread(_:)``), never on Swift's cooperative pool.
public final class RawConnection: @unchecked Sendable {
    public let descriptor: Int32

    /// Connects to a Unix socket path, or to `127.0.0.1:port`; nil when the connection is refused.
    public init?(unixPath: String? = nil, port: Int? = nil) {
        let connected: Bool
        if let unixPath {
            descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                unixPath.utf8CString.withUnsafeBytes { raw.copyMemory(from: $0) }
            }
            connected = Self.connect(descriptor, to: address)
        } else {
            descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port ?? 0).bigEndian
            connected = Self.connect(descriptor, to: address)
        }
        if !connected {
            close(descriptor)
            return nil
        }
    }

    private static func connect<Address>(_ descriptor: Int32, to address: Address) -> Bool {
        var address = address
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<Address>.size)) == 0
            }
        }
    }

    deinit { close(descriptor) }

    public func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// No more requests from this side (`shutdown(SHUT_WR)`).
    public func halfClose() { shutdown(descriptor, Int32(SHUT_WR)) }

    /// One response, read until its `Content-Length` is complete; "" when the peer closed first or
    /// nothing came within `timeout` seconds.
    public func receiveResponse(timeout: Double = 5) -> String {
        var received: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            if let response = Self.complete(received) { return response }
            var wait = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count == 0 { break }
            if count > 0 { received += buffer[0..<count] }
        }
        return Self.complete(received) ?? ""
    }

    /// Everything received until the peer closes the connection (or `timeout` seconds pass).
    public func receiveUntilClosed(timeout: Double = 10) -> String {
        var received: [UInt8] = []
        _ = readUntilClosed(within: timeout) { received += $0 }
        return String(decoding: received, as: UTF8.self)
    }

    /// True when the peer closed the connection within `timeout` seconds (reading and discarding).
    public func closedByPeer(within timeout: Double) -> Bool { readUntilClosed(within: timeout) { _ in } }

    /// Reads, handing each chunk to `chunk`, until the peer closes (true) or `timeout` passes (false).
    private func readUntilClosed(within timeout: Double, _ chunk: (ArraySlice<UInt8>) -> Void) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            var wait = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { return true }
            if count > 0 { chunk(buffer[0..<count]) }
        }
        return false
    }

    private static func complete(_ bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return nil }
        let head = text[..<end.lowerBound].lowercased()
        let length =
            head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }.flatMap {
                Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
            } ?? 0
        return text[end.upperBound...].utf8.count >= length ? text : nil
    }
}

/// Runs blocking work on a thread of its own and awaits its result.
public func onThread<Result: Sendable>(_ work: @escaping @Sendable () -> Result) async -> Result {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: work()) }
    }
}
