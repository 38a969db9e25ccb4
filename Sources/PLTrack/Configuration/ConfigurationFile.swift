/// The configuration file: a flat subset of TOML, one `key = value` per line.
///
/// Values are double-quoted strings (with `\"`, `\\`, `\n`, `\t` escapes), bare integers, or
/// `true`/`false`; `#` starts a comment. Sections and arrays are not part of the format, so a
/// line that uses them is an error that names its line rather than something silently ignored.
public struct ConfigurationFile: Sendable, Equatable {
    /// One `key = value` line.
    public struct Entry: Sendable, Equatable {
        public var key: String
        /// The value as text, unquoted.
        public var value: String
        public var line: Int
    }

    /// The file's path, for messages.
    public var path: String
    public var entries: [Entry]

    /// Parses `text`; every malformed line is reported, each with its number.
    public static func parse(_ text: String, path: String) -> Result<ConfigurationFile, ConfigurationProblems> {
        var entries: [Entry] = []
        var problems: [ConfigurationProblem] = []
        var seen: [String: Int] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let source = "\(path):\(number)"
            let line = Self.stripComment(String(rawLine)).trimmingWhitespace()
            if line.isEmpty {
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                let reason =
                    line.hasPrefix("[")
                    ? "sections are not supported; write every key at the top level" : "expected key = value"
                problems.append(ConfigurationProblem(source: source, message: reason))
                continue
            }
            let key = String(line[..<equals]).trimmingWhitespace()
            let rawValue = String(line[line.index(after: equals)...]).trimmingWhitespace()
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                problems.append(ConfigurationProblem(source: source, message: "\"\(key)\" is not a valid key"))
                continue
            }
            if let earlier = seen[key] {
                problems.append(
                    ConfigurationProblem(source: source, message: "\(key) is already set on line \(earlier)"))
                continue
            }
            seen[key] = number
            switch Self.value(rawValue) {
            case .success(let value):
                entries.append(Entry(key: key, value: value, line: number))
            case .failure(let reason):
                problems.append(ConfigurationProblem(source: "\(source) \(key)", message: reason.message))
            }
        }
        return problems.isEmpty
            ? .success(ConfigurationFile(path: path, entries: entries)) : .failure(ConfigurationProblems(problems))
    }

    private struct ValueError: Error {
        var message: String
    }

    private static func value(_ text: String) -> Result<String, ValueError> {
        guard let first = text.first else {
            return .failure(ValueError(message: "a value is required after ="))
        }
        if first != "\"" {
            guard text == "true" || text == "false" || Int(text.replacingUnderscores()) != nil else {
                return .failure(
                    ValueError(
                        message: "\(text) is not a quoted string, an integer or a boolean; quote it: \"\(text)\""))
            }
            return .success(text.replacingUnderscores())
        }
        var result = ""
        var escaped = false
        for (offset, character) in text.dropFirst().enumerated() {
            if escaped {
                switch character {
                case "\"", "\\": result.append(character)
                case "n": result.append("\n")
                case "t": result.append("\t")
                default: return .failure(ValueError(message: "unsupported escape \\\(character)"))
                }
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                guard offset == text.count - 2 else {
                    return .failure(ValueError(message: "unexpected text after the closing quote"))
                }
                return .success(result)
            } else {
                result.append(character)
            }
        }
        return .failure(ValueError(message: "the string has no closing quote"))
    }

    /// Removes a `#` comment that is not inside a string.
    private static func stripComment(_ line: String) -> String {
        var inString = false
        var escaped = false
        for index in line.indices {
            let character = line[index]
            if escaped {
                escaped = false
            } else if character == "\\" && inString {
                escaped = true
            } else if character == "\"" {
                inString.toggle()
            } else if character == "#" && !inString {
                return String(line[..<index])
            }
        }
        return line
    }
}

extension String {
    /// TOML allows `1_000_000`.
    fileprivate func replacingUnderscores() -> String {
        self.count > 1 && self.first?.isNumber == true ? String(self.filter { $0 != "_" }) : self
    }
}
