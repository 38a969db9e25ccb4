import Logging
import NIOCore

/// Workers, each sending one call upstream at a time, as many as `--max-in-flight`; the
/// ``DeliveryGate`` decides how many of them send at once.
///
/// A worker waits for the gate before it takes a call, so calls wait in the ready queue, not
/// in a worker, while sending is paused, PromptLayer is unreachable or the limit is reached;
/// only an attempt on its way counts as one for the watchdog. A worker never sleeps through a
/// backoff: a call to retry goes back to the pipeline with the time it may go again, and the
/// worker takes the next call.
public struct WorkerPool: Sendable {
    let pipeline: Pipeline
    let upstream: any Upstream
    let deadLetters: DeadLetters
    let live: LiveConfiguration
    let stats: DaemonStats
    let workers: Int
    let logger: Logger
    /// When each worker started the attempt it has on its way, for the watchdog.
    let activity: WorkerActivity
    /// How many requests may be on their way, pauses, and the circuit.
    let gate: DeliveryGate

    public init(
        pipeline: Pipeline,
        upstream: any Upstream,
        deadLetters: DeadLetters,
        live: LiveConfiguration,
        stats: DaemonStats,
        workers: Int,
        logger: Logger,
        gate: DeliveryGate? = nil,
        activity: WorkerActivity = WorkerActivity()
    ) {
        self.activity = activity
        self.gate =
            gate ?? DeliveryGate(maximumInFlight: workers, pauseCap: live.read { $0.retryPolicy.cap })
        self.pipeline = pipeline
        self.upstream = upstream
        self.deadLetters = deadLetters
        self.live = live
        self.stats = stats
        self.workers = workers
        self.logger = logger
    }

