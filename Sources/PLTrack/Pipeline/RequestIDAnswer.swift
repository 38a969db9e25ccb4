/// What a `request_id` query is answered with: the id PromptLayer gave the log with the ref,
/// why there is none, or that it did not come in time.
public enum RequestIDAnswer: Sendable, Equatable {
    case id(Int64)
    /// The log was refused for good, or answered without an id.
    case logFailed(String)
    /// The query's time ran out before the log was answered.
    case timedOut
}
