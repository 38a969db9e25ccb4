import Foundation

/// An HTTP proxy pltrackd reaches PromptLayer through: a `CONNECT` tunnel to PromptLayer's host
/// and port, then TLS (or plain HTTP) to PromptLayer inside it (`--proxy`, else `HTTPS_PROXY`
/// for an `https` upstream or `HTTP_PROXY` for an `http` one).
///
/// The user and password of the URL are sent only as `Proxy-Authorization: Basic …`; logs,
/// `check-config` and `STATUS=` show the URL without them (``display``).
public struct UpstreamProxy: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// `Basic …`, from the URL's user and password.
    var authorization: String?
    /// The URL without its credentials.
    public var display: String

    /// Reads `http://[user[:password]@]host[:port][/]`; a problem for people otherwise.
    public static func parse(_ text: String) -> Result<UpstreamProxy, ProxyProblem> {
        guard let url = URL(string: text.contains("://") ? text : "http://" + text),
            let host = url.host, !host.isEmpty
        else {
            return .failure(ProxyProblem(message: "is not a proxy URL like http://proxy.example:3128"))
        }
        guard url.scheme?.lowercased() == "http" else {
            return .failure(
                ProxyProblem(
                    message:
                        "must be an http:// proxy (pltrackd asks it for a CONNECT tunnel; TLS to the proxy itself is not supported)"
                ))
        }
        guard url.path.isEmpty || url.path == "/", url.query == nil else {
            return .failure(ProxyProblem(message: "must be a proxy's address, without a path or query"))
        }
        let port = url.port ?? 80
        var authorization: String?
        if let user = url.user(percentEncoded: false) {
            let credentials = user + ":" + (url.password(percentEncoded: false) ?? "")
            authorization = "Basic " + Data(credentials.utf8).base64EncodedString()
        }
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return .success(
            UpstreamProxy(
                host: host, port: port, authorization: authorization, display: "http://\(bracketed):\(port)"))
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.host == rhs.host && lhs.port == rhs.port && lhs.authorization == rhs.authorization
    }
}

/// Why a proxy URL cannot be used.
public struct ProxyProblem: Error, Equatable {
    public var message: String
}

/// The hosts reached without the proxy (`--no-proxy`, else `NO_PROXY`): comma- or
/// space-separated names, each matching itself and its subdomains (`example.com` and
/// `.example.com` both match `api.example.com`), IP addresses matching themselves, `*`
/// matching every host. A port after a name is ignored.
public struct ProxyExclusions: Sendable, Equatable {
    public var entries: [String]

    public init(_ text: String) {
        self.entries = text.split(whereSeparator: { $0 == "," || $0 == " " }).compactMap { raw in
            var name = raw.trimmingCharacters(in: .whitespaces).lowercased()
            if name == "*" {
                return name
            }
            if name.hasPrefix("["), let end = name.firstIndex(of: "]") {
                name = String(name[name.index(after: name.startIndex)..<end])  // [::1]:8080
            } else if name.filter({ $0 == ":" }).count == 1, let colon = name.firstIndex(of: ":") {
                name = String(name[..<colon])  // host:port
            }
            name = String(name.drop(while: { $0 == "*" || $0 == "." }))  // *.example.com, .example.com
            return name.isEmpty ? nil : name
        }
    }

    /// Whether `host` is reached directly.
    public func excludes(_ host: String) -> Bool {
        let host = host.lowercased()
        return self.entries.contains { entry in
            entry == "*" || host == entry || host.hasSuffix("." + entry)
        }
    }
}
