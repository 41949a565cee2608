import InjectorAgent
import NIOCore
import NIOHTTP1

/// An ``AgentResponse`` as the bytes an HTTP/1.1 client receives: status line, headers and body in
/// one buffer, for a connection that stays open and for one that closes after it. Built once per
/// answer that is served many times (a secret's version, `/ping`, the common refusals) and kept in
/// the answer's ``EncodedAnswer``, so the event loop writes a shared buffer instead of encoding a
/// head per request.
final class HTTPWire: Sendable {
    let keepAlive: ByteBuffer
    let close: ByteBuffer

    init(_ response: AgentResponse) {
        keepAlive = Self.encode(response, keepAlive: true)
        close = Self.encode(response, keepAlive: false)
    }

    func bytes(keepAlive: Bool) -> ByteBuffer { keepAlive ? self.keepAlive : close }

    /// The response as HTTP/1.1 bytes: `Content-Type` when the answer has one (the Agent's plain
    /// refusals have none), `Content-Length`, `Cache-Control: no-store`, and `Connection: close`
    /// when the connection ends after it.
    static func encode(_ response: AgentResponse, keepAlive: Bool) -> ByteBuffer {
        let status = HTTPResponseStatus(statusCode: response.status)
        var head = "HTTP/1.1 \(response.status) \(status.reasonPhrase)\r\n"
        if let contentType = response.contentType { head += "Content-Type: \(contentType)\r\n" }
        head += "Content-Length: \(response.body.count)\r\nCache-Control: no-store\r\n"
        if !keepAlive { head += "Connection: close\r\n" }
        head += "\r\n"
        var buffer = ByteBuffer()
        buffer.reserveCapacity(head.utf8.count + response.body.count)
        buffer.writeString(head)
        buffer.writeBytes(response.body)
        return buffer
    }
}
