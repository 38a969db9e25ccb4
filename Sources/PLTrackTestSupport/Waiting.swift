/// A wait that gave up: names what it waited for, so a test that times out says why.
public struct WaitTimedOut: Error, CustomStringConvertible {
    /// What the test waited for, e.g. "the spool's records to reach 0".
    public var awaited: String
    public var limit: Duration
    /// The last error the probe threw, if it threw.
    public var lastError: (any Error)?

    public init(awaited: String, limit: Duration, lastError: (any Error)? = nil) {
        self.awaited = awaited
        self.limit = limit
        self.lastError = lastError
    }

    public var description: String {
        "gave up after \(self.limit) waiting for \(self.awaited)"
            + (self.lastError.map { " (last error: \($0))" } ?? "")
    }
}

/// Polls `probe` until it returns a value and returns that value; throws ``WaitTimedOut``
/// naming `awaited` if none came within `limit`. The limit only keeps a failure from hanging:
/// a test asserts on what it waited for, never on how long that took.
public func waitFor<Value>(
    _ awaited: String,
    limit: Duration = .seconds(120),
    polling interval: Duration = .milliseconds(10),
    _ probe: () async throws -> Value?
) async throws -> Value {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while true {
        if let value = try await probe() {
            return value
        }
        guard clock.now < deadline else {
            throw WaitTimedOut(awaited: awaited, limit: limit)
        }
        try await Task.sleep(for: interval)
    }
}

/// Polls `condition` until it holds; throws ``WaitTimedOut`` naming `awaited` if it did not
/// within `limit`.
public func waitUntil(
    _ awaited: String,
    limit: Duration = .seconds(120),
    polling interval: Duration = .milliseconds(10),
    _ condition: () async throws -> Bool
) async throws {
    try await waitFor(awaited, limit: limit, polling: interval) { try await condition() ? () : nil }
}
