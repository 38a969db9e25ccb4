/// One configurable option: its name on every surface (flag, environment variable, file key),
/// how to read its text, and how to show its value.
public struct Setting: Sendable {
    /// The flag name without dashes, e.g. `coalesce-window`.
    public let name: String
    /// Other environment variables that set it, after `PLTRACKD_…` (e.g. `PROMPTLAYER_BASE_URL`).
    public let aliases: [String]
    /// Whether a SIGHUP reload applies a new value; others need a restart.
    public let isReloadable: Bool
    let apply: @Sendable (String, inout DaemonConfiguration) -> String?
    let show: @Sendable (DaemonConfiguration) -> String?

    /// `--coalesce-window`.
    public var flag: String { "--" + self.name }
    /// `coalesce_window`.
    public var fileKey: String { self.name.replacingDashes(with: "_") }
    /// `PLTRACKD_COALESCE_WINDOW`.
    public var environmentVariable: String { "PLTRACKD_" + self.fileKey.uppercased() }

    /// The current value as it would be written in the file, or `nil` when unset.
    public func value(in configuration: DaemonConfiguration) -> String? {
        self.show(configuration)
    }
}

extension Setting {
    static func duration(
        _ name: String,
        _ keyPath: any WritableKeyPath<DaemonConfiguration, Duration> & Sendable,
        allowsZero: Bool = false,
        reloadable: Bool
    ) -> Setting {
        Setting(name: name, aliases: [], isReloadable: reloadable) { text, configuration in
            guard let value = HumanDuration.parse(text) else {
                return "\"\(text)\" is not a duration; write it like 50ms, 10s or 2m"
            }
            guard allowsZero || value > .zero else {
                return "must be more than 0"
            }
            configuration[keyPath: keyPath] = value
            return nil
        } show: {
            HumanDuration.format($0[keyPath: keyPath])
        }
    }

    static func integer(
        _ name: String,
        _ keyPath: any WritableKeyPath<DaemonConfiguration, Int> & Sendable,
        in range: ClosedRange<Int>,
        reloadable: Bool
    ) -> Setting {
        Setting(name: name, aliases: [], isReloadable: reloadable) { text, configuration in
            guard let value = Int(text), range.contains(value) else {
                return "\"\(text)\" is not a whole number from \(range.lowerBound) to \(range.upperBound)"
            }
            configuration[keyPath: keyPath] = value
            return nil
        } show: {
            String($0[keyPath: keyPath])
        }
    }

    static func size(
        _ name: String,
        _ keyPath: any WritableKeyPath<DaemonConfiguration, Int> & Sendable,
        in range: ClosedRange<Int>,
        reloadable: Bool
    ) -> Setting {
        Setting(name: name, aliases: [], isReloadable: reloadable) { text, configuration in
            guard let value = HumanByteSize.parse(text) else {
                return "\"\(text)\" is not a size; write it like 65536, 512KiB or 1MiB"
            }
            guard range.contains(value) else {
                return
                    "must be from \(HumanByteSize.format(range.lowerBound)) to \(HumanByteSize.format(range.upperBound))"
            }
            configuration[keyPath: keyPath] = value
            return nil
        } show: {
            HumanByteSize.format($0[keyPath: keyPath])
        }
    }

    static func text(
        _ name: String,
        _ keyPath: any WritableKeyPath<DaemonConfiguration, String> & Sendable,
        aliases: [String] = [],
        reloadable: Bool,
        rule: @escaping @Sendable (String) -> String? = { $0.isEmpty ? "must not be empty" : nil }
    ) -> Setting {
        Setting(name: name, aliases: aliases, isReloadable: reloadable) { text, configuration in
            if let problem = rule(text) {
                return problem
            }
            configuration[keyPath: keyPath] = text
            return nil
        } show: {
            $0[keyPath: keyPath]
        }
    }

    /// A path that is unset by default; given, it must not be empty (`problem` says why).
    static func optionalPath(
        _ name: String,
        _ keyPath: any WritableKeyPath<DaemonConfiguration, String?> & Sendable,
        reloadable: Bool,
        problem: String = "must not be empty"
    ) -> Setting {
        Setting(name: name, aliases: [], isReloadable: reloadable) { text, configuration in
            guard !text.isEmpty else {
                return problem
            }
            configuration[keyPath: keyPath] = text
            return nil
        } show: {
            $0[keyPath: keyPath]
        }
    }

    /// A list of user or group ids, comma-separated (a repeated flag is joined with commas);
    /// unset by default.
    static func idList(
        _ name: String,
        _ keyPath: any WritableKeyPath<DaemonConfiguration, [UInt32]?> & Sendable,
        reloadable: Bool
    ) -> Setting {
        Setting(name: name, aliases: [], isReloadable: reloadable) { text, configuration in
            let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
                String($0.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
            }
            var ids: [UInt32] = []
            for part in parts {
                guard let id = UInt32(part), id != UInt32.max else {
                    return "\"\(part)\" is not a numeric id; write ids like 1000 or 1000,1001"
                }
                ids.append(id)
            }
            configuration[keyPath: keyPath] = ids
            return nil
        } show: {
            $0[keyPath: keyPath].map { Set($0).sorted().map(String.init).joined(separator: ",") }
        }
    }

    /// One of the named cases of `Choice`, such as a log level.
    static func choice<Choice: RawRepresentable & CaseIterable & Sendable>(
        _ name: String,
        _ keyPath: any WritableKeyPath<DaemonConfiguration, Choice> & Sendable,
        reloadable: Bool
    ) -> Setting where Choice.RawValue == String {
        Setting(name: name, aliases: [], isReloadable: reloadable) { text, configuration in
            guard let choice = Choice(rawValue: text) else {
                return "\"\(text)\" is not one of \(Choice.allCases.map(\.rawValue).joined(separator: ", "))"
            }
            configuration[keyPath: keyPath] = choice
            return nil
        } show: {
            $0[keyPath: keyPath].rawValue
        }
    }
}

extension String {
    func replacingDashes(with replacement: Character) -> String {
        String(self.map { $0 == "-" ? replacement : $0 })
    }
}
