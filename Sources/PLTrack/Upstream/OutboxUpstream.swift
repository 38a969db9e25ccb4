import NIOCore

/// The embedded default: with no API key, every call that would go to PromptLayer is appended
/// to a local file as `{"path": "/rest/track-prompt", "body": {…}}`, and counts as delivered.
public struct OutboxUpstream: Upstream {
    private let file: JSONLinesFile

    public init(file: JSONLinesFile) {
        self.file = file
    }

    public func eventLoop(forWorker worker: Int) -> (any EventLoop)? {
        nil
    }

    public func send(path: String, body: TrackBody, worker: Int, isolation: isolated (any Actor)?) async
        -> UpstreamResponse
    {
        let line = "{\"path\":\(JSONText.quoted(path)),\"body\":\(body)}"
        do {
            try self.file.append(line)
            return .answered(status: 200, retryAfter: nil, body: "")
        } catch {
            // A full disk is a transient failure like an unreachable server: retried with backoff.
            return .failed(reason: "\(error)")
        }
    }

    public func shutdown() async {
        self.file.close()
    }
}
