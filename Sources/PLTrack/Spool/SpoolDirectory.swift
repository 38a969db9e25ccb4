import Foundation
import NIOCore

/// Reads a spool directory back after a start: which messages are still undelivered, and what
/// damage was found on the way.
enum SpoolDirectory {
    /// A segment file and its number.
    struct Segment: Equatable {
        var index: UInt64
        var path: String
    }

    /// Damage found in one segment: its path, the byte offset, and why.
    struct Damage: Equatable, CustomStringConvertible {
        var path: String
        var offset: Int
        var reason: String
        /// Bytes from the damage to the end of the segment, which replay skips.
        var bytesSkipped: Int

        var description: String {
            "\(self.path) at byte \(self.offset): \(self.reason); \(self.bytesSkipped) bytes skipped"
        }
    }

    /// A message the spool holds without a final outcome: where it is, when it was accepted,
    /// and its kind and request (what it may have been merged into). Bodies stay on disk; the
    /// backlog reader loads them when there is room.
    struct PendingMessage: Equatable {
        var sequence: UInt64
        var segment: UInt64
        var acceptedAtMilliseconds: Int64
        var kind: TrackKind = .prompt
        var requestID: RequestID = .integer(0)
    }

    /// What a replay found.
    struct Replay: Equatable {
        /// Messages accepted and not resolved, in acceptance order.
        var pending: [PendingMessage]
        /// Every segment read, oldest first.
        var segments: [Segment]
        var damage: [Damage]
        /// The highest sequence number found, resolved or not; new messages continue after it.
        var highestSequence: UInt64
        /// How many calls each segment holds records of, resolved or not: how much of a
        /// segment is still live decides whether it is compacted.
        var callsPerSegment: [UInt64: Int] = [:]
        /// Logs PromptLayer answered, with the ids their refs stand for, carried into the refs
        /// file (``LearnedRefsFile``) when their segments went, oldest first.
        var carriedRefs: [LearnedRef] = []
        /// Logs PromptLayer answered, recorded in each segment read.
        var learnedInSegments: [UInt64: [LearnedRef]] = [:]

        /// Every log PromptLayer answered, with the ids their refs stand for, in the order
        /// recorded: a ref recorded twice stands for its last id.
        var learned: [LearnedRef] {
            self.carriedRefs + self.learnedInSegments.keys.sorted().flatMap { self.learnedInSegments[$0] ?? [] }
        }

        static let empty = Replay(pending: [], segments: [], damage: [], highestSequence: 0)
    }

    /// Flushes the directory's entries, so that a segment created or deleted stays so after a
    /// power failure; returns whether the `fsync` succeeded.
    @discardableResult
    static func syncEntries(of directory: String) -> Bool {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            return false
        }
        defer { close(descriptor) }
        return fsync(descriptor) == 0
    }

    static func path(ofSegment index: UInt64, in directory: String) -> String {
        let hex = String(index, radix: 16)
        return "\(directory)/segment-\(String(repeating: "0", count: max(0, 16 - hex.count)))\(hex).pltspool"
    }

    /// The segment files in `directory`, oldest first.
    static func segments(in directory: String) -> [Segment] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> Segment? in
            guard name.hasPrefix("segment-"), name.hasSuffix(".pltspool"),
                let index = UInt64(name.dropFirst("segment-".count).dropLast(".pltspool".count), radix: 16)
            else {
                return nil
            }
            return Segment(index: index, path: "\(directory)/\(name)")
        }.sorted { $0.index < $1.index }
    }

    /// Reads every segment; damaged ones are read up to the damage, which is reported.
    ///
    /// A message's outcome is always written after its acceptance, in the same or a later
    /// segment, so what is held is only what is still pending as the segments go by. A message
    /// compaction copied forward is where its last copy is: a kill between the copy and the old
    /// segment's deletion leaves two, which count once.
    static func replay(_ directory: String) -> Replay {
        let segments = Self.segments(in: directory)
        var pending: [UInt64: PendingMessage] = [:]
        var damage: [Damage] = []
        var highest: UInt64 = 0
        var calls: [UInt64: Int] = [:]
        var learned: [UInt64: [LearnedRef]] = [:]
        let carried = LearnedRefsFile.read(directory: directory)
        damage += carried.damage.map { [$0] } ?? []
        for segment in segments {
            let contents = FileManager.default.contents(atPath: segment.path) ?? Data()
            let replay = SegmentReplay.read(ByteBuffer(bytes: contents))
            for record in replay.records {
                if let message = record.message {
                    pending[message.sequence] = PendingMessage(
                        sequence: message.sequence, segment: segment.index,
                        acceptedAtMilliseconds: message.acceptedAtMilliseconds, kind: message.kind,
                        requestID: message.requestID)
                    highest = max(highest, message.sequence)
                    calls[segment.index, default: 0] += 1
                } else if let sequence = record.resolvedSequence {
                    pending[sequence] = nil
                    if case .learned(let entry) = record {
                        learned[segment.index, default: []].append(entry)
                    }
                }
            }
            if let found = replay.damage {
                damage.append(
                    Damage(
                        path: segment.path, offset: found.offset, reason: found.reason,
                        bytesSkipped: contents.count - found.offset))
            }
        }
        return Replay(
            pending: pending.values.sorted { $0.sequence < $1.sequence }, segments: segments, damage: damage,
            highestSequence: highest, callsPerSegment: calls, carriedRefs: carried.refs, learnedInSegments: learned)
    }
}

extension SpoolDirectory.Replay {
    /// The pending calls PromptLayer may have already: those on their way when the daemon
    /// stopped (`inFlight`, the workers' slots), and those merged into one of them: metadata
    /// for the same request taken before it, and calls naming a log's ref by `request_ref`
    /// (folded into its body).
    func possiblyDelivered(inFlight: Set<UInt64>) -> Int {
        let sent = self.pending.filter { inFlight.contains($0.sequence) }
        guard !sent.isEmpty else {
            return 0
        }
        var latestMetadata: [RequestID: UInt64] = [:]
        var loggedRefs: Set<String> = []
        for call in sent {
            if call.kind == .metadata {
                latestMetadata[call.requestID] = max(latestMetadata[call.requestID] ?? 0, call.sequence)
            } else if call.kind == .log, let ref = call.requestID.ref {
                loggedRefs.insert(ref)
            }
        }
        return self.pending.count { call in
            if inFlight.contains(call.sequence) {
                return true
            }
            if call.kind == .metadata, let latest = latestMetadata[call.requestID], call.sequence < latest {
                return true
            }
            return call.kind != .log && call.requestID.ref.map(loggedRefs.contains) == true
        }
    }
}
