import Foundation
import Glibc
import NIOCore
import Testing

@testable import PLTrack

/// Spool segments on disk: written, synced, read back, and damaged on purpose.
struct SpoolFileTests {
    static func directory() throws -> String {
        let path = NSTemporaryDirectory() + "pltrackd-spool-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func whatIsWrittenAndSyncedIsReplayedExceptWhatWasResolved() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writer = try SpoolWriter(directory: directory, segmentBytes: 512)
        for sequence in 1...20 as ClosedRange<UInt64> {
            try writer.append([.accepted(SpoolFormatTests.message(sequence))])
        }
        try writer.append((1...15 as ClosedRange<UInt64>).map { .resolved(sequence: $0) })
        try writer.sync()
        let replay = SpoolDirectory.replay(directory)
        #expect(replay.pending.map(\.sequence) == Array(16...20))
        #expect(replay.segments.count > 1, "small segments roll over")
        #expect(replay.damage.isEmpty)
        var status = stat()
        #expect(stat(writer.currentSegmentPath, &status) == 0 && status.st_mode & 0o777 == 0o600)
    }

    @Test func aRoundOfMoreVectorsThanOneWritevTakesIsWrittenWhole() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writer = try SpoolWriter(directory: directory)
        // Two vectors per call (its framing, its body members): 1,500 calls need three writev(2).
        let records = (1...1500 as ClosedRange<UInt64>).map { SpoolRecord.accepted(SpoolFormatTests.message($0)) }
        let written = try writer.append(records)
        try writer.sync()
        let file = try #require(FileManager.default.contents(atPath: writer.currentSegmentPath))
        let replay = SegmentReplay.read(ByteBuffer(bytes: file))
        #expect(replay.records == records, "every record, body and checksum intact, in order")
        #expect(replay.damage == nil)
        #expect(written == records.reduce(0) { $0 + Self.length(of: $1) })
    }

    private static func length(of record: SpoolRecord) -> Int {
        var buffer = ByteBuffer()
        record.write(to: &buffer)
        return buffer.readableBytes
    }

    @Test func theCallsLeftInFlightAreReadOnceAndTheSlotsStartEmpty() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try InFlightSlots(directory: directory, workers: 4)
        #expect(first.previous.isEmpty)
        first.set(0, to: 41)
        first.set(2, to: 1 << 40)
        first.set(3, to: 9)
        first.set(3, to: 0)  // worker 3's attempt ended
        let second = try InFlightSlots(directory: directory, workers: 2)
        #expect(second.previous == [41, 1 << 40])
        let third = try InFlightSlots(directory: directory, workers: 2)
        #expect(third.previous.isEmpty, "a new run starts with empty slots")
        var status = stat()
        #expect(stat(directory + "/" + InFlightSlots.fileName, &status) == 0 && status.st_size == 16)
        #expect(status.st_mode & 0o777 == 0o600)
    }

    @Test func aNewWriterContinuesAfterTheLastSegment() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try SpoolWriter(directory: directory)
        try first.append([.accepted(SpoolFormatTests.message(1))])
        try first.sync()
        let second = try SpoolWriter(directory: directory)
        #expect(second.segmentIndex == first.segmentIndex + 1)
        try second.append([.accepted(SpoolFormatTests.message(2))])
        try second.sync()
        #expect(SpoolDirectory.replay(directory).pending.map(\.sequence) == [1, 2])
    }

    @Test func aTruncatedAndAFlippedSegmentAreReplayedUpToTheDamageAndReported() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for _ in 0..<2 {
            let writer = try SpoolWriter(directory: directory)
            try writer.append((1...3 as ClosedRange<UInt64>).map { .accepted(SpoolFormatTests.message($0)) })
            try writer.sync()
        }
        let segments = SpoolDirectory.segments(in: directory)
        let size = (try FileManager.default.attributesOfItem(atPath: segments[0].path)[.size] as? Int) ?? 0
        #expect(truncate(segments[0].path, off_t(size - 5)) == 0)
        var flipped = try Data(contentsOf: URL(fileURLWithPath: segments[1].path))
        flipped[flipped.count - 3] ^= 0xFF
        try flipped.write(to: URL(fileURLWithPath: segments[1].path))
        let replay = SpoolDirectory.replay(directory)
        #expect(replay.damage.count == 2)
        #expect(replay.damage.map(\.path) == segments.map(\.path))
        #expect(replay.damage[0].reason.contains("cut off"))
        #expect(replay.damage[1].reason.contains("checksum"))
        // Both segments keep their first two records; the third of each is lost to the damage.
        #expect(replay.pending.map(\.sequence) == [1, 2])
    }
}
