import Foundation
import PLTrackTestSupport
import Testing

@testable import PLTrack

/// `--upstream-ca-file`: an HTTPS upstream whose certificate comes from a private CA is trusted
/// exactly when the daemon is given that CA. The CA is made with the `openssl` command.
@Suite(.enabled(if: BuildProducts.onPath("openssl") != nil, "needs the openssl command (Debian package openssl)"))
struct UpstreamTLSTests {
    static func prompt(_ requestID: Int) -> String {
        #"{"type":"track.prompt","prompt_name":"tls","request_id":\#(requestID),"id":\#(requestID)}"#
    }

    static func authority() async throws -> TestCertificateAuthority {
        try await TestCertificateAuthority.make(openssl: try #require(BuildProducts.onPath("openssl")))
    }

    @Test func callsReachAnHTTPSUpstreamSignedByTheConfiguredCA() async throws {
        let ca = try await Self.authority()
        defer { ca.remove() }
        let upstream = try await FakeUpstream(tls: try ca.serverContext())
        defer { upstream.close() }
        #expect(upstream.baseURL.hasPrefix("https://"))
        let daemon = try await DaemonHarness(upstream: upstream) { $0.upstreamCAFile = ca.certificatePath }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.request(Self.prompt(1))?["ok"] == .bool(true))
            #expect(try await client.flush()?["ok"] == .bool(true))
        }
        #expect(upstream.succeeded.compactMap { $0.json?["request_id"]?.integer } == [1])
        #expect(upstream.violations.isEmpty, "\(upstream.violations)")
        try await daemon.stop()
        await upstream.stop()
    }

    @Test func withoutTheCAThePrivateCertificateIsRefusedAndTheCallIsKept() async throws {
        let ca = try await Self.authority()
        defer { ca.remove() }
        let upstream = try await FakeUpstream(tls: try ca.serverContext())
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream) { $0.drainTimeout = .zero }
        defer { daemon.tearDown() }
        try await TestClient.connect(to: daemon.socketPath) { client async throws in
            #expect(try await client.request(Self.prompt(2))?["ok"] == .bool(true))
            // Polls until an attempt has failed at the handshake, however slow the machine.
            let stats: JSONValue = try await waitFor(
                "an upstream attempt to fail at the TLS handshake", polling: .milliseconds(25)
            ) {
                guard let stats = try await client.stats(), (stats["upstream_failures"]?.integer ?? 0) > 0 else {
                    return nil
                }
                return stats
            }
            #expect(stats["delivered"]?.integer == 0)
            #expect(stats["held"]?.integer == 1)
            let flush = try await client.flush(timeoutMilliseconds: 100)
            #expect(flush?["error"]?["code"]?.string == "timeout", "the call can never be delivered")
        }
        #expect(upstream.requests.isEmpty, "no request may get through an untrusted handshake")
        try await daemon.stop()
        await upstream.stop()
    }

    @Test func aMissingOrEmptyCAFileIsAConfigurationErrorNamingTheOption() throws {
        let missing = ConfigurationResolver(
            flags: ["upstream-ca-file": "/nonexistent/ca.pem"], environment: [:], configPath: nil)
        guard case .failure(let problems) = missing.resolve() else {
            Issue.record("a missing CA file was accepted")
            return
        }
        #expect(problems.description.contains("--upstream-ca-file: cannot read /nonexistent/ca.pem"))
        let notPEM = NSTemporaryDirectory() + "pltrackd-not-a-ca-\(UUID().uuidString.prefix(8))"
        try "not a certificate\n".write(toFile: notPEM, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: notPEM) }
        let empty = ConfigurationResolver(
            flags: [:], environment: ["PLTRACKD_UPSTREAM_CA_FILE": notPEM], configPath: nil)
        guard case .failure(let emptyProblems) = empty.resolve() else {
            Issue.record("a CA file without a certificate was accepted")
            return
        }
        #expect(emptyProblems.description.contains("PLTRACKD_UPSTREAM_CA_FILE: \(notPEM) holds no PEM certificate"))
    }
}
