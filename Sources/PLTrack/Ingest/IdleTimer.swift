import NIOCore

/// Ends a connection its client has left silent for `--idle-timeout`, so that forgotten
/// connections do not hold a slot of `--max-connections` for ever.
///
/// Activity only records the time (``touch()``), one clock reading per read; the one timer
/// is moved when it fires early. When it expires, `expire` decides: it returns `false` when
/// the connection is still owed something (a reply, room in the pipeline), and the timer
/// starts again.
final class IdleTimer {
    private let eventLoop: any EventLoop
    private let timeout: () -> TimeAmount
    private let expire: () -> Bool
    private var lastActivity: NIODeadline
    private var task: Scheduled<Void>?

    /// Starts the timer; `timeout` is read again each time it is set (`--idle-timeout` is
    /// reloadable), and zero stops it.
    init(timeout: @escaping () -> TimeAmount, on eventLoop: any EventLoop, expire: @escaping () -> Bool) {
        self.eventLoop = eventLoop
        self.timeout = timeout
        self.expire = expire
        self.lastActivity = eventLoop.now
        self.schedule(at: self.lastActivity)
    }

    func touch() {
        self.lastActivity = self.eventLoop.now
    }

    func cancel() {
        self.task?.cancel()
        self.task = nil
    }

    private func schedule(at start: NIODeadline) {
        let timeout = self.timeout()
        guard timeout > .zero else {
            self.task = nil
            return
        }
        let loopBound = NIOLoopBound(self, eventLoop: self.eventLoop)
        self.task = self.eventLoop.scheduleTask(deadline: start + timeout) {
            loopBound.value.fired()
        }
    }

    private func fired() {
        let now = self.eventLoop.now
        if self.lastActivity + self.timeout() > now {
            self.schedule(at: self.lastActivity)
        } else if !self.expire() {
            self.schedule(at: now)
        } else {
            self.task = nil
        }
    }
}
