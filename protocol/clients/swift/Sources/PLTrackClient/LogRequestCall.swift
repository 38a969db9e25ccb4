import Foundation

extension PLTrackCall {
    /// `log.request`: the SDK's `promptlayer.log_request(…)`, with its arguments and defaults,
    /// sent through pltrackd instead of the network. `ref` names the request in the track calls
    /// that follow (``PLTrackRequestID/ref(_:)``); a fresh UUID unless given. The two times go
    /// as seconds since 1970, as the SDK sends them.
    public struct LogRequest: Sendable, Encodable {
        public var ref: String
        public var provider: String
        public var model: String
        public var input: PLTrackJSON
        public var output: PLTrackJSON
        public var requestStartTime: Date
        public var requestEndTime: Date
        public var parameters: [String: PLTrackJSON]
        public var tags: [String]
        public var metadata: [String: String]
        public var promptName: String?
        public var promptVersionNumber: Int?
        public var promptInputVariables: [String: PLTrackJSON]
        public var inputTokens: Int
        public var outputTokens: Int
        public var price: Double
        public var functionName: String
        public var score: Int
        public var promptID: Int?
        public var scoreName: String?
        public var apiType: String?
        public var status: String
        public var errorType: String?
        public var errorMessage: String?

        public init(
            ref: String = UUID().uuidString.lowercased(), provider: String, model: String, input: PLTrackJSON,
            output: PLTrackJSON, requestStartTime: Date, requestEndTime: Date,
            parameters: [String: PLTrackJSON] = [:], tags: [String] = [], metadata: [String: String] = [:],
            promptName: String? = nil, promptVersionNumber: Int? = nil,
            promptInputVariables: [String: PLTrackJSON] = [:], inputTokens: Int = 0, outputTokens: Int = 0,
            price: Double = 0, functionName: String = "", score: Int = 0, promptID: Int? = nil,
            scoreName: String? = nil, apiType: String? = nil, status: String = "SUCCESS", errorType: String? = nil,
            errorMessage: String? = nil
        ) {
            self.ref = ref
            self.provider = provider
            self.model = model
            self.input = input
            self.output = output
            self.requestStartTime = requestStartTime
            self.requestEndTime = requestEndTime
            self.parameters = parameters
            self.tags = tags
            self.metadata = metadata
            self.promptName = promptName
            self.promptVersionNumber = promptVersionNumber
            self.promptInputVariables = promptInputVariables
            self.inputTokens = inputTokens
            self.outputTokens = outputTokens
            self.price = price
            self.functionName = functionName
            self.score = score
            self.promptID = promptID
            self.scoreName = scoreName
            self.apiType = apiType
            self.status = status
            self.errorType = errorType
            self.errorMessage = errorMessage
        }

        enum CodingKeys: String, CodingKey {
            case ref, provider, model, input, output, parameters, tags, metadata, price, score, status
            case requestStartTime = "request_start_time", requestEndTime = "request_end_time"
            case promptName = "prompt_name", promptVersionNumber = "prompt_version_number"
            case promptInputVariables = "prompt_input_variables", inputTokens = "input_tokens"
            case outputTokens = "output_tokens", functionName = "function_name", promptID = "prompt_id"
            case scoreName = "score_name", apiType = "api_type", errorType = "error_type"
            case errorMessage = "error_message"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.ref, forKey: .ref)
            try container.encode(self.provider, forKey: .provider)
            try container.encode(self.model, forKey: .model)
            try container.encode(self.input, forKey: .input)
            try container.encode(self.output, forKey: .output)
            try container.encode(self.requestStartTime.timeIntervalSince1970, forKey: .requestStartTime)
            try container.encode(self.requestEndTime.timeIntervalSince1970, forKey: .requestEndTime)
            try container.encode(self.parameters, forKey: .parameters)
            try container.encode(self.tags, forKey: .tags)
            try container.encode(self.metadata, forKey: .metadata)
            try container.encodeIfPresent(self.promptName, forKey: .promptName)
            try container.encodeIfPresent(self.promptVersionNumber, forKey: .promptVersionNumber)
            try container.encode(self.promptInputVariables, forKey: .promptInputVariables)
            try container.encode(self.inputTokens, forKey: .inputTokens)
            try container.encode(self.outputTokens, forKey: .outputTokens)
            try container.encode(self.price, forKey: .price)
            try container.encode(self.functionName, forKey: .functionName)
            try container.encode(self.score, forKey: .score)
            try container.encodeIfPresent(self.promptID, forKey: .promptID)
            try container.encodeIfPresent(self.scoreName, forKey: .scoreName)
            try container.encodeIfPresent(self.apiType, forKey: .apiType)
            try container.encode(self.status, forKey: .status)
            try container.encodeIfPresent(self.errorType, forKey: .errorType)
            try container.encodeIfPresent(self.errorMessage, forKey: .errorMessage)
        }
    }
}
