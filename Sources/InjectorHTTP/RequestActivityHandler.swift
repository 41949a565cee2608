import NIOCore
import NIOHTTP1

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
