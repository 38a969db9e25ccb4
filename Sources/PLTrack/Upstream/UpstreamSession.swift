import NIOCore

/// An open connection to PromptLayer that carries requests: one at a time over HTTP/1.1
/// (``HTTP1Session``), or many at once as HTTP/2 streams (``HTTP2Session``). A session lives on
/// its channel's event loop and is used only there.
protocol UpstreamSession: AnyObject {
    var channel: any Channel { get }
    /// Whether it takes another request: open, and not told by the server to go away.
    var isUsable: Bool { get }
    /// Whether requests go as streams, many at once.
    var isMultiplexed: Bool { get }
    /// Sends `request` and collects its answer. Fails with ``UnprocessedRequest`` when the
    /// server certainly did not process it.
    func send(_ request: UpstreamRequest) -> EventLoopFuture<CollectedResponse>
}
