import Logging
import ServiceLifecycle

extension Daemon {
    /// Stops the daemon the way SIGTERM does (drain, then remove the sockets), for a reason
    /// of its own: its terminal was closed, or nobody reads its log any more.
    func requestStop(because reason: String) {
        self.stopRequests.continuation.yield(reason)
    }

    /// Returns on graceful shutdown (SIGTERM, SIGINT) or on the first ``requestStop(because:)``.
    func untilStopRequested() async {
        await withTaskGroup(of: Void.self) { race in
            race.addTask {
                try? await gracefulShutdown()
            }
            race.addTask {
                for await reason in self.stopRequests.stream {
                    self.logger.notice("stopping: \(reason)")
                    return
                }
            }
            await race.next()
            race.cancelAll()
        }
    }

    /// Stops the daemon once standard error has lost its reader, unless cancelled first.
    func stopWhenStandardErrorIsLost(_ standardError: StandardErrorStream) async {
        await standardError.lost()
        if !Task.isCancelled {
            self.requestStop(because: "standard error is gone (its terminal or pipe was closed)")
        }
    }
}
