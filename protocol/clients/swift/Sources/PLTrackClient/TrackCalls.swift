/// The SDK's four tracking calls, with its argument names as options. Optional values left
/// `nil` are left out of the message, as the SDK leaves them out. Each names its request by
/// PromptLayer's id or, for a request logged through pltrackd, by its ref (``PLTrackRequestID``).
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
            case requestID = "request_id", requestRef = "request_ref", promptName = "prompt_name"
            case promptInputVariables = "prompt_input_variables", version, label
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(request: self.requestID, id: .requestID, ref: .requestRef)
            try container.encode(self.promptName, forKey: .promptName)
            try container.encodeIfPresent(self.promptInputVariables, forKey: .promptInputVariables)
            try container.encodeIfPresent(self.version, forKey: .version)
            try container.encodeIfPresent(self.label, forKey: .label)
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
            case requestID = "request_id", requestRef = "request_ref", metadata
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(request: self.requestID, id: .requestID, ref: .requestRef)
            try container.encode(self.metadata, forKey: .metadata)
        }
    }

    /// `track.score`: a score from 0 to 100, under `scoreName` (PromptLayer's `default` without
    /// one), for an integer `request_id` or a ref.
    public struct Score: Sendable, Encodable {
        public var requestID: PLTrackRequestID
        public var score: Int
        public var scoreName: String?

        public init(requestID: PLTrackRequestID, score: Int, scoreName: String? = nil) {
            self.requestID = requestID
            self.score = score
            self.scoreName = scoreName
        }

        enum CodingKeys: String, CodingKey {
            case requestID = "request_id", requestRef = "request_ref", score, scoreName = "name"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(request: self.requestID, id: .requestID, ref: .requestRef)
            try container.encode(self.score, forKey: .score)
            try container.encodeIfPresent(self.scoreName, forKey: .scoreName)
        }
    }

    /// `track.group`: adds a request (an integer `request_id` or a ref) to a group.
    public struct Group: Sendable, Encodable {
        public var requestID: PLTrackRequestID
        public var groupID: Int64

        public init(requestID: PLTrackRequestID, groupID: Int64) {
            self.requestID = requestID
            self.groupID = groupID
        }

        enum CodingKeys: String, CodingKey {
            case requestID = "request_id", requestRef = "request_ref", groupID = "group_id"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(request: self.requestID, id: .requestID, ref: .requestRef)
            try container.encode(self.groupID, forKey: .groupID)
        }
    }
}
