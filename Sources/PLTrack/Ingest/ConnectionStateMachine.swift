import DequeModule

/// One client connection as a state machine: what it has read and not yet handled, what it
/// owes the client, and whether it reads. ``ConnectionHandler`` feeds it events and carries
/// out the actions ``nextAction()`` returns until there are none.
///
/// - Messages are handled strictly in the order read. The tracking calls among them are
///   gathered and handed to the pipeline together (``Action/submit(_:)``), before any other
///   message and at the end of each read.
/// - When the pipeline has no room, the calls it did not take and everything read after them
///   are parked, already validated, and reading stops until there is room. Nothing is dropped.
/// - Every reply leaves through one ``ReplyQueue``, so none passes an earlier one: not an
///   `"ok"` waiting for the disk, not a `flush` waiting for delivery.
struct ConnectionStateMachine {
    /// A frame as read and validated.
    enum Input: Equatable {
        case message(InboundMessage)
        /// Answered with an error; the connection stays open.
        case rejected(ProtocolError, id: ReplyID?)
        /// Answered with an error once the replies before it are out; then the connection closes.
        case fatal(ProtocolError)
    }

    enum Action: Equatable {
        /// Hand these calls to the pipeline and report with ``submitted(_:_:waitsForDisk:)``.
        case submit([TrackMessage])
        /// Append this reply to what goes out with the next ``flushWrites``.
        case write(Reply)
        /// Write out and flush the replies appended so far.
        case flushWrites
        /// Build the `stats` reply and hand it back with ``answered(_:)``.
        case collectStats(id: ReplyID?, format: StatsFormat)
        /// Start a flush and report its reply with ``awaitedReplyReady(token:reply:)``.
        case startFlush(token: UInt64, id: ReplyID?, timeout: Duration?)
        /// Ask the pipeline for `ref`'s request id and report the reply with
        /// ``awaitedReplyReady(token:reply:)``.
        case askRequestID(token: UInt64, id: ReplyID, ref: String, timeout: Duration?)
        /// Wait for the spool and report with ``diskCaughtUp(through:failure:)``.
        case waitForDisk(from: UInt64, through: UInt64)
        /// The pipeline was full: wait for room and report with ``capacityAvailable()``.
        case waitForCapacity
        case startReading
        case stopReading
        /// Write the replies appended so far and `reply`, then close without losing it
        /// (``LingeringClose``).
        case closeAfter(Reply)
        /// Write the replies appended so far, then close.
        case close
    }

    /// What reading was stopped for; it resumes when neither holds.
    private struct Stops {
        /// The pipeline had no room for a call.
        var pipelineFull = false
        /// The client does not read its replies.
        var replyBacklog = false

        var any: Bool { self.pipelineFull || self.replyBacklog }
    }

    private enum Phase: Equatable {
        case open
        /// The client shut down its sending side: close once everything it sent is answered.
        case inputClosed
        /// An error ends the connection once the replies before it are out.
        case ending(ProtocolError)
        /// The error is on its way; the client's half-close (or a timer) ends the connection.
        case lingering
        case closed
    }

    /// The most calls handed to the pipeline at once when parked calls resume.
    static let resumeRun = 256

    private var phase = Phase.open
    /// Read and not yet handled, because the pipeline was full, in order.
    private var parked: Deque<Input> = []
    /// Tracking calls read and not yet handed on; they come before everything parked.
    private var batch: [TrackMessage] = []
    private var replies = ReplyQueue()
    private var stops = Stops()
    private var isReading = true
    private var waitsForCapacity = false
    /// Hand on every gathered call and flush the writes before the actions run out.
    private var isSettling = false
    private var hasUnflushedWrites = false
    private var nextAwaitedToken: UInt64 = 0
    /// The client's half-close ended a lingering close.
    private var closesNow = false

    // MARK: Events

