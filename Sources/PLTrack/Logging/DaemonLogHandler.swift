import Logging

/// Chooses where the daemon logs: natively to the journal when standard error is connected
/// to it (`JOURNAL_STREAM`), else plain lines on standard error.
public enum DaemonLogHandler {
    public static func make(label: String, level: LogLevelControl, environment: [String: String]) -> any LogHandler {
        if JournalLogHandler.standardErrorIsJournal(environment: environment) {
            return JournalLogHandler(label: label, level: level)
        }
        return StandardErrorLogHandler(label: label, level: level)
    }
}
