import Foundation
import Glibc
import NIOCore

/// The refs PromptLayer answered that outlive their spool segments: `refs.pltspool` beside them.
///
/// A log's answer is recorded in the segment being written (``SpoolRecord/learned(_:)``), and
/// that segment is deleted once everything in it and before it is resolved, which may be long
/// before `--ref-ttl` runs out. A call that names the ref later, or one still pending in a later
/// segment, must find the id after a restart all the same. So when a segment goes, the learned
/// records in it that are still remembered are appended here first, and flushed before the
/// segment is unlinked. The file is rewritten with only the remembered ones when the start finds
/// it, and when it has grown past twice what its last rewrite kept: writing costs each learned
/// record at most three times, whatever the segments' churn.
///
/// On disk: the spool header, then `learned` records, as in a segment. Not thread-safe: the
/// spool's writer owns it (``SpoolStore``).
final class LearnedRefsFile {
    /// What reading the file found.
    struct Contents: Equatable {
        /// Every intact record, oldest first.
        var refs: [LearnedRef] = []
        /// Where and why reading stopped before the end.
        var damage: SpoolDirectory.Damage?
    }

    private let directory: String
    private let ttlMilliseconds: Int64
    /// Records in the file now, and how many its last rewrite kept.
    private var records = 0
    private var keptAtRewrite = 0
    /// Learned records carried here from deleted segments.
    private(set) var carried = 0

    static func path(in directory: String) -> String { "\(directory)/refs.pltspool" }

    /// Reads the file in `directory`, if there is one.
    static func read(directory: String) -> Contents {
        let path = Self.path(in: directory)
        guard let data = FileManager.default.contents(atPath: path) else {
            return Contents()
        }
        let contents = ByteBuffer(bytes: data)
        let replay = SegmentReplay.read(contents)
        let refs = replay.records.compactMap { record -> LearnedRef? in
            if case .learned(let learned) = record { learned } else { nil }
        }
        let damage = replay.damage.map {
            SpoolDirectory.Damage(
                path: path, offset: $0.offset, reason: $0.reason, bytesSkipped: contents.readableBytes - $0.offset)
        }
        return Contents(refs: refs, damage: damage)
    }

    /// Rewrites the file in `directory` with those of `refs` still remembered (`ttl` after they
    /// were learned), the newest record for each ref, so that appends start after an intact end.
    init(directory: String, ttlMilliseconds: Int64, refs: [LearnedRef]) throws {
        self.directory = directory
        self.ttlMilliseconds = ttlMilliseconds
        try self.rewrite(refs)
    }

    /// Appends `refs`, learned records whose segment is about to be deleted, and flushes them.
    func append(_ refs: [LearnedRef]) throws {
        let path = Self.path(in: self.directory)
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw Self.error("open", path)
        }
        defer { close(descriptor) }
        let size = lseek(descriptor, 0, SEEK_END)
        do {
            try Self.write(refs, to: descriptor, path: path)
        } catch {
            // Cut off a torn record, so that later appends stay readable.
            if size >= 0 {
                _ = ftruncate(descriptor, size)
            }
            throw error
        }
        self.records += refs.count
        self.carried += refs.count
        if self.records > 2 * self.keptAtRewrite + 1024 {
            try self.rewrite(Self.read(directory: self.directory).refs)
        }
    }

    /// Replaces the file with the remembered ones of `refs`: written to a new file, flushed,
    /// renamed over the old one, the directory flushed.
    private func rewrite(_ refs: [LearnedRef]) throws {
        let now = WallClock.milliseconds()
        var newest: [String: Int] = [:]
        for (index, learned) in refs.enumerated() {
            newest[learned.ref] = index
        }
        let kept = refs.enumerated().filter { index, learned in
            newest[learned.ref] == index && learned.isRemembered(at: now, ttlMilliseconds: self.ttlMilliseconds)
        }.map(\.element)
        let path = Self.path(in: self.directory)
        let fresh = path + ".new"
        let descriptor = open(fresh, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw Self.error("create", fresh)
        }
        do {
            defer { close(descriptor) }
            var header = SegmentReplay.header()
            try Self.write(&header, to: descriptor, path: fresh)
            try Self.write(kept, to: descriptor, path: fresh)
        }
        guard rename(fresh, path) == 0 else {
            throw Self.error("rename", fresh)
        }
        SpoolDirectory.syncEntries(of: self.directory)
        self.records = kept.count
        self.keptAtRewrite = kept.count
    }

    private static func write(_ refs: [LearnedRef], to descriptor: Int32, path: String) throws {
        var buffer = ByteBuffer()
        for learned in refs {
            SpoolRecord.learned(learned).write(to: &buffer)
        }
        try Self.write(&buffer, to: descriptor, path: path)
    }

    /// Writes all of `buffer`, then flushes the file.
    private static func write(_ buffer: inout ByteBuffer, to descriptor: Int32, path: String) throws {
        while buffer.readableBytes > 0 {
            let written = buffer.withUnsafeReadableBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw Self.error("write", path)
            }
            buffer.moveReaderIndex(forwardBy: written)
        }
        guard fsync(descriptor) == 0 else {
            throw Self.error("fsync", path)
        }
    }

    private static func error(_ operation: String, _ path: String) -> SpoolWriter.WriteError {
        SpoolWriter.WriteError(description: "cannot \(operation) \(path): \(String(cString: strerror(errno)))")
    }
}
