import InjectorAgent
import InjectorState
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

/// One connection: reads HTTP/1.1 requests with NIO's decoder and answers each in order — at once
/// from the snapshot on the event loop, or later for `/health`, `/metrics` and `refreshNow` — by
/// writing the answer's bytes (pre-encoded for the answers served most). While an answer is being
/// produced, or while the channel is not writable (the client does not read), reading stops and
/// requests already received (pipelined) wait their turn, at most ``SidecarServer/maximumWaiting``.
/// Keeps the connection rules (``SidecarServer``).
final class AgentHTTPHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A complete request, or a refusal the framing decided on (body too large, bad syntax).
    enum Received {
        case request(HTTPRequestHead)
        case refusal(AgentResponse)
    }

    let router: AgentRouter
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
    private var waiting = CircularBuffer<Received>()
    private var readWanted = false
    /// The client half-closed: answer what was received, then close.
    private var inputClosed = false
    /// An answer that ends the connection was written: nothing more is answered.
    private var closing = false

    init(
        router: AgentRouter, metrics: SidecarMetrics, transport: AgentTransport, connections: ConnectionTable,
        overConnectionLimit: Bool, allowUIDs: Set<UInt32>?, audit: AccessAudit
    ) {
        self.router = router
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
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyBytes = 0
            if !answering { connections.set(context.channel, .receiving) }
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

    /// Answers must wait: one is being produced, or those written are not being read.
    private func mustWait(_ context: ChannelHandlerContext) -> Bool { answering || !context.channel.isWritable }

    /// Outbound: reading pauses while answers must wait or requests are waiting.
    func read(context: ChannelHandlerContext) {
        if mustWait(context) || !waiting.isEmpty {
            readWanted = true
        } else {
            context.read()
        }
    }

    /// The client read what was waiting to be sent: answer what came meanwhile, then read again.
    func channelWritabilityChanged(context: ChannelHandlerContext) {
        context.fireChannelWritabilityChanged()
        if context.channel.isWritable { answerWaiting(context: context) }
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

    private func receive(_ received: Received, context: ChannelHandlerContext) {
        guard mustWait(context) || !waiting.isEmpty else { return answer(received, context: context) }
        guard waiting.count < SidecarServer.maximumWaiting else {
            // A client that sends and never reads: it gets no more of our memory.
            closing = true
            waiting.removeAll()
            context.close(promise: nil)
            return
        }
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
        let route = router.route(request)
        // Most answers come from the snapshot, here on the event loop: no task, no actor hop.
        if let response = router.respondNow(route) {
            write(response, keepAlive: keepAlive, context: context, started: started)
            record(head.uri, route: route, response: response)
            return
        }
        let router = self.router
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        answering = true
        connections.set(context.channel, .answering)
        let promise = context.eventLoop.makePromise(of: AgentResponse.self)
        promise.completeWithTask { await router.answerLater(route) }
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
                    && last.path.utf8.elementsEqual(path.utf8)),
            window.repeated(now: .now())
        {
            audit.repeated(last)
            return
        }
        let access = AccessAudit.Access(
            peer: peer, secret: secret ?? router.api.secretNamed(in: uri), versionID: response.versionID,
            status: response.status, path: String(path))
        lastAudited = (access, audit.record(access))
    }

    /// After an answer that had to wait: the requests received meanwhile, then reading again.
    private func answerWaiting(context: ChannelHandlerContext) {
        while !mustWait(context), !closing, let next = waiting.popFirst() { answer(next, context: context) }
        guard !mustWait(context), !closing, waiting.isEmpty else { return }
        if inputClosed {
            context.close(promise: nil)
        } else if readWanted {
            readWanted = false
            context.read()
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
            if !answering { connections.set(channel, .idle) }
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