    /// A frame was read. Returns whether to run the actions now: a tracking call read while
    /// nothing waits is only gathered, until the read completes.
    mutating func received(_ input: Input) -> Bool {
        switch self.phase {
        case .open, .inputClosed:
            break
        case .ending, .lingering, .closed:
            return false  // nothing after a fatal error is taken
        }
        if self.parked.isEmpty, !self.stops.pipelineFull, case .message(.track(let call)) = input {
            self.batch.append(call)
            return false
        }
        self.parked.append(input)
        return !self.stops.pipelineFull
    }

    /// The read ended: hand on what it gathered and send the replies.
    mutating func readCompleted() {
        self.isSettling = true
    }

    /// The client's replies piled up beyond the channel's high watermark (`writable` false),
    /// or drained below its low one. Returns whether reading stops for it now.
    mutating func writabilityChanged(writable: Bool) -> Bool {
        let stops = !writable && !self.stops.replyBacklog
        self.stops.replyBacklog = !writable
        return stops
    }

    /// The client shut down its sending side.
    mutating func inputClosed() {
        self.isSettling = true
        switch self.phase {
        case .open:
            self.phase = .inputClosed
        case .lingering:
            self.phase = .closed
            self.closesNow = true
        case .inputClosed, .ending, .closed:
            break
        }
    }

    /// What the pipeline said of each call of a ``Action/submit(_:)``, in order; the results
    /// end early at a call that makes the connection wait for room. Returns whether reading
    /// stopped for it now.
    mutating func submitted(
        _ calls: [TrackMessage], _ results: [Pipeline.SubmitResult], waitsForDisk: Bool
    ) -> Bool {
        for (index, result) in results.enumerated() {
            let call = calls[index]
            if result.makesTheConnectionWait(for: call) {
                for waiting in calls[index...].reversed() {
                    self.parked.prepend(.message(.track(waiting)))
                }
                let stops = !self.stops.pipelineFull
                self.stops.pipelineFull = true
                return stops
            }
            self.answer(call, result, waitsForDisk: waitsForDisk)
        }
        return false
    }

    /// The pipeline has room again: carry on with what is parked.
    mutating func capacityAvailable() {
        self.stops.pipelineFull = false
        self.waitsForCapacity = false
        self.isSettling = true
    }

    /// The reply to a ``Action/collectStats(id:format:)``.
    mutating func answered(_ reply: Reply) {
        self.replies.append(reply)
    }

    /// The reply a ``Action/startFlush(token:id:timeout:)`` or an
    /// ``Action/askRequestID(token:id:ref:timeout:)`` waited for.
    mutating func awaitedReplyReady(token: UInt64, reply: Reply) {
        self.replies.awaitedReady(token: token, with: reply)
        self.isSettling = true
    }

    mutating func diskCaughtUp(through: UInt64, failure: String?) {
        self.replies.diskCaughtUp(through: through, failure: failure)
        self.isSettling = true
    }

    /// The connection closed. Returns how many messages were read and never handled.
    mutating func closed() -> Int {
        self.phase = .closed
        let unhandled = self.parked.count + self.batch.count
        self.parked.removeAll()
        self.batch.removeAll()
        return unhandled
    }

    /// Why an idle timeout may close the connection.
    enum Idleness: Equatable {
        /// The connection owes its client nothing and waits for nothing.
        case silent
        /// Its client reads none of its replies, so reading it stopped: it holds a connection
        /// it does not use, whatever it is owed.
        case unreadReplies
    }

    /// Whether an idle timeout may close the connection, and why; `nil` while it waits for
    /// the daemon (room in the pipeline, the disk, a flush) or is closing.
    var idleness: Idleness? {
        if self.stops.replyBacklog && (self.phase == .open || self.phase == .inputClosed) {
            return .unreadReplies
        }
        guard self.phase == .open else {
            return nil
        }
        let isSilent = self.parked.isEmpty && self.batch.isEmpty && self.replies.isEmpty && !self.stops.any
        return isSilent ? .silent : nil
    }

    // MARK: Actions

