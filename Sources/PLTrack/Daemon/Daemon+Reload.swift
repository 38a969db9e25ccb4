import Logging
import NIOCore
import Synchronization
import UnixSignals

extension Daemon {
    /// Answers every SIGHUP until cancelled: a reload, unless the terminal pltrackd was
    /// started from has been closed, which stops it as SIGTERM does (see
    /// ``ControllingTerminal``).
    func answerHangups() async {
        for await _ in await UnixSignalsSequence(trapping: .sighup) {
            if self.terminal.hasHungUp {
                self.requestStop(because: "its terminal was closed")
                return
            }
            self.reload()
        }
    }

    /// Reads the configuration again. A valid one takes effect for every reloadable setting; an
    /// invalid one is refused whole, the old configuration stays, and `STATUS=` says why.
    func reload() {
        guard let reloader = self.reloader else {
            return
        }
        self.notifier.reloading()
        switch reloader.resolve() {
        case .success(let resolved):
            let outcome = self.live.reload(from: resolved.configuration)
            let current = self.live.current
            self.pipeline.reconfigure(
                capacity: current.queueCapacity, coalescingWindow: TimeAmount(current.coalescingWindow))
            self.logLevel.current = current.logLevel
            self.statusNote.withLock {
                $0 =
                    outcome.needRestart.isEmpty
                    ? nil : "restart to apply \(outcome.needRestart.joined(separator: ", "))"
            }
            self.logger.notice(
                "configuration reloaded",
                metadata: [
                    "applied": "\(outcome.applied.joined(separator: ","))",
                    "needs_restart": "\(outcome.needRestart.joined(separator: ","))",
                ]
            )
        case .failure(let problems):
            let first = problems.problems.first?.description ?? "invalid configuration"
            self.statusNote.withLock { $0 = "reload refused, previous configuration kept: \(first)" }
            self.logger.error(
                "configuration reload refused; keeping the previous configuration",
                metadata: ["problems": "\(problems.description)"])
        }
        self.notifier.ready()
        self.notifier.status(self.statusLine())
    }
}
