import Foundation
import NIOCore
import Testing

@testable import PLTrack

/// A log's answer lives as long as its ref is remembered, not as long as its spool segment.
struct LearnedRefsFileTests {
    static func directory() throws -> String {
        let parent = NSTemporaryDirectory() + "pltrackd-refs-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        return parent + "/spool"
    }

    /// Writes log `sequence`, answered `ago` milliseconds ago with `id`, then enough calls to
    /// fill segments past it, and resolves them all: the log's segment is deleted.
    static func answerAndOutlive(
        _ store: SpoolStore, log sequence: UInt64, ref: String, id: Int64, ago: Int64
    ) throws {
        try store.append([SpoolFormatTests.message(sequence)])
        let learned = LearnedRef(
            sequence: sequence, ref: ref, id: id, learnedAtMilliseconds: WallClock.milliseconds() - ago)
        _ = try store.append(records: [.learned(learned)], marking: nil)
        let after = (sequence + 1)...(sequence + 20)
        try store.append(after.map { SpoolFormatTests.message($0) })
        try store.resolve(Array(after))
        try store.sync()
    }

    @Test func aRefLearnedInADeletedSegmentIsCarriedIntoTheRefsFile() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        let store = try SpoolStore(directory: directory, segmentBytes: 300, refTTL: .hours(1))
        try Self.answerAndOutlive(store, log: 1, ref: "kept", id: 42, ago: 0)
        try Self.answerAndOutlive(store, log: 30, ref: "forgotten", id: 43, ago: 3_600_000)
        #expect(store.deletions.segments >= 2, "both logs' segments were deleted")
        #expect(store.refsCarried == 1 && store.refsNotCarried == 0)

        let replay = SpoolDirectory.replay(directory)
        #expect(replay.damage.isEmpty)
        #expect(replay.carriedRefs.map(\.ref) == ["kept"], "a ref past --ref-ttl is not carried")
        #expect(replay.learned.last { $0.ref == "kept" }?.id == 42)
        #expect(replay.pending.isEmpty, "neither log is pending again")

        // A restart keeps it, and a restarted pipeline remembers it for what is left of the hour.
        _ = try SpoolStore(directory: directory, segmentBytes: 300, replay: replay, refTTL: .hours(1))
        #expect(SpoolDirectory.replay(directory).carriedRefs.map(\.ref) == ["kept"])
        var refs = RequestRefs(ttl: .hours(1))
        let now = NIODeadline.now()
        for entry in replay.learned {
            refs.recovered(entry, now: now, wallMilliseconds: WallClock.milliseconds())
        }
        #expect(refs.knownCount == 1)
        #expect(refs.expire(now: now + .minutes(59)).isEmpty && refs.knownCount == 1)
        _ = refs.expire(now: now + .minutes(61))
        #expect(refs.knownCount == 0, "forgotten an hour after the answer")
    }

    @Test func theRefsFileKeepsTheNewestRememberedRecordOfEachRef() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: (directory as NSString).deletingLastPathComponent) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let now = WallClock.milliseconds()
        let file = try LearnedRefsFile(
            directory: directory, ttlMilliseconds: 60_000,
            refs: [
                LearnedRef(sequence: 1, ref: "a", id: 1, learnedAtMilliseconds: now - 1000),
                LearnedRef(sequence: 2, ref: "old", id: 2, learnedAtMilliseconds: now - 61_000),
                LearnedRef(sequence: 3, ref: "a", id: 3, learnedAtMilliseconds: now - 500),
            ])
        #expect(LearnedRefsFile.read(directory: directory).refs.map(\.id) == [3])
        // Appends grow it until it is rewritten with only what is remembered.
        for round in 0..<40 {
            let refs = (0..<100).map {
                LearnedRef(
                    sequence: UInt64(round * 100 + $0), ref: "r\($0)", id: Int64(round), learnedAtMilliseconds: now)
            }
            try file.append(refs)
        }
        #expect(file.carried == 4_000)
        let contents = LearnedRefsFile.read(directory: directory)
        #expect(contents.damage == nil)
        #expect(contents.refs.count < 2 * 101 + 1024 + 100, "rewritten: \(contents.refs.count) records")
        let newest = Dictionary(contents.refs.map { ($0.ref, $0.id) }) { _, later in later }
        #expect(newest["r7"] == 39 && newest["a"] == 3)
    }
}

/// A call merged into one on its way at a crash may reach PromptLayer twice too: it counts as
/// recovered in flight.
struct PossiblyDeliveredTests {
    @Test func callsMergedIntoOneInFlightCountAsInFlight() {
        func call(_ sequence: UInt64, _ kind: TrackKind, _ request: RequestID) -> SpoolDirectory.PendingMessage {
            SpoolDirectory.PendingMessage(
                sequence: sequence, segment: 1, acceptedAtMilliseconds: 0, kind: kind, requestID: request)
        }
        let replay = SpoolDirectory.Replay(
            pending: [
                call(1, .metadata, .integer(7)),  // merged into 3
                call(2, .metadata, .integer(8)),  // another request
                call(3, .metadata, .integer(7)),  // in flight
                call(4, .metadata, .integer(7)),  // taken after it: not merged into it
                call(5, .score, .ref("r")),  // folded into 6
                call(6, .log, .ref("r")),  // in flight
                call(7, .group, .ref("other")),
            ], segments: [], damage: [], highestSequence: 7)
        #expect(replay.possiblyDelivered(inFlight: [3, 6]) == 4)
        #expect(replay.possiblyDelivered(inFlight: []) == 0)
    }
}