    /// Runs the workers until the pipeline stops. A worker whose connection lives on an event
    /// loop runs there (``DeliveryWorker``).
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                await self.recordRefusals()
            }
            for worker in 0..<self.workers {
                group.addTask {
                    if let eventLoop = self.upstream.eventLoop(forWorker: worker) {
                        await DeliveryWorker(on: eventLoop).run { isolation in
                            await self.work(as: worker, isolation: isolation)
                        }
                    } else {
                        await self.work(as: worker, isolation: nil)
                    }
                }
            }
        }
    }

    /// One worker: waits for its turn, takes a call from the pipeline and sends it, until the
    /// pipeline stops or the worker is cancelled.
    private func work(as worker: Int, isolation: isolated (any Actor)?) async {
        var generator = SystemRandomNumberGenerator()
        while await self.gate.waitForTurn(worker, isolation: isolation) {
            guard let envelope = await self.pipeline.nextEnvelope(for: worker, isolation: isolation) else {
                return
            }
            // --max-age is checked whenever a call is due, not only after an attempt: a call
            // that waited out a pause or an outage past it is not sent any more.
            let maximumAge = self.live.read { $0.maximumAge }
            guard NIODeadline.now() - envelope.acceptedAt < TimeAmount(maximumAge) else {
                let last = envelope.lastFailure
                self.deadLetter(
                    envelope, status: last?.status ?? 0,
                    response: last?.response ?? "not sent again: older than --max-age", reason: "expired")
                continue
            }
            guard let ticket = self.gate.begin(worker) else {
                // Sending stopped being allowed while this worker waited for the call (a pause,
                // the circuit opened, a lower limit): the call goes back, untried.
                self.pipeline.attemptFinished(envelope, .retry(at: .now()))
                continue
            }
            self.activity.begin(worker)
            // The note stays after the attempt: its outcome, once written, is what tells a
            // restart the call arrived; a cancelled attempt (a drain that ran out) may have
            // reached PromptLayer and stays pending and noted.
            await self.pipeline.inFlight(worker: worker, envelope, isolation: isolation)
            await self.attempt(envelope, ticket, worker: worker, using: &generator, isolation: isolation)
            self.activity.end(worker)
        }
    }

    private func attempt(
        _ envelope: Envelope, _ ticket: DeliveryGovernor.Ticket, worker: Int,
        using generator: inout SystemRandomNumberGenerator, isolation: isolated (any Actor)?
    ) async {
        var envelope = envelope
        envelope.attempts += 1
        let started = NIODeadline.now()
        let response = await self.upstream.send(
            path: envelope.message.kind.path, body: envelope.message.body, worker: worker, isolation: isolation)
        let isReachable = self.record(response, of: ticket, latency: .now() - started)
        let (retryPolicy, maximumAge) = self.live.read { ($0.retryPolicy, $0.maximumAge) }
        switch retryPolicy.classify(response) {
        case .delivered where envelope.message.kind == .log:
            let answer = if case .answered(_, _, let body) = response { body } else { "" }
            let id = LogAnswer.requestID(in: answer)
            if id != nil {
                self.stats.logAnswered()
            }
            self.pipeline.attemptFinished(envelope, .logged(id: id))
        case .delivered:
            self.pipeline.attemptFinished(envelope, .delivered)
        case .retry(let notBefore):
            let age = NIODeadline.now() - envelope.acceptedAt
            guard age < TimeAmount(maximumAge) else {
                let (status, body) = Self.statusAndBody(of: response)
                self.deadLetter(envelope, status: status, response: body, reason: "expired")
                return
            }
            self.stats.retryScheduled()
            // While PromptLayer is unreachable the circuit paces the attempts, so the call is
            // ready again at once and goes as soon as PromptLayer is back.
            let delay =
                isReachable
                ? retryPolicy.backoff(afterAttempt: envelope.attempts, notBefore: notBefore, using: &generator)
                : .zero
            // It may wait long after the calls read with it are gone: it lets go of their buffer.
            var waiting = envelope
            waiting.message.body = envelope.message.body.compacted()
            let (status, body) = Self.statusAndBody(of: response)
            waiting.lastFailure = Envelope.LastFailure(status: status, response: body)
            self.pipeline.attemptFinished(waiting, .retry(at: .now() + TimeAmount(delay)))
        case .deadLetter(let status, let body):
            self.deadLetter(envelope, status: status, response: body, reason: "rejected")
        }
    }

    /// Tells the gate how the attempt went, counts it and logs what changed; returns whether
    /// the call's own backoff applies: not while PromptLayer is unreachable, when the circuit
    /// paces the attempts.
    private func record(_ response: UpstreamResponse, of ticket: DeliveryGovernor.Ticket, latency: TimeAmount) -> Bool {
        let outcome: DeliveryGovernor.Outcome
        switch response {
        case .failed(let reason):
            self.stats.upstreamAttempted(reachedServer: false)
            self.logger.debug("upstream unreachable", metadata: ["reason": "\(reason)"])
            outcome = .unreachable
        case .timedOut(let reason):
            self.stats.upstreamAttempted(reachedServer: false)
            self.logger.debug("upstream request timed out", metadata: ["reason": "\(reason)"])
            outcome = .timedOut
        case .answered(let status, let retryAfter, _):
            self.stats.upstreamAttempted(reachedServer: true)
            self.stats.recordLatency(latency)
            outcome = status == 429 || status == 503 ? .refused(status: status, retryAfter: retryAfter) : .answered
        }
        for action in self.gate.finished(ticket, outcome, pauseCap: self.live.read { $0.retryPolicy.cap }) {
            switch action {
            case .circuitOpened:
                self.logger.warning("PromptLayer is unreachable; probing it, one request at a time, until it answers")
            case .circuitClosed:
                self.logger.notice("PromptLayer answers again; sending at full rate")
            case .paused(let until, let status):
                self.logger.notice(
                    "PromptLayer asked to slow down; every worker pauses",
                    metadata: [
                        "upstream_status": "\(status)",
                        "pause": "\(HumanDuration.format(.nanoseconds(max(0, (until - .now()).nanoseconds))))",
                    ])
            case .wake:
                break
            }
        }
        switch outcome {
        case .answered, .refused: return true
        case .unreachable, .timedOut: return self.gate.isCircuitClosed
        }
    }

    /// Writes the calls the pipeline will not send (their ref's log failed or never came) to
    /// the dead letters, as they come, until the pipeline stops.
    private func recordRefusals() async {
        for await refused in self.pipeline.refusals {
            for call in refused {
                self.stats.refused(call.reason)
                self.deadLetter(call.envelope, status: 0, response: call.detail, reason: call.reason.rawValue) {
                    self.pipeline.refusalRecorded(call.envelope)
                }
            }
        }
    }

    /// Writes `envelope` to the dead letters with `reason` (`rejected` for a final refusal,
    /// `expired` past `--max-age`) and records its outcome.
    private func deadLetter(_ envelope: Envelope, status: Int, response: String, reason: String) {
        self.deadLetter(envelope, status: status, response: response, reason: reason) {
            self.pipeline.attemptFinished(envelope, .deadLettered)
        }
    }

    /// Writes `envelope` to the dead letters, then reports it with `recorded`.
    private func deadLetter(
        _ envelope: Envelope, status: Int, response: String, reason: String, recorded: () -> Void
    ) {
        let metadata: Logger.Metadata = [
            "upstream_status": "\(status)",
            "request_id": "\(envelope.message.coalescingKey.requestID)",
            "path": "\(envelope.message.kind.path)",
            "reason": "\(reason)",
        ]
        do {
            try self.deadLetters.record(envelope, status: status, response: response, reason: reason)
            self.logger.warning("a call was given up; written to the dead letters", metadata: metadata)
        } catch {
            self.stats.deadLetterWriteFailed()
            self.logger.error(
                "could not write a dead letter; the call is lost",
                metadata: metadata.merging(["error": "\(error)"]) { $1 }
            )
        }
        recorded()
    }

    /// The status and body of the last answer, or 0 and the failure for no answer.
    private static func statusAndBody(of response: UpstreamResponse) -> (Int, String) {
        switch response {
        case .answered(let status, _, let body): (status, body)
        case .failed(let reason), .timedOut(let reason): (0, reason)
        }
    }
}
