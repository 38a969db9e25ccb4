import Foundation
import NIOCore
import Testing

@testable import PLTrack

/// Compaction on disk: a segment that only a few long-retried calls keep is copied forward and
/// deleted, and a kill at any point of it replays every pending call exactly once.
struct SpoolCompactionTests {
    /// A fresh spool directory under a directory of its own, removed by `body`'s caller.
    static func withDirectory(_ body: (String) throws -> Void) throws {
        let parent = NSTemporaryDirectory() + "pltrackd-compaction-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: parent) }
        try body(parent + "/spool")
    }

    /// Writes calls 1…`count` in small segments and resolves all but `pinned`; returns the store.
    static func pinnedStore(in directory: String, count: UInt64 = 40, pinned: Set<UInt64>) throws -> SpoolStore {
        let store = try SpoolStore(directory: directory, segmentBytes: 400)
        for sequence in 1...count {
            try store.append([SpoolFormatTests.message(sequence)])
        }
        try store.resolve((1...count).filter { !pinned.contains($0) })
        try store.sync()
        return store
    }

    @Test func aSegmentKeptByOneCallIsCopiedForwardAndDeleted() throws {
        try Self.withDirectory { directory in
            let store = try Self.pinnedStore(in: directory, pinned: [2])
            let before = SpoolDirectory.segments(in: directory).map(\.index)
            #expect(before.count > 3, "call 2 keeps segment 1 and every one after it")
            #expect(store.oldestSegment?.segment == before.first)
            try store.compact(try #require(store.oldestSegment?.segment))
            // The copy went to the segment being written (a new one, when that was full).
            let after = SpoolDirectory.segments(in: directory).map(\.index)
            #expect(after == [store.position.segment], "only the segment being written is left")
            #expect(store.compactions == (1, 1))
            #expect(store.bytes == SpoolStoreTests.fileBytes(directory))
            #expect(store.pendingMessages == 1)
            let replay = SpoolDirectory.replay(directory)
            #expect(replay.pending.map(\.sequence) == [2])
            #expect(replay.pending.first?.segment == store.position.segment)
            // Resolved in its new place: nothing is left to replay.
            try store.resolve([2])
            try store.sync()
            #expect(SpoolDirectory.replay(directory).pending.isEmpty)
        }
    }

    @Test func aKillAfterTheCopyBeforeTheDeletionReplaysTheCallOnce() throws {
        try Self.withDirectory { directory in
            do {
                let store = try Self.pinnedStore(in: directory, pinned: [2, 3])
                let copied = try store.copyForward(from: try #require(store.oldestSegment?.segment))
                #expect(copied == [2, 3])
                // The store goes away here, as the daemon would at a kill: the old segment stays.
            }
            let replay = SpoolDirectory.replay(directory)
            #expect(replay.pending.map(\.sequence) == [2, 3], "both copies on disk, each call counted once")
            let oldest = try #require(replay.segments.first?.index)
            #expect(replay.pending.allSatisfy { $0.segment != oldest }, "the copies are the live records")

            // The next start deletes the old segment at once and reads each call back once.
            let restarted = try SpoolStore(directory: directory, segmentBytes: 400, replay: replay)
            #expect(!SpoolDirectory.segments(in: directory).map(\.index).contains(oldest))
            #expect(restarted.pendingMessages == 2)
            let reader = BacklogReader(directory: directory, replay: replay)
            let read = reader.read(limit: 100, writerSegment: restarted.position.segment)
            #expect(read.map(\.sequence) == [2, 3])
        }
    }

    @Test func aTornCopyLeavesTheCallInItsOldSegment() throws {
        try Self.withDirectory { directory in
            let oldest: UInt64
            do {
                let store = try Self.pinnedStore(in: directory, pinned: [2])
                oldest = try #require(store.oldestSegment?.segment)
                _ = try store.copyForward(from: oldest)
                // A kill in the middle of the copy's write: cut the record short.
                let path = SpoolDirectory.path(ofSegment: store.position.segment, in: directory)
                #expect(truncate(path, off_t(store.position.offset - 5)) == 0)
            }
            let replay = SpoolDirectory.replay(directory)
            #expect(replay.pending.map(\.sequence) == [2])
            #expect(replay.pending.first?.segment == oldest, "the old segment still holds it")
            #expect(replay.damage.count == 1, "the torn copy is reported")
            let restarted = try SpoolStore(directory: directory, segmentBytes: 400, replay: replay)
            let reader = BacklogReader(directory: directory, replay: replay)
            #expect(reader.read(limit: 100, writerSegment: restarted.position.segment).map(\.sequence) == [2])
        }
    }

    @Test func theBacklogReaderSkipsCopiesOfCallsThePipelineHas() throws {
        try Self.withDirectory { directory in
            let store = try Self.pinnedStore(in: directory, pinned: [2])
            let reader = BacklogReader(directory: directory, replay: .empty)
            let start = store.position
            try store.compact(try #require(store.oldestSegment?.segment))
            reader.reposition(segment: start.segment, offset: start.offset)
            try store.append([SpoolFormatTests.message(41)])
            #expect(
                reader.read(limit: 100, writerSegment: store.position.segment).map(\.sequence) == [41],
                "call 2's copy is not backlog: it never left memory")
        }
    }
}
