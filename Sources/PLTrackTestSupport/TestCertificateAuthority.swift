import Foundation
import NIOSSL

/// A certificate authority made for one test with the `openssl` command, and a server
/// certificate it signed for 127.0.0.1, so a ``FakeUpstream`` can serve HTTPS that only a
/// client told to trust this CA accepts.
public struct TestCertificateAuthority: Sendable {
    /// Why `openssl` could not make the files.
    public struct OpenSSLFailed: Error, CustomStringConvertible {
        public var description: String
    }

    public let directory: String
    /// The CA's certificate, PEM: what `--upstream-ca-file` names.
    public let certificatePath: String
    public let serverCertificatePath: String
    public let serverKeyPath: String

    /// Makes a CA and a server certificate for `IP:127.0.0.1` and `DNS:localhost` in a new
    /// temporary directory (EC P-256, valid for a day).
    public static func make(openssl: String) async throws -> TestCertificateAuthority {
        let directory = NSTemporaryDirectory() + "pltrackd-ca-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try """
        basicConstraints=critical,CA:FALSE
        keyUsage=critical,digitalSignature
        extendedKeyUsage=serverAuth
        subjectAltName=IP:127.0.0.1,DNS:localhost

        """.write(toFile: directory + "/server.ext", atomically: true, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let steps: [[String]] = [
            ["req", "-x509"] + ec + [
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=pltrackd test CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            ],
            ["req"] + ec + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"],
            [
                "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.pem", "-days", "1", "-extfile", "server.ext",
            ],
        ]
        for step in steps {
            let outcome = try await ChildProcess(openssl, step, currentDirectory: directory).run()
            guard outcome.status == 0 else {
                throw OpenSSLFailed(description: "openssl \(step.joined(separator: " ")): \(outcome.standardError)")
            }
        }
        return TestCertificateAuthority(
            directory: directory,
            certificatePath: directory + "/ca.pem",
            serverCertificatePath: directory + "/server.pem",
            serverKeyPath: directory + "/server.key"
        )
    }

    /// A TLS server context presenting the server certificate, offering `applicationProtocols`
    /// by ALPN (`["h2", "http/1.1"]` for a server that speaks HTTP/2; none for HTTP/1.1 only).
    public func serverContext(applicationProtocols: [String] = []) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(self.serverCertificatePath).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: self.serverKeyPath, format: .pem))
        )
        configuration.applicationProtocols = applicationProtocols
        return try NIOSSLContext(configuration: configuration)
    }

    /// Removes the files.
    public func remove() {
        try? FileManager.default.removeItem(atPath: self.directory)
    }
}
