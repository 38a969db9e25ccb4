/// An error answered to a client: a stable code and a message for people.
///
/// The codes are part of protocol v1 (`protocol/SPEC.md`) and never change meaning; they are
/// also safe as metric labels. Messages name the field and the rule that was broken.
public struct ProtocolError: Error, Hashable, Sendable {
    /// The stable error codes of protocol v1.
    public enum Code: String, CaseIterable, Sendable, Codable {
        case invalidJSON = "invalid_json"
        case invalidMessage = "invalid_message"
        case unknownType = "unknown_type"
        case frameTooLarge = "frame_too_large"
        case overloaded = "overloaded"
        case shuttingDown = "shutting_down"
        case timeout = "timeout"
        case forbidden = "forbidden"
        case spoolError = "spool_error"
        case logFailed = "log_failed"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    static func invalidMessage(_ message: String) -> Self {
        Self(.invalidMessage, message)
    }
}
