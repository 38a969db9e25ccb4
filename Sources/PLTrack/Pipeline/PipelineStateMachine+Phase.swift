/// Where the pipeline is in its life, and what a pending `flush` waits for.
extension PipelineStateMachine {
    enum Phase {
        case running
        /// Stopping: new calls are refused, the rest is still delivered.
        case draining
        /// Stopped: workers end, whatever is held stays undelivered.
        case stopped
    }

    /// A `flush` waiting for every call accepted before it to have a final outcome.
    struct FlushWaiter {
        /// The last sequence number accepted before the flush.
        var upTo: UInt64
        /// Calls accepted up to then that have no final outcome yet.
        var outstanding: Int
    }
}