    /// The next thing to do, or `nil` until the next event.
    mutating func nextAction() -> Action? {
        if self.closesNow {
            self.closesNow = false
            return .close
        }
        guard self.phase != .closed, self.phase != .lingering else {
            return nil
        }
        if let action = self.handleInput() {
            return action
        }
        if let reply = self.replies.popReleased() {
            self.hasUnflushedWrites = true
            return .write(reply)
        }
        if let (from, through) = self.replies.diskWaitToStart() {
            return .waitForDisk(from: from, through: through)
        }
        if self.stops.pipelineFull && !self.waitsForCapacity {
            self.waitsForCapacity = true
            return .waitForCapacity
        }
        if let action = self.readingOrClosing() {
            return action
        }
        if self.isSettling && self.hasUnflushedWrites {
            self.hasUnflushedWrites = false
            return .flushWrites
        }
        self.isSettling = false
        return nil
    }

    /// Hands on gathered calls and answers parked messages, in order, while the pipeline has room.
    private mutating func handleInput() -> Action? {
        guard !self.stops.pipelineFull else {
            return nil
        }
        while true {
            if !self.batch.isEmpty, self.mustHandOn {
                let calls = self.batch
                self.batch = []
                return .submit(calls)
            }
            guard let input = self.parked.popFirst() else {
                return nil
            }
            switch input {
            case .message(.track(let call)):
                self.batch.append(call)
            case .message(.ping(let id)):
                self.replies.append(.ok(id: id))
            case .message(.stats(let id, let format)):
                return .collectStats(id: id, format: format)
            case .message(.flush(let id, let timeout)):
                let token = self.nextAwaitedToken
                self.nextAwaitedToken += 1
                self.replies.appendAwaited(token: token)
                return .startFlush(token: token, id: id, timeout: timeout)
            case .message(.requestID(let id, let ref, let timeout)):
                let token = self.nextAwaitedToken
                self.nextAwaitedToken += 1
                self.replies.appendAwaited(token: token)
                return .askRequestID(token: token, id: id, ref: ref, timeout: timeout)
            case .rejected(let error, let id):
                self.replies.append(.error(id: id, error))
            case .fatal(let error):
                self.phase = .ending(error)
                self.parked.removeAll()
                return nil
            }
        }
    }

    /// Whether the gathered calls go to the pipeline now: before a message that is not a
    /// call, at the end of a read, and in runs while parked calls resume.
    private var mustHandOn: Bool {
        switch self.parked.first {
        case .message(.track)?: self.batch.count >= Self.resumeRun
        case .some: true
        case nil: self.isSettling
        }
    }

    private mutating func readingOrClosing() -> Action? {
        switch self.phase {
        case .open:
            if self.isReading == self.stops.any {
                self.isReading = !self.stops.any
                return self.isReading ? .startReading : .stopReading
            }
        case .inputClosed:
            if self.parked.isEmpty, self.batch.isEmpty, self.replies.isEmpty, !self.stops.pipelineFull {
                self.phase = .closed
                return .close
            }
        case .ending(let error):
            if self.replies.isEmpty {
                self.phase = .lingering
                return .closeAfter(.error(id: nil, error))
            }
        case .lingering, .closed:
            break
        }
        return nil
    }

    private mutating func answer(_ call: TrackMessage, _ result: Pipeline.SubmitResult, waitsForDisk: Bool) {
        switch result {
        case .accepted(let sequence):
            guard let id = call.replyID else {
                return
            }
            if waitsForDisk {
                self.replies.append(.ok(id: id), durableAfter: sequence)
            } else {
                self.replies.append(.ok(id: id))
            }
        case .full, .spoolFull:
            // Only with an id: without one the connection waits instead.
            self.replies.append(
                .error(
                    id: call.replyID,
                    ProtocolError(
                        .overloaded,
                        "the spool is full (--spool-max-bytes) while PromptLayer is slow or unreachable; the message was not taken, send it again later"
                    )))
        case .shuttingDown:
            self.replies.append(
                .error(
                    id: call.replyID, ProtocolError(.shuttingDown, "pltrackd is stopping and takes no new messages")))
        }
    }
}
