import Foundation

/// PromptLayer's OpenAPI description (`protocol/promptlayer-openapi.json`), used to check
/// each request the fake upstream receives: the path exists, the key is in `X-API-KEY`, and
/// the body matches the operation's request schema (required fields, property types).
public struct APIContract: Sendable {
    private let document: JSONValue

    /// The copy committed in `protocol/`, read once per process.
    public static func load() throws -> APIContract {
        try Self.committed.get()
    }

    private static let committed = Result<APIContract, any Error> {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("protocol/promptlayer-openapi.json"))
        // JSONSerialization is much faster than a Decodable walk of this 800 KB document.
        return APIContract(document: JSONValue(foundation: try JSONSerialization.jsonObject(with: data)))
    }

    /// Every way `body`, sent with `method` to `path`, breaks the description; empty when it conforms.
    public func violations(method: String, path: String, apiKey: String?, expectedKey: String, body: [UInt8])
        -> [String]
    {
        guard let operation = self.document["paths"]?[path]?[method.lowercased()] else {
            return ["\(method) \(path) is not in the API description"]
        }
        var problems: [String] = []
        if apiKey != expectedKey {
            problems.append("X-API-KEY header is \(apiKey == nil ? "missing" : "wrong")")
        }
        guard let schema = operation["requestBody"]?["content"]?["application/json"]?["schema"] else {
            return problems
        }
        do {
            let value = try JSONValue.parse(body)
            problems += self.check(value, against: self.resolve(schema), at: "body")
        } catch {
            problems.append("body is not JSON: \(error)")
        }
        return problems
    }

    private func resolve(_ schema: JSONValue) -> JSONValue {
        guard case .string(let reference)? = schema["$ref"], reference.hasPrefix("#/") else {
            return schema
        }
        var node: JSONValue? = self.document
        for component in reference.dropFirst(2).split(separator: "/") {
            node = node?[String(component)]
        }
        return node ?? schema
    }

    private func check(_ value: JSONValue, against schema: JSONValue, at location: String) -> [String] {
        if case .array(let options)? = schema["anyOf"] {
            let fits = options.contains { self.check(value, against: self.resolve($0), at: location).isEmpty }
            return fits ? [] : ["\(location) matches none of the anyOf types"]
        }
        if case .array(let options)? = schema["oneOf"] {
            return self.checkOneOf(value, options, discriminator: schema["discriminator"], at: location)
        }
        if value == .null, schema["nullable"] == .bool(true) {
            return []
        }
        if case .array(let choices)? = schema["enum"], !choices.contains(value) {
            return ["\(location) is \(value.jsonText), not one of the API's values"]
        }
        guard case .string(let type)? = schema["type"] else {
            return []
        }
        let actual = value.openAPIType
        // PromptLayer's own SDK sends the times of a log as epoch seconds where the description
        // says date-time strings, and PromptLayer takes them: so does this stand-in.
        let isSDKTime =
            type == "string" && schema["format"] == .string("date-time") && ["integer", "number"].contains(actual)
        guard actual == type || (type == "number" && actual == "integer") || isSDKTime else {
            return ["\(location) is \(actual), the API wants \(type)"]
        }
        if let number = value.numberValue {
            if case .integer(let minimum)? = schema["minimum"], number < Double(minimum) {
                return ["\(location) is below the API's minimum \(minimum)"]
            }
            if case .integer(let maximum)? = schema["maximum"], number > Double(maximum) {
                return ["\(location) is above the API's maximum \(maximum)"]
            }
        }
        guard case .object(let members) = value else {
            return []
        }
        var problems = self.checkMembers(members, against: schema, at: location)
        if case .object = schema["additionalProperties"], let extra = schema["additionalProperties"] {
            let declared = schema["properties"]
            for (name, member) in members where declared?[name] == nil {
                problems += self.check(member, against: self.resolve(extra), at: "\(location).\(name)")
            }
        }
        return problems
    }

    /// A `oneOf`: with a discriminator, the option its property names; without, exactly one.
    private func checkOneOf(_ value: JSONValue, _ options: [JSONValue], discriminator: JSONValue?, at location: String)
        -> [String]
    {
        if case .string(let property)? = discriminator?["propertyName"] {
            guard case .string(let chosen)? = value[property],
                case .string(let reference)? = discriminator?["mapping"]?[chosen]
            else {
                return ["\(location).\(property) is none of the API's choices"]
            }
            return self.check(value, against: self.resolve(.object(["$ref": .string(reference)])), at: location)
        }
        let fitting = options.count { self.check(value, against: self.resolve($0), at: location).isEmpty }
        return fitting == 1 ? [] : ["\(location) matches \(fitting) of the oneOf types, not exactly one"]
    }

    private func checkMembers(_ members: [String: JSONValue], against schema: JSONValue, at location: String)
        -> [String]
    {
        var problems: [String] = []
        if case .array(let required)? = schema["required"] {
            for case .string(let name) in required where members[name] == nil {
                problems.append("\(location).\(name) is required by the API")
            }
        }
        if case .object(let properties)? = schema["properties"] {
            for (name, member) in members {
                if let propertySchema = properties[name] {
                    problems += self.check(member, against: self.resolve(propertySchema), at: "\(location).\(name)")
                }
            }
        }
        return problems
    }
}
