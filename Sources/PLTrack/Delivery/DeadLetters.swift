import Foundation
import NIOCore

/// The dead-letter file: one JSON line per call PromptLayer refused for good, with the status,
/// the response body and the request body, so an operator can see why and send it again.
public struct DeadLetters: Sendable {
    private let file: JSONLinesFile

    public init(file: JSONLinesFile) {
        self.file = file
    }

    public var path: String { self.file.path }

    /// Appends one dead letter.
    func record(_ envelope: Envelope, status: Int, response: String, reason: String) throws {
        let timestamp = ISO8601DateFormatter().string(from: Date())
        let body = envelope.message.body.description
        // A call that named its request by ref carries it, since its body has no request_id.
        let ref = envelope.message.coalescingKey.requestID.ref.map { ",\"request_ref\":\(JSONText.quoted($0))" } ?? ""
        try self.file.append(
            "{\"at\":\"\(timestamp)\",\"reason\":\(JSONText.quoted(reason)),\"status\":\(status),"
                + "\"path\":\(JSONText.quoted(envelope.message.kind.path)),\"attempts\":\(envelope.attempts)\(ref),"
                + "\"response\":\(JSONText.quoted(response)),\"body\":\(body)}"
        )
    }

    func close() {
        self.file.close()
    }
}
