import Logging
import NIOCore

extension Daemon {
    /// Logs what the spool held at start: how much is sent again, and any damage found.
    func reportRecovery() {
        guard let journal = self.pipeline.journal else {
            self.logger.notice(
                "running without a spool: messages not yet delivered are lost if pltrackd stops or crashes; set --spool-dir"
            )
            return
        }
        let recovery = journal.recovery
        self.logger.info(
            "spool opened",
            metadata: [
                "spool": "\(journal.directory)", "fsync": "\(journal.policy.rawValue)",
                "recovered": "\(recovery.pending)", "recovered_in_flight": "\(recovery.inFlight)",
                "segments": "\(recovery.segments)",
            ]
        )
        for damage in recovery.damage {
            self.logger.error(
                "spool damage: records after it are skipped", metadata: ["damage": "\(damage)"])
        }
    }

    /// For `--fsync interval`: flushes the spool to disk every `interval` until cancelled.
    static func flushSpool(_ journal: SpoolJournal, every interval: Duration) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            journal.commitIfNeeded()
        }
    }
}
