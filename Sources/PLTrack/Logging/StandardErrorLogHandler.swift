import Foundation
import Logging

/// Plain log lines on standard error: time, level, message, then `key=value` metadata.
public struct StandardErrorLogHandler: LevelControlledLogHandler {
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let stream: StandardErrorStream
    let levelControl: LogLevelControl

    public init(label: String, level: LogLevelControl, stream: StandardErrorStream) {
        self.label = label
        self.levelControl = level
        self.stream = stream
    }

    public func log(event: LogEvent) {
        let merged = self.mergedMetadata(event)
        let fields = merged.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        let timestamp = ISO8601DateFormatter.string(
            from: Date(), timeZone: .current, formatOptions: [.withInternetDateTime])
        let line = "\(timestamp) \(event.level) \(self.label): \(event.message)\(fields)\n"
        self.stream.write(line)
    }
}
