import DequeModule
import NIOCore

/// An HTTP/1.1 keep-alive connection: one request at a time, the others waiting their turn in
/// order. A request that meets the connection closed by the server before one byte of the
/// answer, when the connection was kept from an earlier request, fails as unprocessed: the
/// server had let it go and never read the request.
final class HTTP1Session: UpstreamSession {
    let channel: any Channel
    let isMultiplexed = false
    private let collector: HTTPResponseCollector
    private var inFlight = false
    private var waiting: Deque<(request: UpstreamRequest, promise: EventLoopPromise<CollectedResponse>)> = []
    /// Requests answered on this connection.
    private var answered = 0
    /// The connection is not to be used again: the server said `Connection: close`, or a
    /// request failed and left it in an unknown state.
    private var isClosing = false

    init(channel: any Channel, collector: HTTPResponseCollector) {
        self.channel = channel
        self.collector = collector
    }

    var isUsable: Bool { self.channel.isActive && !self.isClosing }

    func send(_ request: UpstreamRequest) -> EventLoopFuture<CollectedResponse> {
        let promise = self.channel.eventLoop.makePromise(of: CollectedResponse.self)
        if self.inFlight {
            self.waiting.append((request, promise))
        } else {
            self.start(request, promise: promise)
        }
        return promise.futureResult
    }

    private func start(_ request: UpstreamRequest, promise: EventLoopPromise<CollectedResponse>) {
        guard self.isUsable else {
            promise.fail(
                UnprocessedRequest(
                    reason: .staleConnection, description: "the connection closed before the request was written"))
            self.startNext()
            return
        }
        self.inFlight = true
        let reused = self.answered > 0
        let channel = self.channel
        let answer = channel.eventLoop.makePromise(of: CollectedResponse.self)
        self.collector.expect(answer)
        request.write(to: channel)
        let timeout = channel.eventLoop.assumeIsolated().scheduleTask(in: request.timeout) {
            answer.fail(request.timedOut)
            channel.close(promise: nil)
        }
        answer.futureResult.assumeIsolated().whenComplete { result in
            timeout.cancel()
            self.inFlight = false
            switch result {
            case .success(let response):
                self.answered += 1
                if !response.keepAlive {
                    self.closeForGood()
                }
                promise.succeed(response)
            case .failure(let error):
                self.closeForGood()
                if reused, let closed = error as? HTTPResponseCollector.ConnectionClosed, closed.beforeAnyResponse {
                    promise.fail(UnprocessedRequest(reason: .staleConnection, description: closed.description))
                } else {
                    promise.fail(error)
                }
            }
            self.startNext()
        }
    }

    private func startNext() {
        if let next = self.waiting.popFirst() {
            self.start(next.request, promise: next.promise)
        }
    }

    private func closeForGood() {
        self.isClosing = true
        self.channel.close(promise: nil)
    }
}
