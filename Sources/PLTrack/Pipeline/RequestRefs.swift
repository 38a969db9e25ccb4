import DequeModule
import NIOCore

/// What the pipeline knows of each client ref: the id PromptLayer gave its `log.request`, why
/// its log failed, or the calls that name it while no log for it has been taken.
///
/// A call with `request_ref` goes upstream only with the id: ``route(_:isOrdered:now:)``
/// rewrites it once the id is known; until then it waits behind its log in ``RequestOrder``
/// (when the log is on its way) or here (when no log has come yet). Waiting here ends when the
/// log comes (``logTaken(_:)``) or after `ttl`, when the calls are refused as `unknown_ref`.
/// What was learned is remembered for `ttl` after the log was answered, so calls that come
/// later still find the id.
///
/// Both are bounded (``RefLimits``): a call that would wait past the bound on waiting calls or
/// their bytes is refused as `ref_wait_full` (it goes to the dead letters, never blocks the
/// connection that may carry its log); past the bound on remembered refs, the oldest is
/// forgotten early (counted), so that calls naming it later wait for a log again.
struct RequestRefs {
    /// Where a call that names a ref goes next.
    enum Route: Equatable {
        /// On towards PromptLayer (through ``RequestOrder``), its body naming the id when known.
        case ready(Envelope)
        /// It waits here for its ref's log.
        case waiting
        /// It cannot be delivered: it goes to the dead letters with this reason.
        case refused(RefusedCall)
    }

    private enum Fate {
        case logged(id: Int64)
        case failed(RefusedCall.Reason, detail: String)
    }

    /// How long a ref is remembered after its log was answered, and how long a call waits for a
    /// log that does not come.
    var ttl: TimeAmount
    var limits: RefLimits
    private var fates: [String: Fate] = [:]
    /// Refs with a fate, by when they are forgotten; in the order learned, so the due ones are a prefix.
    private var forgetting: Deque<(ref: String, at: NIODeadline)> = []
    /// The calls waiting for each ref's log, and when they give up.
    private var waiting: [String: (until: NIODeadline, calls: [Envelope])] = [:]
    /// Refs with calls waiting, by when those calls give up; in the order they began to wait.
    private var expiring: Deque<(ref: String, at: NIODeadline)> = []
    /// Calls waiting here for a log, and the bytes of their bodies.
    private(set) var waitingCount = 0
    private(set) var waitingBytes = 0
    /// Refs forgotten before `ttl` ran out, to stay within ``RefLimits/knownRefs``.
    private(set) var forgottenEarly = 0

    init(ttl: TimeAmount, limits: RefLimits = RefLimits()) {
        self.ttl = ttl
        self.limits = limits
    }

    /// How many refs are remembered with their id or failure.
    var knownCount: Int { self.fates.count }

    /// What a `request_id` query for `ref` is answered with now; `nil` while its log is unanswered.
    func answer(for ref: String) -> RequestIDAnswer? {
        switch self.fates[ref] {
        case .logged(let id)?: .id(id)
        case .failed(_, let detail)?: .logFailed(detail)
        case nil: nil
        }
    }

    /// When the next waiting calls give up or the next ref is forgotten.
    var nextDeadline: NIODeadline? {
        [self.forgetting.first?.at, self.expiring.first?.at].compactMap { $0 }.min()
    }

    /// Routes `envelope`, a call that names `ref` (not a log). `isOrdered` tells whether a call
    /// for the ref is already on its way (its log, say), so that this one may wait behind it.
    mutating func route(_ envelope: Envelope, ref: String, isOrdered: Bool, now: NIODeadline) -> Route {
        switch self.fates[ref] {
        case .logged(let id)?:
            var ready = envelope
            ready.message.body = envelope.message.body.naming(requestID: id)
            return .ready(ready)
        case .failed(let reason, let detail)?:
            return .refused(RefusedCall(envelope: envelope, reason: reason, detail: detail))
        case nil where isOrdered:
            return .ready(envelope)
        case nil:
            let bytes = envelope.message.body.byteCount
            guard self.waitingCount < self.limits.waitingCalls, self.waitingBytes + bytes <= self.limits.waitingBytes
            else {
                let detail =
                    "\(self.waitingCount) calls of \(self.waitingBytes) bytes already wait for logs not yet sent (--ref-wait-max-calls \(self.limits.waitingCalls), --ref-wait-max-bytes \(self.limits.waitingBytes))"
                return .refused(RefusedCall(envelope: envelope, reason: .waitingFull, detail: detail))
            }
            if self.waiting[ref] == nil {
                let until = now + self.ttl
                self.waiting[ref] = (until, [])
                self.expiring.append((ref, until))
            }
            self.waiting[ref]?.calls.append(envelope)
            self.waitingCount += 1
            self.waitingBytes += bytes
            return .waiting
        }
    }

