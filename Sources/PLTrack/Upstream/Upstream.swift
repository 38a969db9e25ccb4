import NIOCore

/// Where tracking calls are delivered: PromptLayer over HTTP, or the local outbox.
public protocol Upstream: Sendable {
    /// Sends one request body to `path` for `worker` (over that worker's connection) and
    /// reports how it went; never throws, so every outcome is classified by ``RetryPolicy``.
    /// It runs in the caller's `isolation`.
    func send(path: String, body: TrackBody, worker: Int, isolation: isolated (any Actor)?) async
        -> UpstreamResponse

    /// The event loop `worker`'s connection lives on, so the worker can run there; `nil` when
    /// sending blocks (a file) and the worker runs on the shared executor instead.
    func eventLoop(forWorker worker: Int) -> (any EventLoop)?

    /// Releases connections and files.
    func shutdown() async
}

/// What came back from one upstream attempt.
public enum UpstreamResponse: Sendable, Equatable {
    /// An HTTP answer: its status, the `Retry-After` it asked for, and its body (truncated).
    case answered(status: Int, retryAfter: Duration?, body: String)
    /// No HTTP answer: the connection failed or was closed.
    case failed(reason: String)
    /// No HTTP answer within the request timeout: PromptLayer may be overloaded.
    case timedOut(reason: String)
}
