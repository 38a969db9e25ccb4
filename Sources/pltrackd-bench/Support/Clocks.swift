import Glibc

/// The clocks the figures are read from.
enum Clocks {
    /// Nanoseconds of `CLOCK_MONOTONIC`. Every process on one machine reads the same clock, so
    /// the sink can subtract a time the generator wrote into a message from its own reading.
    static func monotonicNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Seconds since the Unix epoch (`CLOCK_REALTIME`), for lining up with the script's
    /// `$EPOCHREALTIME`.
    static func epochSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// CPU seconds this process has used, user and system, in all its threads.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
        return user + system
    }
}
