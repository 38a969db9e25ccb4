import Foundation
import NIOSSL

/// Builds the effective ``DaemonConfiguration`` from its four layers: flags, then environment,
/// then the configuration file, then defaults. Every problem in every layer is collected, so
/// one run of `check-config` shows them all.
public struct ConfigurationResolver: Sendable {
    /// The default configuration file; a missing default file is not an error.
    public static let defaultPath = "/etc/pltrackd/pltrackd.toml"
    /// The systemd credential holding the API key (`LoadCredential=promptlayer-api-key:…`).
    public static let credentialName = "promptlayer-api-key"

    /// Raw flag values by setting name (`coalesce-window` → `50ms`).
    public var flags: [String: String]
    public var environment: [String: String]
    /// `--config`; when `nil`, `PLTRACKD_CONFIG` or ``defaultPath``.
    public var configPath: String?

    public init(flags: [String: String], environment: [String: String], configPath: String?) {
        self.flags = flags
        self.environment = environment
        self.configPath = configPath
    }

    /// The configuration and, for each setting that is not a default, where its value came from.
    public struct Resolved: Sendable {
        public var configuration: DaemonConfiguration
        public var sources: [String: String]
        /// The file that was read, if any.
        public var file: String?
    }

    public func resolve() -> Result<Resolved, ConfigurationProblems> {
        var problems: [ConfigurationProblem] = []
        var configuration = DaemonConfiguration(socketPath: SocketLocation.daemonDefault(environment: self.environment))
        var sources: [String: String] = [:]
        let file = self.readFile(&problems)
        var fileValues: [String: ConfigurationFile.Entry] = [:]
        for entry in file?.entries ?? [] {
            if let setting = Settings.named(entry.key) {
                fileValues[setting.name] = entry
            } else if let file {
                problems.append(
                    ConfigurationProblem(source: "\(file.path):\(entry.line)", message: "unknown key \(entry.key)"))
            }
        }
        for setting in Settings.all {
            let layers: [(source: String, value: String?)] =
                [
                    (setting.flag, self.flags[setting.name]),
                    (setting.environmentVariable, self.environment[setting.environmentVariable]),
                ]
                + setting.aliases.map { ($0, self.environment[$0]) }
                + [
                    (
                        fileValues[setting.name].map { "\(file?.path ?? ""):\($0.line) \(setting.fileKey)" } ?? "",
                        fileValues[setting.name]?.value
                    )
                ]
            guard let chosen = layers.first(where: { $0.value.map { !$0.isEmpty } ?? false }), let value = chosen.value
            else {
                continue
            }
            if let problem = setting.apply(value, &configuration) {
                problems.append(ConfigurationProblem(source: chosen.source, message: problem))
            } else {
                sources[setting.name] = chosen.source
            }
        }
        if configuration.retryPolicy.cap < configuration.retryPolicy.base {
            problems.append(
                ConfigurationProblem(
                    source: sources["retry-cap"] ?? "retry-cap", message: "must be at least retry-base"))
        }
        if configuration.spool == .off, configuration.spoolDirectory != nil {
            problems.append(
                ConfigurationProblem(
                    source: sources["spool-dir"] ?? "spool-dir",
                    message: "is set while spool is off; remove one of them"))
        }
        if configuration.spoolDirectory == nil, configuration.spool == .on,
            let state = self.environment["STATE_DIRECTORY"]?.split(separator: ":").first
        {
            // systemd's StateDirectory=: the spool lives there unless told otherwise.
            configuration.spoolDirectory = String(state)
            sources["spool-dir"] = "STATE_DIRECTORY"
        }
        self.proxyFromTheEnvironment(into: &configuration, sources: &sources, &problems)
        self.loadAPIKey(into: &configuration, sources: sources, &problems)
        Self.checkCertificateAuthorities(configuration, sources: sources, &problems)
        guard problems.isEmpty else {
            return .failure(ConfigurationProblems(problems))
        }
        return .success(Resolved(configuration: configuration, sources: sources, file: file?.path))
    }

    private func readFile(_ problems: inout [ConfigurationProblem]) -> ConfigurationFile? {
        let explicit = self.configPath ?? self.environment["PLTRACKD_CONFIG"]
        let path = explicit ?? Self.defaultPath
        guard let data = FileManager.default.contents(atPath: path) else {
            if explicit != nil {
                problems.append(ConfigurationProblem(source: "--config", message: "cannot read \(path)"))
            }
            return nil
        }
        switch ConfigurationFile.parse(String(decoding: data, as: UTF8.self), path: path) {
        case .success(let file):
            return file
        case .failure(let fileProblems):
            problems += fileProblems.problems
            return nil
        }
    }

