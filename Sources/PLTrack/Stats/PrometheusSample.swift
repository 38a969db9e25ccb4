/// One sample of the Prometheus text exposition format.
struct PrometheusSample: Equatable {
    var name: String
    /// `counter`, `gauge` or `summary`; `nil` for the `_sum` and `_count` lines of a summary.
    var type: String?
    /// `key=value` pairs, values unquoted.
    var labels: [String]
    var value: Double

    /// The samples as exposition text: a `# TYPE` line per metric, then its samples, sorted by name.
    static func render(_ samples: [PrometheusSample]) -> String {
        var lines: [String] = []
        var typed = Set<String>()
        for sample in samples.sorted(by: { ($0.name, $0.labels.joined()) < ($1.name, $1.labels.joined()) }) {
            if let type = sample.type, typed.insert(sample.name).inserted {
                lines.append("# TYPE \(sample.name) \(type)")
            }
            let labels = sample.labels.map { label -> String in
                let parts = label.split(separator: "=", maxSplits: 1).map(String.init)
                return "\(parts[0])=\"\(Self.escape(parts.count > 1 ? parts[1] : ""))\""
            }
            let labelText = labels.isEmpty ? "" : "{\(labels.joined(separator: ","))}"
            lines.append("\(sample.name)\(labelText) \(Self.format(sample.value))")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func escape(_ value: String) -> String {
        var result = ""
        for character in value {
            switch character {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            default: result.append(character)
            }
        }
        return result
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
