import NIOCore

/// Where calls go when they are taken: into memory, into the backlog on disk, or nowhere yet;
/// and when the backlog is read back.
extension PipelineStateMachine {
    /// Where the next call would go.
    var admission: Admission {
        self.admission(inMemory: self.inMemory, backlog: self.backlog, sequence: self.nextSequence)
    }

    /// Where each of the next `count` calls would go if every one before it were taken: the
    /// admissions into memory or the backlog, up to and without the first that refuses.
    ///
    /// It counts each call taken into memory as one more held there. One that replaces a call
    /// coalescing for the same request adds none, so the plan may send a later call to the
    /// backlog that had room in memory: ``submit(_:now:as:)`` follows the plan, and the call is
    /// read back from the spool at once. The plan never puts a call in memory that has no room.
    func admissions(forNext count: Int) -> [Admission] {
        var plan: [Admission] = []
        plan.reserveCapacity(count)
        var (inMemory, backlog, sequence) = (self.inMemory, self.backlog, self.nextSequence)
        for _ in 0..<count {
            let admission = self.admission(inMemory: inMemory, backlog: backlog, sequence: sequence)
            switch admission {
            case .memory: inMemory += 1
            case .backlog: backlog += 1
            case .full, .spoolFull, .shuttingDown: return plan
            }
            plan.append(admission)
            sequence += 1
        }
        return plan
    }

    private func admission(inMemory: Int, backlog: Int, sequence: UInt64) -> Admission {
        guard case .running = self.phase else {
            return .shuttingDown
        }
        guard self.isSpooled else {
            return inMemory < self.capacity ? .memory(sequence: sequence) : .full
        }
        if self.isSpoolFull {
            return .spoolFull
        }
        if self.isSpoolBusy {
            return .full
        }
        if backlog == 0 && inMemory < self.capacity {
            return .memory(sequence: sequence)
        }
        return .backlog(sequence: sequence, starts: backlog == 0)
    }

    /// How many backlog calls the driver should read from the spool now: none while a read is
    /// under way, and none until a batch fits, so the spool is read in runs rather than a call
    /// at a time.
    var backlogWanted: Int {
        guard !self.isReadingBacklog, !self.backlogReadFoundNothing, self.backlog > 0,
            case let room = self.capacity - self.inMemory, room > 0
        else {
            return 0
        }
        let batch = min(self.backlog, self.run)
        return room >= batch ? min(room, self.backlog, 4096) : 0
    }
}