    /// Without `proxy` set, the proxy the environment names for the upstream's scheme, as curl
    /// and the SDKs take it: `HTTPS_PROXY` (or `https_proxy`) for `https`, `HTTP_PROXY` (or
    /// `http_proxy`) for `http`.
    private func proxyFromTheEnvironment(
        into configuration: inout DaemonConfiguration, sources: inout [String: String],
        _ problems: inout [ConfigurationProblem]
    ) {
        guard configuration.proxy == nil else {
            return
        }
        let secure = configuration.upstreamURL.lowercased().hasPrefix("https://")
        let names = secure ? ["HTTPS_PROXY", "https_proxy"] : ["HTTP_PROXY", "http_proxy"]
        guard let name = names.first(where: { !(self.environment[$0] ?? "").isEmpty }),
            let text = self.environment[name]
        else {
            return
        }
        switch UpstreamProxy.parse(text) {
        case .success(let proxy):
            configuration.proxy = proxy
            sources["proxy"] = name
        case .failure(let problem):
            problems.append(ConfigurationProblem(source: name, message: problem.message))
        }
    }

    /// An unreadable `upstream-ca-file` is an error at startup, not a failed TLS handshake on
    /// every delivery attempt later.
    private static func checkCertificateAuthorities(
        _ configuration: DaemonConfiguration, sources: [String: String], _ problems: inout [ConfigurationProblem]
    ) {
        guard let path = configuration.upstreamCAFile else {
            return
        }
        let source = sources["upstream-ca-file"] ?? "--upstream-ca-file"
        guard FileManager.default.isReadableFile(atPath: path) else {
            problems.append(ConfigurationProblem(source: source, message: "cannot read \(path)"))
            return
        }
        let certificates = try? NIOSSLCertificate.fromPEMFile(path)
        if certificates?.isEmpty ?? true {
            problems.append(ConfigurationProblem(source: source, message: "\(path) holds no PEM certificate"))
        }
    }

    /// The key: `api-key-file`, else the systemd credential, else `PROMPTLAYER_API_KEY`. An empty
    /// credential means "no key" (the packaged unit sets one as the fallback of `LoadCredential=`).
    private func loadAPIKey(
        into configuration: inout DaemonConfiguration, sources: [String: String],
        _ problems: inout [ConfigurationProblem]
    ) {
        if let path = configuration.apiKeyFile {
            guard let data = FileManager.default.contents(atPath: path) else {
                problems.append(
                    ConfigurationProblem(
                        source: sources["api-key-file"] ?? "--api-key-file", message: "cannot read \(path)"))
                return
            }
            let key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !key.isEmpty else {
                problems.append(
                    ConfigurationProblem(
                        source: sources["api-key-file"] ?? "--api-key-file", message: "\(path) is empty"))
                return
            }
            configuration.apiKey = APIKey(key)
            configuration.apiKeySource = "file \(path)"
            return
        }
        if let directory = self.environment["CREDENTIALS_DIRECTORY"],
            let data = FileManager.default.contents(atPath: directory + "/" + Self.credentialName)
        {
            let key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !key.isEmpty {
                configuration.apiKey = APIKey(key)
                configuration.apiKeySource = "systemd credential \(Self.credentialName)"
                return
            }
        }
        if let key = self.environment["PROMPTLAYER_API_KEY"]?.trimmingCharacters(in: .whitespacesAndNewlines),
            !key.isEmpty
        {
            configuration.apiKey = APIKey(key)
            configuration.apiKeySource = "PROMPTLAYER_API_KEY"
        }
    }
}

extension ConfigurationResolver.Resolved {
    /// The effective configuration as `check-config` prints it: one `key = value` line per
    /// setting with where it came from; the API key itself is never shown.
    public var report: String {
        var lines: [String] = []
        if let file {
            lines.append("# configuration file: \(file)")
        } else {
            lines.append("# configuration file: none")
        }
        for setting in Settings.all {
            let value = setting.value(in: self.configuration).map { JSONText.quoted($0) } ?? "(unset)"
            lines.append("\(setting.fileKey) = \(value)  # \(self.sources[setting.name] ?? "default")")
        }
        let key = self.configuration.apiKey == nil ? "none: calls go to the outbox" : "<redacted>"
        lines.append("# api key: \(key) (source: \(self.configuration.apiKeySource))")
        return lines.joined(separator: "\n")
    }
}
