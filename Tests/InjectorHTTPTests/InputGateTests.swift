import NIOCore
import NIOEmbedded
import Testing

@testable import InjectorHTTP

/// ``InputGate`` on a fake channel: the decoder behind it gets what was read a slice per read
/// asked for, the end of input right behind the last bytes, and a half-close that brings more than
/// the gate may hold closes the connection.
@Suite struct InputGateTests {
    /// What reaches the handler behind the gate, in order.
    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var events: [String] = []

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            events.append(String(buffer: unwrapInboundIn(data)))
        }
        func channelReadComplete(context: ChannelHandlerContext) { events.append("complete") }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case ChannelEvent.inputClosed = event { events.append("end") }
        }
    }

    /// Counts the reads that reach the socket.
    final class SocketReads: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var count = 0
        func read(context: ChannelHandlerContext) {
            count += 1
            context.read()
        }
    }

    func gated(holding maximum: Int = 64) throws -> (EmbeddedChannel, InputGate, Recorder, SocketReads) {
        let gate = InputGate(sliceBytes: 4, maximumHeldBytes: maximum)
        let recorder = Recorder()
        let reads = SocketReads()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([reads, gate, recorder])
        _ = try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, gate, recorder, reads)
    }

    @Test func eachReadGetsOneSliceAndTheSocketIsReadOnlyWhenNothingIsHeld() throws {
        let (channel, gate, recorder, reads) = try gated()
        channel.read()
        #expect(reads.count == 1)
        // A socket read of 10 bytes (writeInbound is a read, then its read-complete): its first
        // slice now, the socket's own read-complete after it.
        try channel.writeInbound(ByteBuffer(string: "aaaabbbbcc"))
        #expect(recorder.events == ["aaaa", "complete"])
        #expect(gate.bytesHeld == 6)
        channel.read()
        #expect(recorder.events.suffix(2) == ["bbbb", "complete"])
        #expect(reads.count == 1, "bytes were held: the socket is not read")
        channel.read()
        #expect(recorder.events.suffix(2) == ["cc", "complete"])
        #expect(reads.count == 1)
        channel.read()
        #expect(reads.count == 2, "nothing held: the socket is read")
        #expect(gate.bytesHeld == 0)
        _ = try? channel.finish()
    }

    @Test func noReadAskedNoSliceDelivered() throws {
        let (channel, gate, recorder, _) = try gated()
        // Bytes no read asked for (NIO reading a half-closed socket to its end) wait.
        try channel.writeInbound(ByteBuffer(string: "aaaabb"))
        #expect(recorder.events == ["complete"])
        #expect(gate.bytesHeld == 6)
        _ = try? channel.finish()
    }

    @Test func theEndOfInputComesRightBehindTheLastBytesHeld() throws {
        let (channel, _, recorder, _) = try gated()
        channel.read()
        try channel.writeInbound(ByteBuffer(string: "aaaabb"))
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(recorder.events == ["aaaa", "complete"], "the end waits behind the bytes held")
        channel.read()
        #expect(recorder.events == ["aaaa", "complete", "bb", "end", "complete"])
        _ = try? channel.finish()
    }

    @Test func moreThanTheGateMayHoldClosesTheConnection() throws {
        let (channel, _, _, _) = try gated(holding: 8)
        try channel.writeInbound(ByteBuffer(string: "aaaabbbb"))
        #expect(channel.isActive)
        try channel.writeInbound(ByteBuffer(string: "c"))
        #expect(!channel.isActive)
    }
}
