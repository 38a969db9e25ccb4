import Foundation

/// Runs `body`, which blocks (a blocking socket, the shipped Swift client), on a thread of its
/// own and waits for it without holding a thread: a test that blocks one of the few Swift
/// concurrency threads (two on a two-core machine) starves the daemons and tests beside it,
/// which need those threads to answer it.
public func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try body() })
        }
    }
}
