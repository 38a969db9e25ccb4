/// The PromptLayer API key. Its description is redacted, so it cannot leak through logging
/// or string interpolation; only ``HTTPUpstream`` reads ``secret``.
public struct APIKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    let secret: String

    public init(_ secret: String) {
        self.secret = secret
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}
