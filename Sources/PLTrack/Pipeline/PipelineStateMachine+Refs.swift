import NIOCore

/// The calls that name a `log.request`'s ref (``RequestRefs``): a log takes its calls with it
/// (folded into its body or behind it), its answer lets them go with the id or sends them to the
/// dead letters.
extension PipelineStateMachine {
    /// A refused call is in the dead letters: it ends there.
    mutating func refusalRecorded(_ envelope: Envelope) -> PipelineEffects {
        var effects = PipelineEffects()
        self.refusing -= 1
        self.ledger.deadLettered += 1
        self.resolve(envelope, &effects)
        self.releaseIngest(&effects)
        return effects
    }

    /// PromptLayer answered a `log.request`: with the id, the calls for its ref may go; without
    /// one, they are refused. With a spool, the answer is recorded with the id, so that after
    /// a restart the calls still find it and the log is not sent again.
    mutating func logAnswered(
        _ envelope: Envelope, id: Int64?, now: NIODeadline, _ effects: inout PipelineEffects
    ) {
        guard let ref = envelope.message.coalescingKey.requestID.ref else {
            self.resolve(envelope, &effects)
            return
        }
        guard let id else {
            self.refs.failed(ref, .logFailed, detail: "PromptLayer answered the log.request without an id", now: now)
            effects.answeredRefs.append(ref)
            self.resolve(envelope, &effects)
            return
        }
        self.refs.learned(ref, id: id, now: now)
        effects.answeredRefs.append(ref)
        if self.isSpooled {
            effects.learned.append(LearnedRef(sequence: envelope.sequence, ref: ref, id: id))
            effects.resolved += envelope.absorbed
        }
        self.resolve(envelope, onDisk: false, &effects)
        if let next = self.refs.nextDeadline {
            self.arm(next, &effects)
        }
    }

    /// The call on its way for a request ended; the one parked behind it goes next. A call
    /// that names a ref goes with the id its log was answered with, or is refused when the log
    /// failed (and the next one is looked at).
    mutating func requestEnded(_ envelope: Envelope, now: NIODeadline, _ effects: inout PipelineEffects) {
        let request = envelope.message.coalescingKey.requestID
        while let next = self.order.finished(request) {
            guard let ref = request.ref, next.message.kind != .log else {
                self.queue.append(next)
                return
            }
            switch self.refs.route(next, ref: ref, isOrdered: false, now: now) {
            case .ready(let ready):
                self.queue.append(ready)
                return
            case .refused(let refused):
                self.refuse(refused, &effects)
            case .waiting:
                self.armRefs(&effects)
            }
        }
    }

    /// The calls in `envelopes` whose ref's log is among them too, by ref.
    static func callsWithTheirLog(in envelopes: [Envelope]) -> [String: [Envelope]] {
        let logged = Set(
            envelopes.lazy.filter { $0.message.kind == .log }.compactMap(\.message.coalescingKey.requestID.ref))
        guard !logged.isEmpty else {
            return [:]
        }
        var calls: [String: [Envelope]] = [:]
        for envelope in envelopes where envelope.message.kind != .log {
            if let ref = envelope.message.coalescingKey.requestID.ref, logged.contains(ref) {
                calls[ref, default: []].append(envelope)
            }
        }
        return calls
    }

    /// A log goes upstream with the calls for its ref at hand folded into it (``LogFolding``):
    /// those due with it (`batch`), those that waited for it and those still coalescing. The
    /// rest wait behind it for its id.
    mutating func logTaken(
        _ log: Envelope, ref: String, with batch: [Envelope], _ effects: inout PipelineEffects
    ) {
        let calls = (batch + self.refs.logTaken(ref) + self.coalescer.removeAll(forRef: ref)).sorted {
            $0.sequence < $1.sequence
        }
        let folding = LogFolding.fold(calls, into: log, maximumBytes: self.coalescer.maximumMergedBytes)
        for call in folding.folded {
            self.ledger.coalesced += 1
            self.ledger.foldedByType[call.message.kind.rawValue, default: 0] += 1
            // Its spool record ends with the log's, which carries its values.
            self.resolve(call, onDisk: false, &effects)
        }
        self.admit(folding.log, &effects)
        for call in folding.after {
            self.admit(call, &effects)
        }
    }

    /// A call will not be sent: the driver writes its dead letter, then reports
    /// ``refusalRecorded(_:)``.
    mutating func refuse(_ refused: RefusedCall, _ effects: inout PipelineEffects) {
        self.refusing += 1
        effects.refused.append(refused)
    }

    mutating func armRefs(_ effects: inout PipelineEffects) {
        if let next = self.refs.nextDeadline {
            self.arm(next, &effects)
        }
    }
}
