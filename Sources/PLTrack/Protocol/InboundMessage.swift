import NIOCore

/// A validated message from a client.
public enum InboundMessage: Sendable, Equatable {
    /// A tracking call to forward upstream.
    case track(TrackMessage)
    /// Asks for the daemon's counters, as a JSON object or as Prometheus text.
    case stats(id: ReplyID?, format: StatsFormat)
    /// Asks for a reply, to check the daemon is there (and, on one connection, that every
    /// earlier frame has been read).
    case ping(id: ReplyID?)
    /// Asks for a reply once everything accepted before it is delivered or dead-lettered.
    case flush(id: ReplyID?, timeout: Duration?)
    /// Asks for the id PromptLayer answered the `log.request` with this ref with, once it has.
    case requestID(id: ReplyID, ref: String, timeout: Duration?)

    /// The id the client asked to be answered with.
    public var replyID: ReplyID? {
        switch self {
        case .track(let message): message.replyID
        case .stats(let id, _), .ping(let id), .flush(let id, _): id
        case .requestID(let id, _, _): id
        }
    }
}

/// How a `stats` reply carries the counters.
public enum StatsFormat: String, Sendable, Equatable, CaseIterable {
    /// `"stats": {…}`, a JSON object.
    case json
    /// `"prometheus": "…"`, the Prometheus text exposition format.
    case prometheus
}

/// One PromptLayer tracking call, ready to send upstream.
public struct TrackMessage: Sendable, Equatable {
    /// Which tracking endpoint it goes to.
    public var kind: TrackKind
    /// The id to acknowledge with, when the client asked for a reply.
    public var replyID: ReplyID?
    /// Messages with the same key collapse within the coalescing window.
    public var coalescingKey: CoalescingKey
    /// The JSON request body: the client's object without `type` and `id`, bytes unchanged.
    public var body: TrackBody

    public init(kind: TrackKind, replyID: ReplyID?, coalescingKey: CoalescingKey, body: TrackBody) {
        self.kind = kind
        self.replyID = replyID
        self.coalescingKey = coalescingKey
        self.body = body
    }
}

/// The tracking endpoints pltrackd forwards to.
public enum TrackKind: String, Sendable, Hashable, CaseIterable {
    case prompt = "track.prompt"
    case metadata = "track.metadata"
    case score = "track.score"
    case group = "track.group"
    /// The request log itself; PromptLayer answers it with the id the others name.
    case log = "log.request"

    /// The PromptLayer REST path for this kind.
    public var path: String {
        switch self {
        case .prompt: "/rest/track-prompt"
        case .metadata: "/rest/track-metadata"
        case .score: "/rest/track-score"
        case .group: "/rest/track-group"
        case .log: "/log-request"
        }
    }
}

/// The identity under which tracking calls coalesce: same endpoint, same PromptLayer request,
/// and for scores and groups the score's name or the group.
public struct CoalescingKey: Hashable, Sendable {
    public var kind: TrackKind
    public var requestID: RequestID
    public var detail: CoalescingDetail

    public init(kind: TrackKind, requestID: RequestID, detail: CoalescingDetail = .none) {
        self.kind = kind
        self.requestID = requestID
        self.detail = detail
    }
}

/// What besides the request tells two calls of one kind apart when coalescing.
public enum CoalescingDetail: Hashable, Sendable {
    /// Prompts and metadata: one per request.
    case none
    /// A score's `name`; a score without one is PromptLayer's `default`.
    case scoreName(String)
    /// A group's `group_id`: different groups for one request stay separate calls.
    case groupID(Int64)
}

/// A PromptLayer `request_id`: the API accepts an integer or a string, and they are distinct.
/// Or the client's ref for a request it logged through pltrackd, whose id PromptLayer gives
/// in its answer to the `log.request`.
public enum RequestID: Hashable, Sendable, CustomStringConvertible {
    case integer(Int64)
    case string(String)
    /// A `log.request`'s `ref`, named by the log itself and by the calls with `request_ref`.
    case ref(String)

    public var description: String {
        switch self {
        case .integer(let value): String(value)
        case .string(let value): value
        case .ref(let value): "ref \(value)"
        }
    }

    /// The ref, for a request named by one.
    public var ref: String? {
        if case .ref(let value) = self { value } else { nil }
    }
}
