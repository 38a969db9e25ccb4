import Foundation
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// PromptLayer through a company's HTTP proxy: a `CONNECT` tunnel, then TLS to PromptLayer
/// inside it; credentials only in `Proxy-Authorization`; a refusal named in the log and
/// `STATUS=`; `NO_PROXY` hosts reached directly. Against a real CONNECT proxy on loopback.
@Suite(.enabled(if: BuildProducts.onPath("openssl") != nil, "needs the openssl command (Debian package openssl)"))
struct ProxyTests {
    static func proxy(_ text: String) throws -> UpstreamProxy {
        try UpstreamProxy.parse(text).get()
    }

    @Test func callsReachAnHTTPSUpstreamThroughATunnelWithTheProxysCredentials() async throws {
        let ca = try await UpstreamTLSTests.authority()
        defer { ca.remove() }
        let upstream = try await FakeUpstream(tls: try ca.serverContext())
        defer { upstream.close() }
        let credentials = "Basic " + Data("ada:p@ss:word".utf8).base64EncodedString()
        let proxy = try await ConnectProxy(requiredAuthorization: credentials)
        defer { proxy.close() }
        // The password percent-encoded in the URL, as HTTPS_PROXY carries it.
        let url = "http://ada:p%40ss%3Aword@127.0.0.1:\(proxy.port)"
        let daemon = try await DaemonHarness(upstream: upstream) {
            $0.upstreamCAFile = ca.certificatePath
            $0.proxy = try? Self.proxy(url)
        }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            for requestID in 1...3 {
                #expect(try await client.request(UpstreamTLSTests.prompt(requestID))?["ok"] == .bool(true))
            }
            #expect(try await client.flush()?["ok"] == .bool(true))
            let stats = try await client.stats()
            #expect(!(stats?.jsonText.contains("p@ss") ?? true) && !(stats?.jsonText.contains("ada") ?? true))
        }
        #expect(Set(upstream.succeeded.compactMap { $0.json?["request_id"]?.integer }) == [1, 2, 3])
        #expect(!proxy.requests.isEmpty)
        #expect(
            proxy.requests.allSatisfy { $0.target == "127.0.0.1:\(upstream.port)" && $0.authorization == credentials })
        #expect(!daemon.daemon.statusLine().contains("p@ss"))
        #expect(upstream.violations.isEmpty, "\(upstream.violations)")
        try await daemon.stop()
        await upstream.stop()
        await proxy.stop()
    }

    @Test(arguments: [407, 403, 502])
    func aProxyThatRefusesIsNamedInTheStatusAndTheCallIsKept(_ status: Int) async throws {
        let upstream = try await FakeUpstream()
        defer { upstream.close() }
        let proxy = try await ConnectProxy(refusal: status)
        defer { proxy.close() }
        let daemon = try await DaemonHarness(upstream: upstream) {
            $0.proxy = try? Self.proxy(proxy.url)
            $0.drainTimeout = .zero
        }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.request(DeliveryTests.prompt(1, id: "1"))?["ok"] == .bool(true))
            let stats = try await waitFor("an attempt refused by the proxy", polling: .milliseconds(25)) {
                guard let stats = try await client.stats(), (stats["upstream_failures"]?.integer ?? 0) > 0 else {
                    return nil as JSONValue?
                }
                return stats
            }
            #expect(stats["delivered"]?.integer == 0 && stats["held"]?.integer == 1)
        }
        let line = daemon.daemon.statusLine()
        #expect(
            line.contains("the proxy \(proxy.url) refused the tunnel to 127.0.0.1:\(upstream.port): \(status)"),
            "\(line)")
        #expect(upstream.requests.isEmpty)
        try await daemon.stop()
        await upstream.stop()
        await proxy.stop()
    }

    @Test func aHostInNoProxyIsReachedDirectly() async throws {
        let upstream = try await FakeUpstream()
        defer { upstream.close() }
        let proxy = try await ConnectProxy(refusal: 403)
        defer { proxy.close() }
        let daemon = try await DaemonHarness(upstream: upstream) {
            $0.proxy = try? Self.proxy(proxy.url)
            $0.noProxy = ProxyExclusions("localhost, 127.0.0.1")
        }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.request(DeliveryTests.prompt(5, id: "5"))?["ok"] == .bool(true))
            #expect(try await client.flush()?["ok"] == .bool(true))
        }
        #expect(upstream.succeeded.count == 1)
        #expect(proxy.requests.isEmpty)
        try await daemon.stop()
        await upstream.stop()
        await proxy.stop()
    }

    @Test func theProxyComesFromTheEnvironmentBySchemeAndItsPasswordIsNeverShown() throws {
        let empty = NSTemporaryDirectory() + "pltrackd-proxy-\(UUID().uuidString.prefix(8)).toml"
        try Data().write(to: URL(fileURLWithPath: empty))
        defer { try? FileManager.default.removeItem(atPath: empty) }
        func resolve(_ environment: [String: String], flags: [String: String] = [:]) -> ConfigurationResolver.Resolved?
        {
            switch ConfigurationResolver(flags: flags, environment: environment, configPath: empty).resolve() {
            case .success(let resolved):
                return resolved
            case .failure(let problems):
                Issue.record("\(problems)")
                return nil
            }
        }
        let https = resolve(["HTTPS_PROXY": "http://u:secret@proxy.example:3128", "HTTP_PROXY": "http://other:80"])
        #expect(https?.configuration.proxy?.host == "proxy.example" && https?.configuration.proxy?.port == 3128)
        #expect(https?.sources["proxy"] == "HTTPS_PROXY")
        #expect(https.flatMap { Settings.named("proxy")?.value(in: $0.configuration) } == "http://proxy.example:3128")
        let http = resolve(
            ["https_proxy": "http://proxy.example:3128", "http_proxy": "plain.example:8080"],
            flags: ["upstream": "http://127.0.0.1:9"])
        #expect(http?.configuration.proxy?.host == "plain.example" && http?.configuration.proxy?.port == 8080)
        let flag = resolve(["HTTPS_PROXY": "http://proxy.example:3128"], flags: ["proxy": "http://flag.example:1"])
        #expect(flag?.configuration.proxy?.host == "flag.example")
        #expect(
            resolve(["NO_PROXY": ".promptlayer.com"])?.configuration.noProxy.excludes("api.promptlayer.com") == true)
        let bad = ConfigurationResolver(
            flags: [:], environment: ["HTTPS_PROXY": "https://u:secret@proxy.example"], configPath: empty
        ).resolve()
        guard case .failure(let problems) = bad else {
            Issue.record("an https:// proxy is refused")
            return
        }
        #expect("\(problems)".contains("HTTPS_PROXY") && !"\(problems)".contains("secret"))
        let exclusions = ProxyExclusions("example.com, 10.0.0.1:8080, [::1], *.internal")
        #expect(exclusions.excludes("api.example.com") && exclusions.excludes("example.com"))
        #expect(!exclusions.excludes("notexample.com") && exclusions.excludes("10.0.0.1") && exclusions.excludes("::1"))
        #expect(ProxyExclusions("*").excludes("anything") && exclusions.excludes("db.internal"))
    }
}
