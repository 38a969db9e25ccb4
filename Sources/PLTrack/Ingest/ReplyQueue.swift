import DequeModule

/// What one connection owes its client, in the order of the messages answered: every reply,
/// `flush` included, leaves from the front, so no reply ever passes an earlier one.
///
/// A reply is ready at once, or waits for the spool to be durable through a call (the `"ok"`
/// of a tracking call with `--fsync always`), or for an event in the daemon (awaited: a
/// `flush` that completes, a `request_id` query answered).
struct ReplyQueue {
    private enum Entry {
        case ready(Reply)
        /// Released once the spool is durable through call number `sequence`.
        case durable(Reply, after: UInt64)
        /// Released when the awaited reply numbered `token` is ready.
        case awaited(token: UInt64)
    }

    private var entries: Deque<Entry> = []
    /// Whether a wait for the spool is under way.
    private var waitsForDisk = false
    /// The calls of the replies queued to wait for the disk since the last wait started.
    private var unwaited: (from: UInt64, through: UInt64)?

    var isEmpty: Bool { self.entries.isEmpty }

    mutating func append(_ reply: Reply) {
        self.entries.append(.ready(reply))
    }

    mutating func append(_ reply: Reply, durableAfter sequence: UInt64) {
        self.entries.append(.durable(reply, after: sequence))
        self.unwaited = (self.unwaited?.from ?? sequence, sequence)
    }

    mutating func appendAwaited(token: UInt64) {
        self.entries.append(.awaited(token: token))
    }

    /// The reply at the front, when it may leave.
    mutating func popReleased() -> Reply? {
        guard case .ready(let reply) = self.entries.first else {
            return nil
        }
        self.entries.removeFirst()
        return reply
    }

    /// The awaited reply numbered `token` is `reply`.
    mutating func awaitedReady(token: UInt64, with reply: Reply) {
        guard let index = self.entries.firstIndex(where: { Self.isAwaited($0, token) }) else {
            return
        }
        self.entries[index] = .ready(reply)
    }

    /// The calls to wait for, when replies wait for the disk and no wait is under way.
    mutating func diskWaitToStart() -> (from: UInt64, through: UInt64)? {
        guard !self.waitsForDisk, let range = self.unwaited else {
            return nil
        }
        self.waitsForDisk = true
        self.unwaited = nil
        return range
    }

    /// The spool is durable through `through`, or failed to be: an `"ok"` waiting for it
    /// becomes a `spool_error` then, because the call is held only in memory.
    mutating func diskCaughtUp(through: UInt64, failure: String?) {
        self.waitsForDisk = false
        for index in self.entries.indices {
            guard case .durable(let reply, let sequence) = self.entries[index] else {
                continue
            }
            guard sequence <= through else {
                break  // call numbers only grow along the queue
            }
            self.entries[index] = .ready(Self.reply(reply, failure: failure))
        }
    }

    private static func reply(_ reply: Reply, failure: String?) -> Reply {
        guard case .ok(let id) = reply, let failure else {
            return reply
        }
        return .error(
            id: id,
            ProtocolError(
                .spoolError,
                "the spool could not write or flush the message to disk (\(failure)); it is kept in memory and will be sent, but a crash or power failure could lose it"
            ))
    }

    private static func isAwaited(_ entry: Entry, _ token: UInt64) -> Bool {
        if case .awaited(token) = entry {
            return true
        }
        return false
    }
}
