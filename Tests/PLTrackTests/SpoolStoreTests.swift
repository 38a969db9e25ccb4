import Foundation
import Testing

@testable import PLTrack

/// The spool store deletes what is resolved and keeps what is not.
struct SpoolStoreTests {
    static func fileBytes(_ directory: String) -> Int {
        SpoolDirectory.segments(in: directory).reduce(0) { total, segment in
            total + ((try? FileManager.default.attributesOfItem(atPath: segment.path)[.size] as? Int) ?? 0)
        }
    }

    @Test func resolvedSegmentsAreDeletedAndTheRestReplays() throws {
        let directory = NSTemporaryDirectory() + "pltrackd-store-\(UUID().uuidString.prefix(8))/spool"
        try FileManager.default.createDirectory(
            atPath: (directory as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        let store = try SpoolStore(directory: directory, segmentBytes: 300)
        for sequence in 1...30 as ClosedRange<UInt64> {
            try store.append([SpoolFormatTests.message(sequence)])
        }
        try store.sync()
        let segmentsBefore = SpoolDirectory.segments(in: directory).count
        #expect(segmentsBefore > 3)
        #expect(store.bytes == Self.fileBytes(directory))
        try store.resolve(Array(1...27))
        try store.sync()
        let segmentsAfter = SpoolDirectory.segments(in: directory).count
        #expect(segmentsAfter < segmentsBefore, "segments holding only resolved messages are deleted")
        #expect(store.deletions.segments == segmentsBefore - segmentsAfter)
        #expect(store.deletions.unsyncedDirectory == 0, "each deletion's directory fsync succeeded")
        #expect(store.bytes == Self.fileBytes(directory))
        #expect(store.pendingMessages == 3)
        #expect(SpoolDirectory.replay(directory).pending.map(\.sequence) == [28, 29, 30])
    }
}
