import CMalloc
import Glibc

/// How the daemon gives freed memory back to the system.
///
/// glibc raises its trim and `mmap` thresholds as large blocks come and go, up to 32 MiB, and
/// keeps what lies under them. After a burst (a million calls read in and spooled while
/// PromptLayer is down) the daemon would go on holding memory it no longer uses: 120 MiB
/// instead of 82 MiB in the benchmark's row. Fixed thresholds hand it back.
enum HeapTrimming {
    /// Freed memory above this much at the top of the heap goes back to the system.
    static let threshold: Int32 = 128 << 10

    /// Fixes glibc's thresholds, unless the operator set `MALLOC_TRIM_THRESHOLD_` themselves.
    static func returnFreedMemory() {
        guard getenv("MALLOC_TRIM_THRESHOLD_") == nil else {
            return
        }
        _ = mallopt(M_TRIM_THRESHOLD, Self.threshold)
    }
}
