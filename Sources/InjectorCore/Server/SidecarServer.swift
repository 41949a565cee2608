public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The sidecar's HTTP server on SwiftNIO (SPEC §6): the Unix socket always (its mode, group and
/// optional `allowUids` checked with `SO_PEERCRED`), loopback TCP when `tcpPort` is set. It only
/// frames bytes and keeps the connection rules; ``AgentRouter`` answers.
///
/// Connection rules, so that no client can starve another:
/// - an answer being produced is never cut (a `refreshNow` that fails answers with its error);
/// - an idle keep-alive connection is kept 60 s, a partly received request (head or body) 10 s;
/// - any 4xx ends the connection right after it is written; a request followed by a half-close
///   is answered, then the connection closed;
/// - a connection whose client does not read its answers is not read either while its answers
///   wait to be sent, and one with more than 32 requests waiting is closed: memory stays bounded;
/// - each listener holds `maxConnections`; a new connection beyond it drops the one idle (or
///   partly received) the longest; only when every one is busy answering is it refused, and even
///   then `/ping` is answered.
///
/// On graceful shutdown it stops accepting, closes every connection that is not answering, lets
/// answers in flight finish (up to 3 s), then closes.
public struct SidecarServer: Service, CustomStringConvertible {
    public static let idleTimeout: TimeAmount = .seconds(60)
    public static let partialRequestTimeout: TimeAmount = .seconds(10)
    public static let drainTimeout: Duration = .seconds(3)
    /// Connections accepted beyond the limit while every slot is answering: they get `/ping` or 429.
    static let overLimitAllowance = 16
    /// A request body is read and ignored up to the Agent's buffer (321 KiB); beyond, 413.
    static let maximumBodyBytes = 321 * 1024
    /// Requests a connection may have waiting for their answers (pipelined while one is produced,
    /// or while the client does not read what it was sent); one more closes it (issue 17).
    static let maximumWaiting = 32

    let settings: ServerSettings
    let socketGroup: UInt32?
    let router: AgentRouter
    let metrics: SidecarMetrics
    let logger: Logger
    /// CloudWatch: a `RequestsServed`/`RequestsRefused` line per minute of serving.
    let emf: EMFWriter?
    /// Written once every listener accepts connections: `outputDir/.ready` (nil: none).
    let readyMarker: String?

    public init(
        settings: ServerSettings, socketGroup: UInt32?, router: AgentRouter, metrics: SidecarMetrics, logger: Logger,
        emf: EMFWriter? = nil, readyMarker: String? = nil
    ) {
        self.settings = settings
        self.socketGroup = socketGroup
        self.router = router
        self.metrics = metrics
        self.logger = logger
        self.emf = emf
        self.readyMarker = readyMarker
    }

    public var description: String {
        "SidecarServer(\(settings.socketPath)\(settings.tcpPort.map { ", 127.0.0.1:\($0)" } ?? ""))"
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let tables = [
            ConnectionTable(limit: settings.maxConnections), ConnectionTable(limit: settings.maxConnections),
        ]
        let audit = AccessAudit(logger: logger, enabled: settings.audit, metrics: metrics)
        var channels: [any Channel] = []
        do {
            try removeStaleSocket(settings.socketPath)
            // Created owner-only (umask 0177 around bind), then given its mode: no other uid can
            // connect in between (issue 17). Files and folders are created with explicit modes, so
            // the process-wide umask touches nothing else meanwhile.
            let umaskBefore = umask(0o177)
            let bound = bootstrap(group: group, transport: .unixSocket, connections: tables[0], audit: audit)
                .bind(unixDomainSocketPath: settings.socketPath)
            let unix: any Channel
            do {
                unix = try await bound.get()
                umask(umaskBefore)
            } catch {
                umask(umaskBefore)
                throw error
            }
            channels.append(unix)
            try secureSocket()
            logger.info("serving", metadata: ["socket": "\(settings.socketPath)", "mode": "\(settings.socketMode)"])
            if let port = settings.tcpPort {
                let tcp = try await bootstrap(group: group, transport: .tcp, connections: tables[1], audit: audit).bind(
                    host: "127.0.0.1", port: port
                ).get()
                channels.append(tcp)
                logger.info("serving", metadata: ["tcp": "127.0.0.1:\(port)"])
            }
        } catch {
            for channel in channels { try? await channel.close() }
            try? await group.shutdownGracefully()
            throw ServerError(
                message:
                    "cannot serve on \(settings.socketPath)\(settings.tcpPort.map { " or 127.0.0.1:\($0)" } ?? ""): \(error)"
            )
        }
        // Ready: the first generation is committed (the sidecar starts the server after it) and
        // every listener takes connections, so whoever waits for the marker can connect at once.
        if let readyMarker { _ = try? GenerationWriter.writeMarker(readyMarker) }
        // Timeouts: one sweep a second over each table, on the event loop; the audit's closed
        // windows; and every minute, CloudWatch's request counts.
        let minute = metrics.minuteCounter()
        let emf = self.emf
        let sweep = group.next().scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
            for table in tables {
                table.closeExpired(idle: Self.idleTimeout, partial: Self.partialRequestTimeout)
            }
            audit.flush()
            if let emf, let (served, refused) = minute.tick() {
                emf.emit([
                    EMFWriter.Metric("RequestsServed", "Count", Double(served)),
                    EMFWriter.Metric("RequestsRefused", "Count", Double(refused)),
                ])
            }
        }

        // Serve until the service group shuts down gracefully.
        try? await gracefulShutdown()
        for channel in channels { try? await channel.close() }
        unlink(settings.socketPath)
        for table in tables { table.closeAllNotAnswering() }
        let deadline = ContinuousClock.now + Self.drainTimeout
        while tables.contains(where: { $0.answering > 0 }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        sweep.cancel()
        try? await group.shutdownGracefully()
        audit.flushAll()
        logger.info("server stopped")
    }