    /// The log for `ref` was taken: the calls that waited for it, in order, go behind it.
    mutating func logTaken(_ ref: String) -> [Envelope] {
        guard let calls = self.waiting.removeValue(forKey: ref)?.calls else {
            return []
        }
        self.waitingCount -= calls.count
        self.waitingBytes -= calls.reduce(0) { $0 + $1.message.body.byteCount }
        return calls
    }

    /// PromptLayer answered the log for `ref` with `id`.
    mutating func learned(_ ref: String, id: Int64, now: NIODeadline) {
        self.remember(ref, .logged(id: id), now: now)
    }

    /// A spool replay found `entry`: its ref is remembered for what is left of `ttl` at
    /// `wallMilliseconds` (a clock set back counts as no time passed).
    mutating func recovered(_ entry: LearnedRef, now: NIODeadline, wallMilliseconds: Int64) {
        let age = TimeAmount.milliseconds(max(0, wallMilliseconds - entry.learnedAtMilliseconds))
        guard age < self.ttl else {
            return
        }
        self.remember(entry.ref, .logged(id: entry.id), now: now - age)
    }

    /// The log for `ref` will not be answered with an id: calls that name it are refused.
    mutating func failed(_ ref: String, _ reason: RefusedCall.Reason, detail: String, now: NIODeadline) {
        self.remember(ref, .failed(reason, detail: detail), now: now)
    }

    /// Forgets refs remembered for `ttl` and returns the calls that waited `ttl` for a log, refused.
    mutating func expire(now: NIODeadline) -> [RefusedCall] {
        while let first = self.forgetting.first, first.at <= now {
            self.forgetting.removeFirst()
            self.fates[first.ref] = nil
        }
        var refused: [RefusedCall] = []
        while let first = self.expiring.first, first.at <= now {
            self.expiring.removeFirst()
            // Calls that began to wait after a log took the earlier ones have a later deadline.
            guard let until = self.waiting[first.ref]?.until, until <= now else {
                continue
            }
            let calls = self.logTaken(first.ref)
            let detail = "no log.request with \"ref\" \(JSONText.quoted(first.ref)) came within --ref-ttl"
            refused += calls.map { RefusedCall(envelope: $0, reason: .unknownRef, detail: detail) }
        }
        return refused
    }

    private mutating func remember(_ ref: String, _ fate: Fate, now: NIODeadline) {
        guard self.fates.updateValue(fate, forKey: ref) == nil else {
            return
        }
        self.forgetting.append((ref, now + self.ttl))
        while self.fates.count > self.limits.knownRefs, let oldest = self.forgetting.popFirst() {
            self.fates[oldest.ref] = nil
            self.forgottenEarly += 1
        }
    }
}

/// A call pltrackd will not send, with why: it goes to the dead letters.
struct RefusedCall: Equatable, Sendable {
    /// Why, as the dead letter's `reason`.
    enum Reason: String, Sendable, CaseIterable {
        /// No `log.request` with the call's `request_ref` came within `--ref-ttl`.
        case unknownRef = "unknown_ref"
        /// The `log.request` the call names was refused or answered without an id.
        case logFailed = "log_failed"
        /// Too many calls already wait for logs not yet sent (`--ref-wait-max-calls`,
        /// `--ref-wait-max-bytes`).
        case waitingFull = "ref_wait_full"
    }

    var envelope: Envelope
    var reason: Reason
    /// What happened, for the dead letter's `response`.
    var detail: String
}
