/// The `id` a client gave a message, echoed in the reply exactly as it was written.
///
/// It is a string of at most 128 characters or an integer that fits in 64 bits; keeping the
/// validated JSON text means an integer id is never rounded through a floating-point number.
public struct ReplyID: Hashable, Sendable, CustomStringConvertible {
    /// The JSON text of the id value, e.g. `42` or `"req-7"`.
    public var json: String

    init(json: String) {
        self.json = json
    }

    public var description: String { self.json }
}
