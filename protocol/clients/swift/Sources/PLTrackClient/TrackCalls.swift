/// The SDK's four tracking calls, with its argument names as options. Optional values left
/// `nil` are left out of the message, as the SDK leaves them out.
public enum PLTrackCall: Sendable {
    /// `track.prompt`: ties a PromptLayer request to a prompt template.
    public struct Prompt: Sendable, Encodable {
        public var requestID: PLTrackRequestID
        public var promptName: String
        public var promptInputVariables: [String: PLTrackJSON]?
        public var version: Int?
        public var label: String?

        public init(
            requestID: PLTrackRequestID, promptName: String, promptInputVariables: [String: PLTrackJSON]? = nil,
            version: Int? = nil, label: String? = nil
        ) {
            self.requestID = requestID
            self.promptName = promptName
            self.promptInputVariables = promptInputVariables
            self.version = version
            self.label = label
        }

        enum CodingKeys: String, CodingKey {
            case requestID = "request_id", promptName = "prompt_name", promptInputVariables = "prompt_input_variables"
            case version, label
        }
    }

    /// `track.metadata`: string metadata for a request.
    public struct Metadata: Sendable, Encodable {
        public var requestID: PLTrackRequestID
        public var metadata: [String: String]

        public init(requestID: PLTrackRequestID, metadata: [String: String]) {
            self.requestID = requestID
            self.metadata = metadata
        }

        enum CodingKeys: String, CodingKey {
            case requestID = "request_id", metadata
        }
    }

    /// `track.score`: a score from 0 to 100, under `scoreName` (PromptLayer's `default` without one).
    public struct Score: Sendable, Encodable {
        public var requestID: Int64
        public var score: Int
        public var scoreName: String?

        public init(requestID: Int64, score: Int, scoreName: String? = nil) {
            self.requestID = requestID
            self.score = score
            self.scoreName = scoreName
        }

        enum CodingKeys: String, CodingKey {
            case requestID = "request_id", score, scoreName = "name"
        }
    }

    /// `track.group`: adds a request to a group.
    public struct Group: Sendable, Encodable {
        public var requestID: Int64
        public var groupID: Int64

        public init(requestID: Int64, groupID: Int64) {
            self.requestID = requestID
            self.groupID = groupID
        }

        enum CodingKeys: String, CodingKey {
            case requestID = "request_id", groupID = "group_id"
        }
    }
}
