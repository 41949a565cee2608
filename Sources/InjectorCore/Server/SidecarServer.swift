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
/// optional `allowUids` checked with `SO_PEERCRED`), loopback TCP when `tcpPort` is set. GET only,
/// bounded request size and header time, and a connection cap answered with 429. On graceful
/// shutdown it stops accepting, lets requests in flight finish, then closes.
public struct SidecarServer: Service, CustomStringConvertible {
    public static let maximumConnections = 256
    public static let headerTimeout: TimeAmount = .seconds(5)
    public static let drainTimeout: Duration = .seconds(3)

    let settings: ServerSettings
    let socketGroup: UInt32?
    let router: AgentRouter
    let metrics: SidecarMetrics
    let logger: Logger

    public init(
        settings: ServerSettings, socketGroup: UInt32?, router: AgentRouter, metrics: SidecarMetrics, logger: Logger
    ) {
        self.settings = settings
        self.socketGroup = socketGroup
        self.router = router
        self.metrics = metrics
        self.logger = logger
    }

    public var description: String {
        "SidecarServer(\(settings.socketPath)\(settings.tcpPort.map { ", 127.0.0.1:\($0)" } ?? ""))"
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let connections = ConnectionTracker(limit: Self.maximumConnections)
        var channels: [any Channel] = []
        do {
            try removeStaleSocket(settings.socketPath)
            let unix = try await bootstrap(group: group, overTCP: false, connections: connections).bind(
                unixDomainSocketPath: settings.socketPath
            ).get()
            channels.append(unix)
            try secureSocket()
            logger.info("serving", metadata: ["socket": "\(settings.socketPath)", "mode": "\(settings.socketMode)"])
            if let port = settings.tcpPort {
                let tcp = try await bootstrap(group: group, overTCP: true, connections: connections).bind(
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

        // Serve until the service group shuts down gracefully.
        try? await gracefulShutdown()
        for channel in channels { try? await channel.close() }
        unlink(settings.socketPath)
        let deadline = ContinuousClock.now + Self.drainTimeout
        while connections.active > 0, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        try? await group.shutdownGracefully()
        logger.info("server stopped")
    }

    private func bootstrap(group: MultiThreadedEventLoopGroup, overTCP: Bool, connections: ConnectionTracker)
        -> ServerBootstrap
    {
        let router = self.router
        let metrics = self.metrics
        // The sidecar's own uid stays allowed: the ECS health check runs `secrets-injector health` as it.
        let allowUIDs = overTCP ? nil : settings.allowUIDs.map { Set($0).union([geteuid()]) }
        let logger = self.logger
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let admitted = connections.open()
                channel.closeFuture.whenComplete { _ in connections.close() }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(IdleStateHandler(readTimeout: Self.headerTimeout))
                    try sync.addHandler(
                        AgentHTTPHandler(
                            router: router, metrics: metrics, overTCP: overTCP, admitted: admitted,
                            allowUIDs: allowUIDs, logger: logger))
                }
            }
            .childChannelOption(.maxMessagesPerRead, value: 1)
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

/// Open connections, against the cap.
final class ConnectionTracker: Sendable {
    let limit: Int
    private let count = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    var active: Int { count.load(ordering: .relaxed) }

    /// Counts a new connection; false when it is over the cap (it gets a 429).
    func open() -> Bool { count.add(1, ordering: .relaxed).newValue <= limit }
    func close() { count.subtract(1, ordering: .relaxed) }
}

/// One connection: reads a request head, refuses bodies, answers through the router.
final class AgentHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let router: AgentRouter
    let metrics: SidecarMetrics
    let overTCP: Bool
    let admitted: Bool
    let allowUIDs: Set<UInt32>?
    let logger: Logger
    private var head: HTTPRequestHead?
    private var bodyBytes = 0
    private var peerAllowed = true

    init(
        router: AgentRouter, metrics: SidecarMetrics, overTCP: Bool, admitted: Bool, allowUIDs: Set<UInt32>?,
        logger: Logger
    ) {
        self.router = router
        self.metrics = metrics
        self.overTCP = overTCP
        self.admitted = admitted
        self.allowUIDs = allowUIDs
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        if let allowUIDs {
            // Fail closed until SO_PEERCRED says who is on the other end of the Unix socket.
            peerAllowed = false
            if let provider = context.channel as? any SocketOptionProvider {
                let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
                    level: .init(SOL_SOCKET), name: .init(SO_PEERCRED))
                let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
                future.whenSuccess { credentials in loopBound.value.peerAllowed = allowUIDs.contains(credentials.uid) }
            }
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyBytes = 0
        case .body(let bytes):
            bodyBytes += bytes.readableBytes
        case .end:
            guard let head else { return }
            self.head = nil
            let started = ContinuousClock.now
            let keepAlive = head.isKeepAlive
            if !admitted {
                write(
                    context: context, AgentResponse.error(429, "TooManyRequests", "too many connections"),
                    keepAlive: false, started: started)
            } else if !peerAllowed {
                write(
                    context: context, AgentResponse.error(403, "Forbidden", "this uid may not use the socket"),
                    keepAlive: false, started: started)
            } else if bodyBytes > 0 {
                write(
                    context: context, AgentResponse.error(413, "PayloadTooLarge", "requests carry no body"),
                    keepAlive: false, started: started)
            } else {
                let request = AgentRequest(
                    method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) },
                    overTCP: overTCP)
                let router = self.router
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                let promise = context.eventLoop.makePromise(of: AgentResponse.self)
                promise.completeWithTask { await router.respond(to: request) }
                promise.futureResult.whenSuccess { response in
                    let (handler, context) = loopBound.value
                    handler.write(context: context, response, keepAlive: keepAlive, started: started)
                }
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent, head == nil {
            context.close(promise: nil)  // no complete request in time
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func write(
        context: ChannelHandlerContext, _ response: AgentResponse, keepAlive: Bool, started: ContinuousClock.Instant
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(response.body.count))
        headers.add(name: "Cache-Control", value: "no-store")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(
            version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(
            wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
        let seconds =
            Double((ContinuousClock.now - started).components.attoseconds) / 1e18
            + Double((ContinuousClock.now - started).components.seconds)
        let metrics = self.metrics
        let status = response.status
        Task { await metrics.served(status: status, seconds: seconds) }
    }
}
