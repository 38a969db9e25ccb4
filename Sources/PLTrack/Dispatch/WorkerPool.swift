import Logging
import NIOCore

/// A fixed number of workers, each sending one call upstream at a time.
///
/// A worker never sleeps through a backoff: a call to retry goes back to the pipeline with the
/// time it may go again, and the worker takes the next call.
public struct WorkerPool: Sendable {
    let pipeline: Pipeline
    let upstream: any Upstream
    let deadLetters: DeadLetters
    let live: LiveConfiguration
    let stats: DaemonStats
    let workers: Int
    let logger: Logger
    let activity = WorkerActivity()
    /// Whether PromptLayer answers: while it does not, one probe at a time.
    let circuit: CircuitBreaker

    public init(
        pipeline: Pipeline,
        upstream: any Upstream,
        deadLetters: DeadLetters,
        live: LiveConfiguration,
        stats: DaemonStats,
        workers: Int,
        logger: Logger,
        circuit: CircuitBreaker = CircuitBreaker()
    ) {
        self.circuit = circuit
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

    /// One worker: takes calls from the pipeline and sends them until the pipeline stops.
    private func work(as worker: Int, isolation: isolated (any Actor)?) async {
        var generator = SystemRandomNumberGenerator()
        while let envelope = await self.pipeline.nextEnvelope(for: worker, isolation: isolation) {
            self.activity.begin(worker)
            // The note stays after the attempt: its outcome, once written, is what tells a
            // restart the call arrived; a cancelled attempt (a drain that ran out) may have
            // reached PromptLayer and stays pending and noted.
            if await self.waitForCircuit(isolation: isolation) {
                await self.pipeline.inFlight(worker: worker, envelope, isolation: isolation)
                await self.attempt(envelope, worker: worker, using: &generator, isolation: isolation)
            } else {
                // Stopped while PromptLayer was unreachable: the call goes back, untried.
                self.pipeline.attemptFinished(envelope, .retry(at: .now()))
            }
            self.activity.end(worker)
        }
    }

    /// Waits until the circuit lets this worker send (at once while PromptLayer answers);
    /// `false` when the worker is cancelled meanwhile.
    private func waitForCircuit(isolation: isolated (any Actor)?) async -> Bool {
        while true {
            switch self.circuit.permit(now: .now()) {
            case .send, .probe:
                return true
            case .wait(let until):
                let delay = max(until - .now(), .milliseconds(1))
                guard (try? await Task.sleep(for: .nanoseconds(delay.nanoseconds))) != nil else {
                    return false
                }
            }
        }
    }

    private func attempt(
        _ envelope: Envelope, worker: Int, using generator: inout SystemRandomNumberGenerator,
        isolation: isolated (any Actor)?
    ) async {
        var envelope = envelope
        envelope.attempts += 1
        let started = NIODeadline.now()
        let response = await self.upstream.send(
            path: envelope.message.kind.path, body: envelope.message.body, worker: worker, isolation: isolation)
        var isReachable = true
        if case .failed(let reason) = response {
            self.stats.upstreamAttempted(reachedServer: false)
            self.logger.debug("upstream unreachable", metadata: ["reason": "\(reason)"])
            let (change, isClosed) = self.circuit.record(reached: false, now: .now())
            isReachable = isClosed
            if change == .opened {
                self.logger.warning("PromptLayer is unreachable; probing it, one request at a time, until it answers")
            }
        } else {
            if self.circuit.record(reached: true, now: .now()).change == .closed {
                self.logger.notice("PromptLayer answers again; sending at full rate")
            }
            self.stats.upstreamAttempted(reachedServer: true)
            self.stats.recordLatency(.now() - started)
        }
        let (retryPolicy, maximumAge) = self.live.read { ($0.retryPolicy, $0.maximumAge) }
        switch retryPolicy.classify(response) {
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
            self.pipeline.attemptFinished(waiting, .retry(at: .now() + TimeAmount(delay)))
        case .deadLetter(let status, let body):
            self.deadLetter(envelope, status: status, response: body, reason: "rejected")
        }
    }

    /// Writes `envelope` to the dead letters with `reason` (`rejected` for a final refusal,
    /// `expired` past `--max-age`) and records its outcome.
    private func deadLetter(_ envelope: Envelope, status: Int, response: String, reason: String) {
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
        self.pipeline.attemptFinished(envelope, .deadLettered)
    }

    /// The status and body of the last answer, or 0 and the failure for no answer.
    private static func statusAndBody(of response: UpstreamResponse) -> (Int, String) {
        switch response {
        case .answered(let status, _, let body): (status, body)
        case .failed(let reason): (0, reason)
        }
    }
}
