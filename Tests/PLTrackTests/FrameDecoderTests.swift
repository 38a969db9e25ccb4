import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import PLTrack

struct FrameDecoderTests {
    private static func frame(_ text: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeFrame(bytes: Array(text.utf8))
        return buffer
    }

    @Test func decodesEveryFrameWhateverTheSplitOfTheInput() throws {
        let payloads = [#"{"type":"ping"}"#, "", #"{"type":"track.prompt","prompt_name":"é","request_id":1}"#]
        var input = ByteBuffer()
        for payload in payloads {
            input.writeImmutableBuffer(Self.frame(payload))
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(input, payloads.map { InboundFrame.payload(ByteBuffer(string: $0)) })],
            decoderFactory: { FrameDecoder(maximumFrameLength: 1024) }
        )
    }

    @Test func reportsAnOversizedFrameOnceAndIgnoresTheRest() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maximumFrameLength: 8)))
        var input = Self.frame("1234")
        input.writeInteger(UInt32(9))
        input.writeString("123456789")
        input.writeImmutableBuffer(Self.frame("5678"))
        try channel.writeInbound(input)
        #expect(try channel.readInbound(as: InboundFrame.self) == .payload(ByteBuffer(string: "1234")))
        #expect(try channel.readInbound(as: InboundFrame.self) == .tooLarge(announcedLength: 9))
        #expect(try channel.readInbound(as: InboundFrame.self) == nil)
        #expect(try channel.finish().isClean)
    }

    @Test func acceptsAFrameOfExactlyTheMaximumLength() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(maximumFrameLength: 4)))
        try channel.writeInbound(Self.frame("abcd"))
        #expect(try channel.readInbound(as: InboundFrame.self) == .payload(ByteBuffer(string: "abcd")))
        #expect(try channel.finish().isClean)
    }
}
