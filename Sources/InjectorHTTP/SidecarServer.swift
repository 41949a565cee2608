public import InjectorAgent
import InjectorBase
public import InjectorConfig
import InjectorOutputs
public import InjectorTelemetry
public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// The sidecar's HTTP server on SwiftNIO: the Unix socket always (its mode, group and
/// optional `allowUids` checked with `SO_PEERCRED`), loopback TCP when `tcpPort` is set. It only
/// frames bytes and keeps the connection rules; ``AgentResponder`` answers.
///
/// Connection rules, so that no client can starve another:
/// - an answer being produced is never cut (a `refreshNow` that fails answers with its error);
/// - an idle keep-alive connection is kept 60 s, a partly received request (head or body) 10 s;
/// - any 4xx ends the connection right after it is written; a request followed by a half-close
///   is answered, then the connection closed;
/// - pipelined requests are bounded by backpressure, in bytes, not by their number: a connection is
///   read only when every request received is answered and its unsent answers are under the high
///   water mark (64 KiB), and its decoder is handed what was read 4 KiB at a time
///   (``InputGate``); a client that reads its answers is served whatever its depth, one that does
///   not is no longer read, and is closed once none of its answers' bytes were taken for 10 s
///   (`writeTimeout`);
/// - each listener holds `maxConnections`; a new connection beyond it drops the one idle (or
///   partly received, or not reading its answers) the longest; only when every one is busy
///   answering is it refused, and even then `/ping` is answered.
///
/// On graceful shutdown it stops accepting, closes every connection that is not answering, lets
/// answers in flight finish (up to 3 s), then closes.
public struct SidecarServer: Service, CustomStringConvertible {
    public static let idleTimeout: TimeAmount = .seconds(60)
    public static let partialRequestTimeout: TimeAmount = .seconds(10)
    /// The write timeout: a connection whose answers wait to be sent (over the high water mark)
    /// and whose client takes none of their bytes for this long is closed.
    public static let writeTimeout: TimeAmount = .seconds(10)
    public static let drainTimeout: Duration = .seconds(3)
    /// Connections accepted beyond the limit while every slot is answering: they get `/ping` or 429.
    static let overLimitAllowance = 16
    /// A request body is read and ignored up to the Agent's buffer (321 KiB); beyond, 413.
    static let maximumBodyBytes = 321 * 1024
    /// The most one read of a connection takes from its socket (the receive allocator's ceiling):
    /// with reads asked only once everything held is delivered, the input a connection holds.
    static let maximumReadBytes = 64 * 1024
    /// What the decoder is handed at a time (``InputGate``): the requests parsed ahead of their
    /// answers come from this many bytes at most.
    static let decodeSliceBytes = 4 * 1024
    /// Input held beyond one read comes only from a half-close, after which NIO reads the socket to
    /// its end: past this much held, the connection is closed.
    static let maximumHeldBytes = 256 * 1024
    /// Answers waiting to be sent: over the high mark the connection stops answering and reading,
    /// under the low one it goes on.
    static let writeBufferWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 32 * 1024, high: 64 * 1024)

    let settings: ServerSettings
    let socketGroup: UInt32?
    let responder: AgentResponder
    let metrics: SidecarMetrics
    let logger: Logger
    /// CloudWatch: a `RequestsServed`/`RequestsRefused` line per minute of serving.
    let emf: EMFWriter?
    /// Written once every listener accepts connections: `outputDir/.ready` (nil: none).
    let readyMarker: String?

    public init(
        settings: ServerSettings, socketGroup: UInt32?, responder: AgentResponder, metrics: SidecarMetrics,
        logger: Logger,
        emf: EMFWriter? = nil, readyMarker: String? = nil
    ) {
        self.settings = settings
        self.socketGroup = socketGroup
        self.responder = responder
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
            // connect in between. Files and folders are created with explicit modes, so
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
        let responder = self.responder
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
                    try sync.addHandler(InputGate(connections: connections))
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try sync.addHandler(
                        AgentHTTPHandler(
                            responder: responder, metrics: metrics, transport: transport, connections: connections,
                            overConnectionLimit: admission == .overLimit, allowUIDs: allowUIDs, audit: audit))
                }
            }
            // Read only when AgentHTTPHandler asks, one read at a time, of at most maximumReadBytes.
            .childChannelOption(.autoRead, value: false)
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelOption(
                .recvAllocator,
                value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: Self.maximumReadBytes)
            )
            .childChannelOption(.writeBufferWaterMark, value: Self.writeBufferWaterMark)
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

/// The socket or port cannot be served: the outputs' folder is not ours to serve from (exit 5).
struct ServerError: Error, CustomStringConvertible, ExitStatusProviding {
    var message: String
    var description: String { message }
    var exitStatus: ExitStatus { .cannotWrite }
}
