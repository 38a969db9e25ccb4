import NIOCore

/// The isolation a worker's loop runs in when its upstream connection lives on an event loop:
/// an actor whose executor is that loop.
///
/// The loop takes a call from the pipeline, writes the request and reads the answer on the
/// thread that owns the connection, so a request costs no hand-off between threads; only a
/// worker that waited for work is woken from another thread.
actor DeliveryWorker {
    let eventLoop: any EventLoop

    init(on eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    nonisolated var unownedExecutor: UnownedSerialExecutor {
        self.eventLoop.executor.asUnownedSerialExecutor()
    }

    /// Runs `body` isolated to this worker, on its event loop.
    func run(_ body: @Sendable (isolated DeliveryWorker) async -> Void) async {
        await body(self)
    }
}
