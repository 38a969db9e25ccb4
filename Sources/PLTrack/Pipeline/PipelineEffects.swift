import NIOCore

/// Identifies a worker, so the driver can resume the right one.
public typealias WorkerID = Int
/// Identifies a pending `flush`.
public typealias FlushID = UInt64
/// Identifies a connection that paused reading until the queue has room.
public typealias CapacityWaiterID = UInt64

/// What the driver must do after an event: calls to schedule for a retry, a timer to arm,
/// waiters to wake.
///
/// Returned by ``PipelineStateMachine``; performed by ``Pipeline`` after releasing its lock.
struct PipelineEffects: Equatable {
    /// Calls that wait out a backoff in delivery's ``RetrySchedule``.
    var retries: [ScheduledRetry] = []
    /// Arm the coalescing timer to fire at this deadline.
    var timer: NIODeadline?
    /// `flush` requests that are now satisfied.
    var completedFlushes: [FlushID] = []
    /// Connections that may read again.
    var resumedIngest: [CapacityWaiterID] = []
    /// Sequence numbers of calls that reached a final outcome, for the spool to record.
    var resolved: [UInt64] = []
    /// Logs PromptLayer answered, with the id, for the spool to record (which resolves them).
    var learned: [LearnedRef] = []
    /// Calls that will not be sent: the driver writes them to the dead letters.
    var refused: [RefusedCall] = []
    /// Refs whose log was answered (with an id or for good without): `request_id` queries
    /// waiting for them are answered.
    var answeredRefs: [String] = []

    static let none = PipelineEffects()

    /// Adds what `other` asks for to these effects.
    mutating func merge(_ other: PipelineEffects) {
        self.retries += other.retries
        if let timer = other.timer {
            self.timer = min(self.timer ?? timer, timer)
        }
        self.completedFlushes += other.completedFlushes
        self.resumedIngest += other.resumedIngest
        self.resolved += other.resolved
        self.learned += other.learned
        self.refused += other.refused
        self.answeredRefs += other.answeredRefs
    }
}
