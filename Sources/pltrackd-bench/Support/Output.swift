import Foundation

/// What the generator writes: one JSON object per result on standard output, for the script
/// that runs it, and notes for people on standard error.
enum Output {
    /// Writes `value` as one line of JSON with snake_case keys on standard output.
    static func result(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        var line = try encoder.encode(value)
        line.append(UInt8(ascii: "\n"))
        FileHandle.standardOutput.write(line)
    }

    /// Writes `line` to standard error.
    static func note(_ line: String) {
        FileHandle.standardError.write(Data(("pltrackd-bench: " + line + "\n").utf8))
    }
}
