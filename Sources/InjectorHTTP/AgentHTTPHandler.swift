import InjectorAgent
import InjectorTelemetry
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
    import Glibc
#endif

/// `struct ucred` of <sys/socket.h> (`pid_t pid; uid_t uid; gid_t gid`), which Glibc's module
/// does not export.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// `SO_MEMINFO` of <linux/sock_diag.h>: a socket's memory, `SK_MEMINFO_VARS` counters.
struct SocketMemory: Sendable {
    var counters: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0, 0, 0, 0, 0)
    /// What the socket holds to send: `SK_MEMINFO_WMEM_ALLOC` (sent, not yet taken by the peer of
    /// a Unix socket) and `SK_MEMINFO_WMEM_QUEUED` (TCP's queue, not yet acknowledged).
    var sendQueued: Int { Int(counters.2) + Int(counters.5) }
}

/// One connection: reads HTTP/1.1 requests with NIO's decoder and answers each in order — at once
/// from the snapshot on the event loop, or later for `/health`, `/metrics` and `refreshNow` — by
/// writing the answer's bytes (pre-encoded for the answers served most). Keeps the connection rules
/// (``SidecarServer``).
///
/// Pipelined requests are bounded by backpressure, not by their number: the channel reads only when
/// this handler asks (`autoRead` off), and it asks only when every request received is answered, no
/// answer is being produced and the channel is writable (what waits to be sent is under the high
/// water mark). ``InputGate`` hands the decoder what was read a slice at a time, on the same asks,
/// so the requests parsed ahead of their answers come from one slice at most. A client that reads
/// its answers is served whatever its depth; one that does not is no longer read, and the write
/// timeout (``SidecarServer/writeTimeout`` without any byte taken) closes it.
final class AgentHTTPHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A complete request, or a refusal the framing decided on (body too large, bad syntax).
    enum Received {
        case request(HTTPRequestHead)
        case refusal(AgentResponse)
    }

    let responder: AgentResponder
    let metrics: SidecarMetrics
    let transport: AgentTransport
    let connections: ConnectionTable
    let overConnectionLimit: Bool
    let allowUIDs: Set<UInt32>?
    let audit: AccessAudit
    /// The other end: on the Unix socket, its uid and pid once `SO_PEERCRED` has answered.
    private var peer: AccessPeer
    /// This connection's last audited access and its window, to count repeats cheaply.
    private var lastAudited: (AccessAudit.Access, AccessAudit.Window)?
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    private var peerAllowed = true
    /// An answer is being produced off the event loop; what arrives meanwhile waits in `waiting`.
    private var answering = false
    /// Requests received while answers must wait: at most those parsed from one slice of input.
    private var waiting = CircularBuffer<Received>()
    /// The client half-closed: answer what was received, then close.
    private var inputClosed = false
    /// An answer that ends the connection was written: nothing more is answered.
    private var closing = false
    /// While the channel is not writable: the check, once a second, that the client takes bytes.
    private var stallCheck: RepeatedTask?
    /// When the client last took some of the bytes waiting to be sent, and how many waited at the
    /// last check: in NIO's buffer, and in the socket's (``SocketMemory``).
    private var lastProgress = NIODeadline.now()
    private var lastWaiting = (buffered: 0, socket: 0)

    init(
        responder: AgentResponder, metrics: SidecarMetrics, transport: AgentTransport, connections: ConnectionTable,
        overConnectionLimit: Bool, allowUIDs: Set<UInt32>?, audit: AccessAudit
    ) {
        self.responder = responder
        self.metrics = metrics
        self.transport = transport
        self.connections = connections
        self.overConnectionLimit = overConnectionLimit
        self.allowUIDs = allowUIDs
        self.audit = audit
        self.peer = AccessPeer(transport: transport)
    }

    func channelActive(context: ChannelHandlerContext) {
        if transport == .unixSocket {
            // Who is on the other end, for allowUids and the access audit. With allowUids, fail
            // closed until SO_PEERCRED has answered.
            if allowUIDs != nil { peerAllowed = false }
            if let provider = context.channel as? any SocketOptionProvider {
                let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
                    level: .init(SOL_SOCKET), name: .init(SO_PEERCRED))
                let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
                let allowUIDs = self.allowUIDs
                future.whenSuccess { credentials in
                    let handler = loopBound.value
                    handler.peer = AccessPeer(transport: .unixSocket, uid: credentials.uid, pid: credentials.pid)
                    if let allowUIDs { handler.peerAllowed = allowUIDs.contains(credentials.uid) }
                }
            }
        }
        context.fireChannelActive()
        readIfReady(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopStallCheck()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { stopStallCheck() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyBytes = 0
            if !answering, context.channel.isWritable { connections.set(context.channel, .receiving) }
        case .body(let bytes):
            bodyBytes += bytes.readableBytes
            if bodyBytes > SidecarServer.maximumBodyBytes, head != nil {
                head = nil
                receive(.refusal(.text(413, "Payload Too Large")), context: context)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            receive(.request(head), context: context)
        }
    }

    /// What was read is decoded and answered as far as it could be: read on if nothing waits.
    func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
        readIfReady(context: context)
    }

    /// Answers must wait: one is being produced, or those written are not being read.
    private func mustWait(_ context: ChannelHandlerContext) -> Bool { answering || !context.channel.isWritable }

    /// Outbound: this handler reads when it is ready (`autoRead` is off); a read asked by anyone else
    /// goes through only then.
    func read(context: ChannelHandlerContext) {
        if isReady(context) { context.read() }
    }

    /// Ready for more input: every request received is answered, none is being produced, and what
    /// waits to be sent is under the high water mark.
    private func isReady(_ context: ChannelHandlerContext) -> Bool {
        !closing && !inputClosed && !mustWait(context) && waiting.isEmpty && context.channel.isActive
    }

    private func readIfReady(context: ChannelHandlerContext) {
        if isReady(context) { context.read() }
    }

    /// Over the high water mark, the client does not read: nothing more is answered or read, and the
    /// write timeout runs. Under the low one again: answer what came meanwhile, then read again.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        context.fireChannelWritabilityChanged()
        if context.channel.isWritable {
            stopStallCheck()
            if !answering { connections.set(context.channel, head == nil ? .idle : .receiving) }
            answerWaiting(context: context)
        } else {
            if !answering { connections.set(context.channel, .sending) }
            startStallCheck(context: context)
        }
    }

    /// The write timeout: once a second while the channel is not writable, whether the client took
    /// any of the bytes waiting to be sent; after ``SidecarServer/writeTimeout`` without, the
    /// connection is closed (not while an answer is being produced: that one is never cut).
    ///
    /// Taken means: fewer bytes in NIO's buffer, or fewer in the socket's send queue, than at the
    /// last check. NIO's buffer alone would miss a slow reader: it drains only once the kernel's
    /// send buffer (megabytes on loopback) has room again.
    private func startStallCheck(context: ChannelHandlerContext) {
        guard stallCheck == nil else { return }
        lastProgress = .now()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        Self.waitingBytes(context.channel).whenSuccess { loopBound.value.0.lastWaiting = $0 }
        stallCheck = context.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            let (handler, context) = loopBound.value
            guard context.channel.isActive, !context.channel.isWritable else { return handler.stopStallCheck() }
            Self.waitingBytes(context.channel).whenSuccess { bytes in
                let (handler, context) = loopBound.value
                handler.judgeStall(bytes, context: context)
            }
        }
    }

    private func judgeStall(_ bytes: (buffered: Int, socket: Int), context: ChannelHandlerContext) {
        guard stallCheck != nil else { return }
        let now = NIODeadline.now()
        if bytes.buffered < lastWaiting.buffered || bytes.socket < lastWaiting.socket { lastProgress = now }
        lastWaiting = bytes
        guard now - lastProgress >= SidecarServer.writeTimeout, !answering else { return }
        // A client that sends and does not read: it gets no more of our memory, nor the slot.
        stopStallCheck()
        closing = true
        waiting.removeAll()
        context.close(promise: nil)
    }

    private func stopStallCheck() {
        stallCheck?.cancel()
        stallCheck = nil
    }

    /// The bytes waiting to be sent: in NIO's buffer, and in the socket's send queue (`SO_MEMINFO`).
    private static func waitingBytes(_ channel: any Channel) -> EventLoopFuture<(buffered: Int, socket: Int)> {
        let buffered = (try? channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture((buffered, 0))
        }
        let memory: EventLoopFuture<SocketMemory> = provider.unsafeGetSocketOption(
            level: .init(SOL_SOCKET), name: .init(SO_MEMINFO))
        return memory.map { (buffered, $0.sendQueued) }.recover { _ in (buffered, 0) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            // Requests received before a half-close are still answered; nothing more can come.
            inputClosed = true
            if !answering, waiting.isEmpty { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError, !closing else {
            if answering { inputClosed = true } else { context.close(promise: nil) }
            return
        }
        head = nil
        receive(.refusal(.text(400, "Bad Request")), context: context)
    }

    /// Answers a request at once, or queues it behind those that must wait. No count bounds the
    /// queue: nothing more is read while it holds anything, so it holds one slice's requests at most.
    private func receive(_ received: Received, context: ChannelHandlerContext) {
        guard mustWait(context) || !waiting.isEmpty else { return answer(received, context: context) }
        waiting.append(received)
    }

    private func answer(_ received: Received, context: ChannelHandlerContext) {
        let head: HTTPRequestHead
        switch received {
        case .refusal(let response):
            write(response, keepAlive: false, context: context)
            audit.record(.init(peer: peer, secret: nil, status: response.status, path: "-"))
            return
        case .request(let request):
            head = request
        }
        let started = ContinuousClock.now
        guard peerAllowed else {
            write(.text(403, "Forbidden"), keepAlive: false, context: context, started: started)
            record(head.uri, route: nil, response: .text(403, "Forbidden"))
            return
        }
        let headers = head.headers
        let request = AgentRequest(
            method: head.method.rawValue, uri: head.uri, transport: transport,
            overConnectionLimit: overConnectionLimit, header: { headers.first(name: $0) })
        let keepAlive = head.isKeepAlive
        let route = responder.route(request)
        // Most answers come from the snapshot, here on the event loop: no task, no actor hop.
        if let response = responder.respondNow(route) {
            write(response, keepAlive: keepAlive, context: context, started: started)
            record(head.uri, route: route, response: response)
            return
        }
        let responder = self.responder
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        answering = true
        connections.set(context.channel, .answering)
        let promise = context.eventLoop.makePromise(of: AgentResponse.self)
        promise.completeWithTask { await responder.answerLater(route) }
        promise.futureResult.whenSuccess { response in
            let (handler, context) = loopBound.value
            handler.answering = false
            handler.write(response, keepAlive: keepAlive, context: context, started: started)
            handler.record(head.uri, route: route, response: response)
            handler.answerWaiting(context: context)
        }
    }

    /// The access audit of an answered request: those that name a secret, and every refusal. A
    /// repeat of this connection's last audited access, within its window, is only counted.
    private func record(_ uri: String, route: AgentRoute?, response: AgentResponse) {
        let secret: String?
        switch route {
        case .secret(let query): secret = response.secretName ?? query.secretID
        default: secret = nil
        }
        guard audit.audits(status: response.status, namesSecret: secret != nil) else { return }
        let path = AgentAPI.split(uri).path
        if let (last, window) = lastAudited, last.status == response.status,
            AccessAudit.isRefusal(response.status)
                || (last.secret == secret && last.versionID == response.versionID
                    && Self.sameBytes(last.path, path)),
            window.repeated(now: .now())
        {
            audit.repeated(last)
            return
        }
        let access = AccessAudit.Access(
            peer: peer, secret: secret ?? responder.api.secretNamed(in: uri), versionID: response.versionID,
            status: response.status, path: String(path))
        lastAudited = (access, audit.record(access))
    }

    /// Byte equality, scanned in place (a generic walk of the two UTF-8 views cost more than the
    /// rest of the audit's repeat check).
    private static func sameBytes(_ string: String, _ substring: Substring) -> Bool {
        var (string, substring) = (string, substring)
        return string.withUTF8 { a in substring.withUTF8 { b in a.elementsEqual(b) } }
    }

    /// After an answer that had to wait: the requests received meanwhile, then reading again.
    private func answerWaiting(context: ChannelHandlerContext) {
        while !mustWait(context), !closing, let next = waiting.popFirst() { answer(next, context: context) }
        guard !mustWait(context), !closing, waiting.isEmpty else { return }
        if inputClosed {
            context.close(promise: nil)
        } else {
            readIfReady(context: context)
        }
    }

    /// Writes one answer; the connection stays open only for a keep-alive request answered with
    /// less than 400 while the client may still send, and goes back to idle.
    private func write(
        _ response: AgentResponse, keepAlive: Bool, context: ChannelHandlerContext,
        started: ContinuousClock.Instant = .now
    ) {
        let keepOpen = keepAlive && response.status < 400 && !(inputClosed && waiting.isEmpty)
        let bytes =
            response.encoded?.value { HTTPWire(response) }.bytes(keepAlive: keepOpen)
            ?? HTTPWire.encode(response, keepAlive: keepOpen)
        let channel = context.channel
        if keepOpen {
            context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
            if !answering { connections.set(channel, channel.isWritable ? .idle : .sending) }
        } else {
            closing = true
            waiting.removeAll()
            context.writeAndFlush(wrapOutboundOut(bytes)).whenComplete { _ in channel.close(promise: nil) }
        }
        let elapsed = ContinuousClock.now - started
        metrics.served(
            status: response.status,
            seconds: Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds))
    }
}
