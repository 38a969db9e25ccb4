import NIOCore
import NIOEmbedded
import Testing

@testable import PLTrack

/// A worker whose task is cancelled while it waits for work stops waiting at once, and the
/// next call goes to a worker that is still there.
struct WorkerCancellationTests {
    @Test(.timeLimit(.minutes(1)))
    func aCancelledWaitingWorkerEndsAndTheNextCallGoesToAnother() async throws {
        let loop = EmbeddedEventLoop()
        let pipeline = Pipeline(capacity: 10, coalescingWindow: .zero, timerLoop: loop)
        pipeline.start()
        let cancelled = Task { await pipeline.nextEnvelope(for: 0) }
        cancelled.cancel()
        // Before the fix this waited until the pipeline stopped: the time limit failed it.
        #expect(await cancelled.value == nil)
        let waiting = Task { await pipeline.nextEnvelope(for: 1) }
        let results = pipeline.submit([.prompt(1)])
        #expect(results.count == 1)
        let envelope = await waiting.value
        #expect(envelope?.message.coalescingKey.requestID == .integer(1), "handed to worker 1, not the cancelled 0")
        pipeline.stop()
    }
}
