import Logging

/// Chooses where the daemon logs: natively to the journal when standard error is connected
/// to it (`JOURNAL_STREAM`), else plain lines on standard error through `stream`.
public enum DaemonLogHandler {
    public static func make(
        label: String, level: LogLevelControl, environment: [String: String], stream: StandardErrorStream
    ) -> any LogHandler {
        if JournalLogHandler.standardErrorIsJournal(environment: environment) {
            return JournalLogHandler(label: label, level: level)
        }
        return StandardErrorLogHandler(label: label, level: level, stream: stream)
    }
}