    private func bootstrap(
        group: MultiThreadedEventLoopGroup, transport: AgentTransport, connections: ConnectionTable,
        audit: AccessAudit
    ) -> ServerBootstrap {
        let router = self.router
        let metrics = self.metrics
        // The sidecar's own uid stays allowed: the ECS health check runs `secrets-injector health` as it.
        let allowUIDs = transport == .tcp ? nil : settings.allowUIDs.map { Set($0).union([geteuid()]) }
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let admission = connections.admit(channel) else {
                        channel.close(promise: nil)  // over the limit and its allowance: no answer possible
                        return
                    }
                    channel.closeFuture.whenComplete { _ in connections.remove(channel) }
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(RequestActivityHandler(connections: connections))
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try sync.addHandler(
                        AgentHTTPHandler(
                            router: router, metrics: metrics, transport: transport, connections: connections,
                            overConnectionLimit: admission == .overLimit, allowUIDs: allowUIDs, audit: audit))
                }
            }
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
    }

    private func removeStaleSocket(_ path: String) throws {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard (status.st_mode & S_IFMT) == S_IFSOCK else {
            throw ServerError(message: "\(path) exists and is not a socket; remove it or set server.socketPath")
        }
        unlink(path)
    }

    private func secureSocket() throws {
        if chmod(settings.socketPath, mode_t(settings.socketMode.rawValue)) != 0 {
            throw ServerError(message: "cannot chmod \(settings.socketPath): \(String(cString: strerror(errno)))")
        }
        if let gid = socketGroup, lchown(settings.socketPath, UInt32.max, gid) != 0 {
            throw ServerError(
                message: "cannot give \(settings.socketPath) to group \(gid): \(String(cString: strerror(errno)))")
        }
    }
}

struct ServerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// `struct ucred` of <sys/socket.h> (`pid_t pid; uid_t uid; gid_t gid`), which Glibc's module
/// does not export.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// One listener's connections and what each is doing, against `maxConnections`: the table the
/// connection rules work on. Touched from the event loop and, at shutdown, the service's task.
final class ConnectionTable: Sendable {
    enum Phase: Sendable { case idle, receiving, answering }
    enum Admission: Sendable { case admitted, overLimit }

    private struct Entry {
        let channel: any Channel
        var phase: Phase
        var since: NIODeadline
        let overLimit: Bool
    }

    let limit: Int
    private let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    init(limit: Int) { self.limit = limit }

    /// Takes a new connection in. At the limit, the connection idle (or partly received) the
    /// longest is closed to make room; when every one is answering, the new one is admitted over
    /// the limit (it may ask `/ping`), up to a small allowance; past that, nil.
    func admit(_ channel: any Channel, now: NIODeadline = .now()) -> Admission? {
        let (admission, evicted): (Admission?, (any Channel)?) = entries.withLock { table in
            var evicted: (any Channel)?
            let regular = table.values.filter { !$0.overLimit }
            if regular.count >= limit,
                let oldest = regular.filter({ $0.phase != .answering }).min(by: { $0.since < $1.since })
            {
                table.removeValue(forKey: ObjectIdentifier(oldest.channel))
                evicted = oldest.channel
            }
            let overLimit = table.values.filter { !$0.overLimit }.count >= limit
            if overLimit, table.values.filter(\.overLimit).count >= SidecarServer.overLimitAllowance {
                return (nil, evicted)
            }
            table[ObjectIdentifier(channel)] = Entry(channel: channel, phase: .idle, since: now, overLimit: overLimit)
            return (overLimit ? .overLimit : .admitted, evicted)
        }
        evicted?.close(promise: nil)
        return admission
    }

    func remove(_ channel: any Channel) {
        _ = entries.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    func phase(of channel: any Channel) -> Phase? { entries.withLock { $0[ObjectIdentifier(channel)]?.phase } }

    /// The connection now receives a request, answers one, or waits idle; the clock of its timeout
    /// starts again.
    func set(_ channel: any Channel, _ phase: Phase, now: NIODeadline = .now()) {
        entries.withLock { table in
            let id = ObjectIdentifier(channel)
            guard table[id] != nil, table[id]?.phase != phase else { return }
            table[id]?.phase = phase
            table[id]?.since = now
        }
    }

    var answering: Int { entries.withLock { $0.values.filter { $0.phase == .answering }.count } }

    /// Closes idle connections older than `idle` and partly received requests older than `partial`.
    func closeExpired(idle: TimeAmount, partial: TimeAmount, now: NIODeadline = .now()) {
        let expired = entries.withLock { table in
            table.values.filter { entry in
                switch entry.phase {
                case .idle: now - entry.since > idle
                case .receiving: now - entry.since > partial
                case .answering: false
                }
            }.map(\.channel)
        }
        for channel in expired { channel.close(promise: nil) }
    }

    func closeAllNotAnswering() {
        let closing = entries.withLock { $0.values.filter { $0.phase != .answering }.map(\.channel) }
        for channel in closing { channel.close(promise: nil) }
    }
}

/// Sees a request's first bytes before the HTTP decoder does, so that a request head that never
/// completes is timed as a partial request, not as an idle connection.
final class RequestActivityHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let connections: ConnectionTable

    init(connections: ConnectionTable) { self.connections = connections }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if connections.phase(of: context.channel) == .idle { connections.set(context.channel, .receiving) }
        context.fireChannelRead(data)
    }
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
        let bytes = response.wire?.bytes(keepAlive: keepOpen) ?? HTTPWire.encode(response, keepAlive: keepOpen)
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
