import NIOConcurrencyHelpers

/// The configuration in force, which a SIGHUP reload may change. Parts that can change at run
/// time read it when they need a value; the rest read it once at start.
public final class LiveConfiguration: Sendable {
    private let box: NIOLockedValueBox<DaemonConfiguration>

    public init(_ configuration: DaemonConfiguration) {
        self.box = NIOLockedValueBox(configuration)
    }

    public var current: DaemonConfiguration {
        self.box.withLockedValue { $0 }
    }

    /// One part of the configuration in force, without copying the rest (for hot paths).
    public func read<Value>(_ part: (DaemonConfiguration) -> Value) -> Value {
        self.box.withLockedValue { part($0) }
    }

    /// What a reload did.
    public struct ReloadOutcome: Sendable, Equatable {
        /// Settings whose new value is now in force.
        public var applied: [String]
        /// Settings that changed in the file but need a restart.
        public var needRestart: [String]
    }

    /// Takes the reloadable settings of `new`; lists the others that differ.
    public func reload(from new: DaemonConfiguration) -> ReloadOutcome {
        self.box.withLockedValue { configuration in
            var outcome = ReloadOutcome(applied: [], needRestart: [])
            for setting in Settings.all {
                let newValue = setting.value(in: new)
                guard newValue != setting.value(in: configuration) else {
                    continue
                }
                if setting.isReloadable, let newValue, setting.apply(newValue, &configuration) == nil {
                    outcome.applied.append(setting.name)
                } else {
                    outcome.needRestart.append(setting.name)
                }
            }
            if new.apiKeySource != configuration.apiKeySource {
                outcome.needRestart.append("api key")
            }
            return outcome
        }
    }
}
