import NIOCore
import Testing

@testable import PLTrack

/// The spool's on-disk format: records survive a round trip, and damage is found, not fatal.
struct SpoolFormatTests {
    static func message(_ sequence: UInt64, _ requestID: RequestID = .integer(7)) -> SpooledMessage {
        SpooledMessage(
            sequence: sequence,
            acceptedAtMilliseconds: 1_764_000_000_000 + Int64(sequence),
            kind: .prompt,
            requestID: requestID,
            body: TrackBody(#"{"prompt_name":"p","request_id":\#(sequence)}"#)
        )
    }

    static func segment(_ records: [SpoolRecord]) -> ByteBuffer {
        var buffer = SegmentReplay.header()
        for record in records {
            record.write(to: &buffer)
        }
        return buffer
    }

    let records: [SpoolRecord] = [
        .accepted(Self.message(1)), .accepted(Self.message(2, .string("req-é"))), .resolved(sequence: 1),
        .accepted(Self.message(3)),
    ]

    @Test func theChecksumIsCRC32C() {
        // The standard check value of CRC-32C.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum(Array("6789".utf8), continuing: CRC32C.checksum(Array("12345".utf8))) == 0xE306_9283)
    }

    @Test func theProcessorsChecksumMatchesTheTableOnEveryLengthAndAlignment() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<600).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for start in 0..<8 {
            for length in 0..<(bytes.count - start) {
                let slice = Array(bytes[start..<(start + length)])
                #expect(CRC32C.checksum(slice) == CRC32C.portableChecksum(slice), "start \(start), length \(length)")
            }
        }
    }

    @Test func recordsSurviveARoundTrip() {
        let replay = SegmentReplay.read(Self.segment(self.records))
        #expect(replay.records == self.records)
        #expect(replay.damage == nil)
    }

    @Test func aSegmentCutOffMidRecordIsReplayedUpToTheCut() {
        let whole = Self.segment(self.records)
        let intact = Self.segment(Array(self.records.prefix(3)))
        // Every cut inside the last record keeps the first three and reports where it stops.
        for length in intact.readableBytes + 1..<whole.readableBytes {
            let cut = whole.getSlice(at: 0, length: length) ?? ByteBuffer()
            let replay = SegmentReplay.read(cut)
            #expect(replay.records == Array(self.records.prefix(3)), "cut at \(length)")
            #expect(replay.damage?.offset == intact.readableBytes, "cut at \(length)")
        }
    }

    @Test func aFlippedByteStopsTheReplayAtItsRecord() {
        let whole = Self.segment(self.records)
        let firstTwo = Self.segment(Array(self.records.prefix(2)))
        let third = Self.segment(Array(self.records.prefix(3)))
        for position in firstTwo.readableBytes..<third.readableBytes {
            var damaged = whole
            let byte = damaged.getInteger(at: position, as: UInt8.self) ?? 0
            damaged.setInteger(byte ^ 0x20, at: position)
            let replay = SegmentReplay.read(damaged)
            #expect(replay.records == Array(self.records.prefix(2)), "flip at \(position)")
            #expect(replay.damage?.offset == firstTwo.readableBytes, "flip at \(position)")
        }
    }

    @Test func aFileThatIsNotASegmentIsReportedNotTrusted() {
        let replay = SegmentReplay.read(ByteBuffer(string: "hello, world"))
        #expect(replay.records.isEmpty)
        #expect(replay.damage?.offset == 0)
    }
}
