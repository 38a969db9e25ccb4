/// Reads durations as people write them: `50ms`, `10s`, `1.5s`, `2m`, `24h`, `250us`.
public enum HumanDuration {
    private static let units: [(suffix: String, nanoseconds: Double)] = [
        ("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9), ("d", 86_400e9),
    ]

    /// The duration `text` names, or `nil` when it is not a non-negative number followed by a unit
    /// (`0` alone is allowed).
    public static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingWhitespace()
        if trimmed == "0" {
            return .zero
        }
        for unit in Self.units.sorted(by: { $0.suffix.count > $1.suffix.count }) where trimmed.hasSuffix(unit.suffix) {
            let number = trimmed.dropLast(unit.suffix.count)
            guard let value = Double(number), value >= 0, value.isFinite, number.first?.isNumber == true else {
                return nil
            }
            let nanoseconds = value * unit.nanoseconds
            guard nanoseconds < 9.2e18 else {
                return nil
            }
            return .nanoseconds(Int64(nanoseconds))
        }
        return nil
    }

    /// `duration` written back in the largest unit that keeps it exact, e.g. `50ms`.
    public static func format(_ duration: Duration) -> String {
        let nanoseconds = duration.nanoseconds
        for unit in Self.units.reversed() where unit.suffix != "µs" {
            let size = Int64(unit.nanoseconds)
            if nanoseconds != 0 && nanoseconds % size == 0 {
                return "\(nanoseconds / size)\(unit.suffix)"
            }
        }
        return "0"
    }
}

/// Reads sizes as people write them: `1MiB`, `512KiB`, `64kB`, `1048576`.
public enum HumanByteSize {
    private static let units: [(suffix: String, bytes: Int)] = [
        ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
        ("kB", 1000), ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("TB", 1_000_000_000_000),
        ("B", 1),
    ]

    /// The byte count `text` names, or `nil` when it is not a non-negative whole number with an
    /// optional unit.
    public static func parse(_ text: String) -> Int? {
        let trimmed = text.trimmingWhitespace()
        if let plain = Int(trimmed) {
            return plain >= 0 ? plain : nil
        }
        for unit in Self.units where trimmed.hasSuffix(unit.suffix) {
            guard let value = Int(trimmed.dropLast(unit.suffix.count)), value >= 0 else {
                return nil
            }
            let (bytes, overflow) = value.multipliedReportingOverflow(by: unit.bytes)
            return overflow ? nil : bytes
        }
        return nil
    }

    /// `bytes` in the largest binary unit that keeps it exact, e.g. `1MiB`.
    public static func format(_ bytes: Int) -> String {
        for unit in Self.units.prefix(4).reversed() where bytes != 0 && bytes % unit.bytes == 0 {
            return "\(bytes / unit.bytes)\(unit.suffix)"
        }
        return "\(bytes)B"
    }
}

extension String {
    func trimmingWhitespace() -> String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
