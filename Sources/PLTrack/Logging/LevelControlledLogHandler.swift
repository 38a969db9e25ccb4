import Logging

/// What the daemon's log handlers share: handler metadata, and a level read from the
/// ``LogLevelControl`` a reload changes.
protocol LevelControlledLogHandler: LogHandler {
    var levelControl: LogLevelControl { get }
}

extension LevelControlledLogHandler {
    public var logLevel: Logger.Level {
        get { self.levelControl.current }
        set { self.levelControl.current = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    /// The handler's metadata with the event's on top.
    func mergedMetadata(_ event: LogEvent) -> Logger.Metadata {
        self.metadata.merging(event.metadata ?? [:]) { $1 }
    }
}
