import DequeModule

/// The call numbers still pending in the spool, one bit each, from the oldest pending one to
/// the newest: a fixed fraction of a byte per call, where a set or dictionary would cost tens.
struct PendingSequences: Equatable {
    /// The call number of the first bit of `words`; a multiple of 64.
    private var base: UInt64 = 0
    private var words: Deque<UInt64> = []
    private(set) var count = 0

    /// The oldest pending call number.
    var first: UInt64? {
        // Leading empty words are trimmed, so the first word has a bit set.
        self.words.first.map { self.base + UInt64($0.trailingZeroBitCount) }
    }

    func contains(_ sequence: UInt64) -> Bool {
        guard let (index, bit) = self.position(of: sequence) else {
            return false
        }
        return self.words[index] & bit != 0
    }

    mutating func insert(_ sequence: UInt64) {
        let start = sequence & ~63
        if self.words.isEmpty {
            self.base = start
        } else if start < self.base {
            self.words.prepend(contentsOf: repeatElement(0, count: Int((self.base - start) / 64)))
            self.base = start
        }
        let index = Int((sequence - self.base) / 64)
        if index >= self.words.count {
            self.words.append(contentsOf: repeatElement(0, count: index - self.words.count + 1))
        }
        let bit = UInt64(1) << (sequence & 63)
        if self.words[index] & bit == 0 {
            self.words[index] |= bit
            self.count += 1
        }
    }

    /// Removes `sequence`; returns whether it was pending.
    mutating func remove(_ sequence: UInt64) -> Bool {
        guard let (index, bit) = self.position(of: sequence), self.words[index] & bit != 0 else {
            return false
        }
        self.words[index] &= ~bit
        self.count -= 1
        while let first = self.words.first, first == 0 {
            self.words.removeFirst()
            self.base += 64
        }
        return true
    }

    private func position(of sequence: UInt64) -> (index: Int, bit: UInt64)? {
        guard sequence >= self.base else {
            return nil
        }
        let index = (sequence - self.base) / 64
        guard index < UInt64(self.words.count) else {
            return nil
        }
        return (Int(index), UInt64(1) << (sequence & 63))
    }
}
