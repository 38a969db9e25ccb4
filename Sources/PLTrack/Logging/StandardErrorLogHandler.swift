import Foundation
import Logging

/// Plain log lines on standard error: time, level, message, then `key=value` metadata.
public struct StandardErrorLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let level: LogLevelControl

    public init(label: String, level: LogLevelControl) {
        self.label = label
        self.level = level
    }

    public var logLevel: Logger.Level {
        get { self.level.current }
        set { self.level.current = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = merged.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        let timestamp = ISO8601DateFormatter.string(
            from: Date(), timeZone: .current, formatOptions: [.withInternetDateTime])
        let line = "\(timestamp) \(event.level) \(self.label): \(event.message)\(fields)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
