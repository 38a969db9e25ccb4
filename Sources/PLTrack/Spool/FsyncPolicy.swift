/// When the spool is flushed to stable storage, and so what `"ok": true` promises (`--fsync`).
public enum FsyncPolicy: String, Sendable, CaseIterable {
    /// The acknowledgement waits for an `fsync` covering the record (group commit): it survives
    /// a power failure.
    case always
    /// The spool is flushed every `--fsync-interval`; acknowledgements do not wait, so a power
    /// failure can lose the last interval. A crash of the daemon alone loses nothing.
    case interval
    /// The kernel flushes when it likes; a crash of the daemon alone loses nothing.
    case never
}
