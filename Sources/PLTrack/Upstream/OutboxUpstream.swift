import NIOConcurrencyHelpers
import NIOCore

/// The embedded default: with no API key, every call that would go to PromptLayer is appended
/// to a local file as `{"path": "/rest/track-prompt", "body": {…}}`, and counts as delivered.
///
/// A `log.request` is answered as PromptLayer would, with an id (`{"path": "/log-request",
/// "id": …, "body": {…}}`), so the calls that name its ref go on with it: ids count up from the
/// start's time in microseconds, so they do not repeat across restarts.
public struct OutboxUpstream: Upstream {
    private let file: JSONLinesFile
    private let nextLogID: NIOLockedValueBox<Int64>

    public init(file: JSONLinesFile) {
        self.file = file
        self.nextLogID = NIOLockedValueBox(WallClock.milliseconds() * 1_000)
    }

    public func eventLoop(forWorker worker: Int) -> (any EventLoop)? {
        nil
    }

    public func send(path: String, body: TrackBody, worker: Int, isolation: isolated (any Actor)?) async
        -> UpstreamResponse
    {
        var logID: Int64?
        if path == TrackKind.log.path {
            logID = self.nextLogID.withLockedValue { next in
                defer { next += 1 }
                return next
            }
        }
        let id = logID.map { ",\"id\":\($0)" } ?? ""
        let line = "{\"path\":\(JSONText.quoted(path))\(id),\"body\":\(body)}"
        do {
            try self.file.append(line)
            return .answered(
                status: logID == nil ? 200 : 201, retryAfter: nil, body: logID.map { "{\"id\":\($0)}" } ?? "")
        } catch {
            // A full disk is a transient failure like an unreachable server: retried with backoff.
            return .failed(reason: "\(error)")
        }
    }

    public func shutdown() async {
        self.file.close()
    }
}
