import NIOCore
import NIOHTTP2

/// An HTTP/2 connection: each request a stream of its own, as many at once as the server's
/// `SETTINGS_MAX_CONCURRENT_STREAMS` allows (NIOHTTP2 holds back the streams beyond it until
/// others close). Streams opened in the same event-loop tick go out in one write.
///
/// After the server's `GOAWAY`, or an error on the connection, no new stream opens on it; it
/// closes once its last stream is done. A stream the server refused (`REFUSED_STREAM`), or
/// that `GOAWAY` says it will not process, fails as unprocessed, to go again on a fresh
/// connection.
final class HTTP2Session: UpstreamSession {
    let channel: any Channel
    let isMultiplexed = true
    private let multiplexer: NIOHTTP2Handler.StreamMultiplexer
    private let watcher: HTTP2ConnectionWatcher
    /// Streams opened and not yet done.
    private var streams = 0
    /// Streams answered on this connection, to tell a stalled connection from a slow answer.
    private var answered = 0

    init(channel: any Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer, watcher: HTTP2ConnectionWatcher) {
        self.channel = channel
        self.multiplexer = multiplexer
        self.watcher = watcher
        watcher.onDraining = { [weak self] in self?.closeWhenDone() }
    }

    var isUsable: Bool { self.channel.isActive && !self.watcher.isDraining }

    func send(_ request: UpstreamRequest) -> EventLoopFuture<CollectedResponse> {
        let eventLoop = self.channel.eventLoop
        let answer = eventLoop.makePromise(of: CollectedResponse.self)
        let collector = HTTPResponseCollector()
        collector.expect(answer)
        let initialized = NIOLoopBound(collector, eventLoop: eventLoop)
        self.streams += 1
        return self.multiplexer.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandlers(
                    HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .https), initialized.value)
            }
        }.assumeIsolated().flatMapError { error in
            eventLoop.makeFailedFuture(
                UnprocessedRequest(reason: .refusedStream, description: "no stream could be opened: \(error)"))
        }.flatMap { stream in
            self.exchange(request, on: stream, answer: answer)
        }.always { _ in
            self.streams -= 1
            self.closeWhenDone()
        }.nonisolated()
    }

    /// Writes `request` on `stream` and waits for `answer`, or for the timeout: then the stream
    /// is reset, and the whole connection closed if nothing at all was answered on it meanwhile.
    private func exchange(
        _ request: UpstreamRequest, on stream: any Channel, answer: EventLoopPromise<CollectedResponse>
    ) -> EventLoopFuture<CollectedResponse> {
        request.write(to: stream)
        let streamID = try? stream.syncOptions?.getOption(HTTP2StreamChannelOptions.streamID)
        let answeredBefore = self.answered
        let timeout = stream.eventLoop.assumeIsolated().scheduleTask(in: request.timeout) {
            answer.fail(request.timedOut)
            stream.close(promise: nil)
            if self.answered == answeredBefore {
                self.channel.close(promise: nil)
            }
        }
        return answer.futureResult.assumeIsolated().always { result in
            timeout.cancel()
            if case .success = result {
                self.answered += 1
            }
        }.flatMapErrorThrowing { error in
            throw self.unprocessed(error, streamID: streamID) ?? error
        }.nonisolated()
    }

    /// `error` as an ``UnprocessedRequest`` when the server certainly did not process the stream.
    private func unprocessed(_ error: any Error, streamID: HTTP2StreamID?) -> UnprocessedRequest? {
        guard let closed = error as? HTTPResponseCollector.ConnectionClosed, closed.beforeAnyResponse else {
            return nil
        }
        if (closed.cause as? NIOHTTP2Errors.StreamClosed)?.errorCode == .refusedStream {
            return UnprocessedRequest(reason: .refusedStream, description: "the server refused the stream")
        }
        guard let streamID else {
            return UnprocessedRequest(reason: .refusedStream, description: "the stream closed before it was sent")
        }
        if let last = self.watcher.lastStreamProcessed, streamID > last {
            return UnprocessedRequest(
                reason: .refusedStream,
                description: "the server went away (GOAWAY, last stream \(last)) before stream \(streamID)")
        }
        return nil
    }

    private func closeWhenDone() {
        if self.streams == 0 && self.watcher.isDraining {
            self.channel.close(promise: nil)
        }
    }
}

/// The last handler of an HTTP/2 connection's own pipeline: sees the frames of the connection
/// itself (stream 0) and its errors, and marks the connection as draining on `GOAWAY` or an
/// error, so no new stream opens on it.
final class HTTP2ConnectionWatcher: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame

    /// The last stream the server said it may process, once it sent `GOAWAY`.
    private(set) var lastStreamProcessed: HTTP2StreamID?
    /// An error on the connection (the server broke the protocol, say).
    private var failed = false
    /// Told when the connection starts draining.
    var onDraining: () -> Void = {}

    var isDraining: Bool { self.lastStreamProcessed != nil || self.failed }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .goAway(let last, _, _) = Self.unwrapInboundIn(data).payload {
            self.lastStreamProcessed = min(self.lastStreamProcessed ?? last, last)
            self.onDraining()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.failed = true
        self.onDraining()
    }
}
