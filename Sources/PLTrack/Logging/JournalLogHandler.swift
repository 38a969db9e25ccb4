import CSystemd
import Glibc
import Logging

/// Logs natively to the systemd journal with `sd_journal_sendv(3)`: the message, a syslog
/// `PRIORITY`, and each metadata entry as a field `PLTRACKD_<KEY>` (e.g. `PLTRACKD_REQUEST_ID`,
/// `PLTRACKD_UPSTREAM_STATUS`), so `journalctl PLTRACKD_UPSTREAM_STATUS=429` finds them.
public struct JournalLogHandler: LevelControlledLogHandler {
    public var metadata: Logger.Metadata = [:]
    private let label: String
    let levelControl: LogLevelControl

    public init(label: String, level: LogLevelControl) {
        self.label = label
        self.levelControl = level
    }

    /// Whether standard error is the journal stream systemd set up (`JOURNAL_STREAM=dev:inode`).
    public static func standardErrorIsJournal(environment: [String: String]) -> Bool {
        guard let stream = environment["JOURNAL_STREAM"] else {
            return false
        }
        let parts = stream.split(separator: ":")
        var status = stat()
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]), fstat(2, &status) == 0
        else {
            return false
        }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }

    public func log(event: LogEvent) {
        var fields = [
            "MESSAGE=\(event.message)",
            "PRIORITY=\(Self.priority(event.level))",
            "SYSLOG_IDENTIFIER=pltrackd",
            "PLTRACKD_LOGGER=\(self.label)",
            "CODE_FILE=\(event.file)",
            "CODE_LINE=\(event.line)",
            "CODE_FUNC=\(event.function)",
        ]
        for (key, value) in self.mergedMetadata(event) {
            fields.append("PLTRACKD_\(Self.fieldName(key))=\(value)")
        }
        Self.send(fields)
    }

    /// Journal field names are upper-case letters, digits and underscores.
    static func fieldName(_ key: String) -> String {
        String(key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Sends the fields as one journal entry; each field gets its own C string, freed after.
    private static func send(_ fields: [String]) {
        let strings = fields.map { strdup($0) }
        defer { strings.forEach { free($0) } }
        let vectors = strings.map { string in
            iovec(iov_base: UnsafeMutableRawPointer(string), iov_len: string.map { strlen($0) } ?? 0)
        }
        _ = vectors.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
    }
}
