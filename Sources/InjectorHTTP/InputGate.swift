import NIOCore

/// Between the socket and NIO's HTTP decoder: hands the decoder the bytes read in slices of at
/// most ``SidecarServer/decodeSliceBytes``, one slice each time ``AgentHTTPHandler`` asks to read,
/// so that requests are parsed only as fast as they are answered.
///
/// NIO's `ByteToMessageHandler` decodes every byte it is given at once, whether anyone asked to
/// read or not: given a whole 64 KiB read of pipelined requests, it parses them all, and they wait
/// in memory behind the first answer. Here a `read` from the handler is met from the bytes held
/// while there are any, and only then from the socket; the socket is read only when nothing is
/// held, so what is held is at most one read (the channel's receive allocator: 64 KiB) and what is
/// parsed ahead of the answers at most one slice. A half-close (`ChannelEvent.inputClosed`) waits
/// behind the bytes held, so that the decoder sees the requests before the end of input.
///
/// One exception: on a half-close NIO reads the socket to its end whatever was asked, so more can
/// come while bytes are held. Beyond ``SidecarServer/maximumHeldBytes`` the connection is closed.
///
/// It also sees a request's first bytes before the decoder does, so that a request head that never
/// completes is timed as a partial request, not as an idle connection (in the same handler: each
/// handler in the pipeline costs every request a hop).
final class InputGate: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The connection's table, marked receiving when bytes arrive on an idle connection (nil: none).
    private let connections: ConnectionTable?
    private let sliceBytes: Int
    private let maximumHeldBytes: Int
    /// The bytes read and not yet handed to the decoder, oldest first.
    private var held = CircularBuffer<ByteBuffer>(initialCapacity: 1)
    private var heldBytes = 0
    /// The client half-closed after the bytes held: passed on once they are all delivered.
    private var inputClosedHeld = false
    /// A `read` the bytes held have not met yet.
    private var demand = false
    /// The socket was asked to read, for a demand the bytes held could not meet.
    private var socketReadAsked = false
    /// Slices are being delivered: a `read` from inside a delivery is met by the loop, not by recursion.
    private var delivering = false

    init(
        connections: ConnectionTable? = nil, sliceBytes: Int = SidecarServer.decodeSliceBytes,
        maximumHeldBytes: Int = SidecarServer.maximumHeldBytes
    ) {
        precondition(sliceBytes > 0)
        self.connections = connections
        self.sliceBytes = sliceBytes
        self.maximumHeldBytes = maximumHeldBytes
    }

    /// The bytes held, for tests.
    var bytesHeld: Int { heldBytes }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if let connections, connections.phase(of: context.channel) == .idle {
            connections.set(context.channel, .receiving)
        }
        let buffer = unwrapInboundIn(data)
        guard buffer.readableBytes > 0 else { return }
        heldBytes += buffer.readableBytes
        held.append(buffer)
        guard heldBytes <= maximumHeldBytes else {
            // Only NIO's read to the end of a half-closed input gets here.
            held.removeAll()
            heldBytes = 0
            context.close(promise: nil)
            return
        }
        // The read that brought these bytes was asked for: their first slice meets it. (Those NIO
        // reads to the end of a half-closed input were not: they wait.)
        guard socketReadAsked else { return }
        socketReadAsked = false
        demand = true
        deliver(context: context, withinSocketRead: true)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event, heldBytes > 0 {
            inputClosedHeld = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Outbound: the handler can take more; bytes held meet it before the socket is asked.
    func read(context: ChannelHandlerContext) {
        demand = true
        deliver(context: context, withinSocketRead: false)
    }

    /// Meets the demand with slices while there is demand and bytes held, then asks the socket (or
    /// passes on the half-close held). Each slice is followed by a read-complete, on which the
    /// handler asks for the next when it is ready: within a socket read, by the socket's own.
    private func deliver(context: ChannelHandlerContext, withinSocketRead: Bool) {
        guard !delivering else { return }
        delivering = true
        while demand, let slice = nextSlice() {
            demand = false
            context.fireChannelRead(wrapInboundOut(slice))
            if held.isEmpty, inputClosedHeld {
                // The end of input right behind the last requests, as the socket gave it.
                inputClosedHeld = false
                context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            }
            if withinSocketRead { break }
            context.fireChannelReadComplete()
        }
        delivering = false
        guard demand, held.isEmpty, !inputClosedHeld, context.channel.isActive else { return }
        demand = false
        socketReadAsked = true
        context.read()
    }

    private func nextSlice() -> ByteBuffer? {
        guard var first = held.popFirst() else { return nil }
        guard first.readableBytes > sliceBytes else {
            heldBytes -= first.readableBytes
            return first
        }
        let slice = first.readSlice(length: sliceBytes)!
        held.prepend(first)
        heldBytes -= slice.readableBytes
        return slice
    }
}
