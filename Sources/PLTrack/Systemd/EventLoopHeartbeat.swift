import NIOConcurrencyHelpers
import NIOCore

/// Checks that every event loop still runs tasks: each tick submits a task to every loop, and
/// the next tick counts the loops whose task has not run.
final class EventLoopHeartbeat: Sendable {
    private let loops: [any EventLoop]
    private let pending = NIOLockedValueBox<Set<Int>>([])

    init(group: any EventLoopGroup) {
        self.loops = Array(group.makeIterator())
    }

    /// Returns how many loops missed the previous beat, then starts the next one.
    func beat() -> Int {
        let silent = self.pending.withLockedValue { pending in
            defer { pending = Set(self.loops.indices) }
            return pending.count
        }
        for (index, loop) in self.loops.enumerated() {
            loop.execute {
                _ = self.pending.withLockedValue { $0.remove(index) }
            }
        }
        return silent
    }
}
