import Foundation
import PLTrack
import PLTrackClient
import PLTrackTestSupport
import Synchronization
import Testing

/// The clients in `protocol/clients/`, installed as an app installs them (Python with pip into a
/// fresh virtual environment, Node.js with npm from its folder, Swift as the `PLTrackClient`
/// library), run the contract files against a live daemon delivering to a real HTTP server.
/// For the SDK's calls, what the server receives is compared with what the SDK would send.
@Suite(.serialized)
struct ClientPackageTests {
    struct SDKCall: Decodable, Sendable {
        struct Upstream: Decodable, Sendable {
            var path: String
            var body: JSONValue
        }
        var call: String
        var args: JSONValue
        var sdkBody: JSONValue
        var upstream: Upstream
    }

    /// One of the SDK's `log_request(...)` calls: its keyword arguments and the body it posts.
    struct SDKLog: Decodable, Sendable {
        var args: JSONValue
        var sdkBody: JSONValue
    }

    static let sdkLogs: [SDKLog] = {
        struct File: Decodable { var logRequests: [SDKLog] }
        let url = BuildProducts.packageRoot.appendingPathComponent("protocol/sdk-calls.json")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return (try? decoder.decode(File.self, from: Data(contentsOf: url)).logRequests) ?? []
    }()

    static let sdkCalls: [SDKCall] = {
        struct File: Decodable { var calls: [SDKCall] }
        let url = BuildProducts.packageRoot.appendingPathComponent("protocol/sdk-calls.json")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return (try? decoder.decode(File.self, from: Data(contentsOf: url)).calls) ?? []
    }()

    @Test(.enabled(if: BuildProducts.onPath("python3") != nil, "needs python3; scripts/test.sh installs it"))
    func thePythonPackageInstalledWithPipPassesTheVectorsAndTheSchemasAndMakesTheSDKsCalls() async throws {
        let python = try #require(BuildProducts.onPath("python3"))
        let environment = FileManager.default.temporaryDirectory.appendingPathComponent(
            "pltrack-venv-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: environment) }
        try await Self.succeed(ChildProcess(python, ["-m", "venv", environment]))
        try await Self.succeed(
            ChildProcess(
                environment + "/bin/pip",
                [
                    "install", "--quiet",
                    BuildProducts.packageRoot.appendingPathComponent("protocol/clients/python").path,
                    // For the check of protocol/schemas/ only; the client itself needs nothing.
                    "jsonschema",
                ]))
        let script = BuildProducts.packageRoot.appendingPathComponent("protocol/clients/python/tests/check_daemon.py")
            .path
        try await Self.withDaemon { socket in
            // Run from elsewhere, so `import pltrack` finds the installed package, not the source.
            try await Self.passes(ChildProcess(environment + "/bin/python", [script, "--socket", socket, "vectors"]))
            try await Self.passes(ChildProcess(environment + "/bin/python", [script, "--socket", socket, "sdk"]))
            try await Self.passes(ChildProcess(environment + "/bin/python", [script, "--socket", socket, "schemas"]))
        } received: { upstream in
            Self.expectSDKCalls(in: upstream.succeeded, offsets: [0, 1000])
            // The blocking client and the asyncio one each log every call once.
            Self.expectSDKLogs(in: upstream, each: 2)
        }
    }

    @Test(
        .enabled(
            if: BuildProducts.onPath("npm") != nil && BuildProducts.onPath("node") != nil,
            "needs npm and node; scripts/test.sh installs them"))
    func theNodePackageInstalledWithNpmPassesTheVectorsAndMakesTheSDKsCalls() async throws {
        let npm = try #require(BuildProducts.onPath("npm"))
        let node = try #require(BuildProducts.onPath("node"))
        let app = FileManager.default.temporaryDirectory.appendingPathComponent(
            "pltrack-npm-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: app, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: app) }
        var install = ChildProcess(
            npm,
            [
                "install", "--no-audit", "--no-fund", "--offline",
                BuildProducts.packageRoot.appendingPathComponent("protocol/clients/node").path,
            ])
        install.currentDirectory = app.path
        try await Self.succeed(install)
        let script = BuildProducts.packageRoot.appendingPathComponent("protocol/clients/node/test/check-daemon.js").path
        var environment = ProcessInfo.processInfo.environment
        environment["NODE_PATH"] = app.appendingPathComponent("node_modules").path
        try await Self.withDaemon { socket in
            try await Self.passes(
                ChildProcess(node, [script, "--socket", socket, "vectors"], environment: environment))
            try await Self.passes(ChildProcess(node, [script, "--socket", socket, "sdk"], environment: environment))
        } received: { upstream in
            Self.expectSDKCalls(in: upstream.succeeded, offsets: [2000])
            Self.expectSDKLogs(in: upstream, each: 1)
        }
    }

    @Test func theSwiftClientMakesTheSDKsCalls() async throws {
        try await Self.withDaemon { socket in
            // The client blocks: it runs on a thread of its own.
            let client = PLTrackClient(socketPath: socket, timeout: .seconds(60), acknowledged: true)
            for call in Self.sdkCalls {
                let taken = try await blocking { Self.make(call, through: client, requestOffset: 3000) }
                #expect(taken, "\(call.call) \(call.args)")
            }
            var refs: [String] = []
            for log in Self.sdkLogs {
                let ref = try #require(try await blocking { client.logRequest(Self.logRequest(log.args)) })
                #expect(
                    try await blocking {
                        client.track.score(.init(requestID: .ref(ref), score: 42, scoreName: "after-log"))
                    })
                refs.append(ref)
            }
            #expect(try await blocking { client.flush() })
            let logged = refs
            let ids = try await blocking { logged.map { client.requestID(forRef: $0) } }
            #expect(ids.allSatisfy { $0 != nil }, "each log's id is known: \(ids)")
            #expect(client.lost == 0 && client.rejected == 0, "\(client.refusals)")
        } received: { upstream in
            Self.expectSDKCalls(in: upstream.succeeded, offsets: [3000])
            Self.expectSDKLogs(in: upstream, each: 1)
        }
    }

    @Test func theSwiftClientCountsWhatItCannotHandOverAndReconnectsAfterARestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "pltrack-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let socket = directory.appendingPathComponent("pltrackd.sock").path
        let lost = LostCalls()
        let client = PLTrackClient(socketPath: socket, timeout: .seconds(60), acknowledged: true) { type, _ in
            lost.add(type)
        }
        #expect(try await !blocking { client.track.score(.init(requestID: 1, score: 5)) }, "no daemon yet")
        #expect(client.lost == 1)
        #expect(lost.types == ["track.score"])
        let upstream = try await FakeUpstream()
        defer { upstream.close() }
        // One daemon, then another on the same socket: the client's connection to the first
        // answers `shutting_down` or is closed, and the call goes to the second.
        for groupID in 1...2 as ClosedRange<Int64> {
            let daemon = try await DaemonHarness(upstream: upstream) { $0.socketPath = socket }
            defer { daemon.tearDown() }
            #expect(try await blocking { client.track.group(.init(requestID: 1, groupID: groupID)) })
            #expect(try await blocking { client.flush() })
            try await daemon.stop()
        }
        #expect(client.lost == 1)
        #expect(client.refusals == [], "\(client.refusals)")
        #expect(client.rejected == 0)
        #expect(upstream.succeeded.compactMap { $0.json?["group_id"]?.integer } == [1, 2])
        await upstream.stop()
    }

    // MARK: Helpers

    /// Checks that PromptLayer received every SDK call, once per offset added to its request id:
    /// the same fields and values as the SDK sends, `null` left out, the key in the header.
    private static func expectSDKCalls(in received: [FakeUpstream.Request], offsets: [Int64]) {
        #expect(Self.sdkCalls.count >= 7)
        for offset in offsets {
            for call in Self.sdkCalls {
                let requestID = (call.upstream.body["request_id"]?.integer ?? 0) + offset
                let matching = received.filter { $0.json?["request_id"]?.integer == requestID }
                #expect(matching.count == 1, "request \(requestID): \(matching.map(\.path))")
                #expect(matching.first?.path == call.upstream.path)
                #expect(matching.first?.json == Self.shifted(call.upstream.body, by: offset))
                #expect(matching.first?.json == Self.shifted(Self.withoutNulls(call.sdkBody), by: offset))
            }
        }
    }

    /// Checks that PromptLayer received each of the SDK's `log_request` calls `count` times, with
    /// the body the SDK posts (`null` left out), and the score the client sent naming each log's
    /// ref once, with the id the log was answered with.
    private static func expectSDKLogs(in upstream: FakeUpstream, each count: Int) {
        #expect(Self.sdkLogs.count >= 2)
        let scores = upstream.succeeded.filter { $0.json?["name"] == .string("after-log") }
        for log in Self.sdkLogs {
            let call = log.args["metadata"]?["sdk_call"]
            let logged = upstream.logged.filter { $0.request.json?["metadata"]?["sdk_call"] == call }
            #expect(logged.count == count, "\(call.map(\.jsonText) ?? "?") logged \(logged.count) times")
            for (id, request) in logged {
                // `0.0` reads back as an integer or a number depending on the parser: compare values.
                #expect(
                    request.json.map(Self.numbersAsDoubles) == Self.numbersAsDoubles(Self.withoutNulls(log.sdkBody)))
                let named = scores.filter { $0.json?["request_id"] == .integer(id) }
                #expect(named.count == 1 && named.first?.json?["score"] == .integer(42), "the score for log \(id)")
            }
        }
    }

    /// The SDK's `log_request` arguments as the Swift client's call.
    private static func logRequest(_ args: JSONValue) -> PLTrackCall.LogRequest {
        func json(_ value: JSONValue?) -> PLTrackJSON {
            switch value {
            case .object(let members)?: .object(members.mapValues { json($0) })
            case .array(let elements)?: .array(elements.map { json($0) })
            case .string(let text)?: .string(text)
            case .integer(let number)?: .integer(number)
            case .number(let number)?: .number(number)
            case .bool(let flag)?: .bool(flag)
            case .null?, nil: .null
            }
        }
        func object(_ name: String) -> [String: PLTrackJSON] {
            if case .object(let members) = json(args[name]) { members } else { [:] }
        }
        func seconds(_ name: String) -> Date {
            Date(timeIntervalSince1970: args[name]?.numberValue ?? 0)
        }
        var call = PLTrackCall.LogRequest(
            provider: args["provider"]?.string ?? "", model: args["model"]?.string ?? "", input: json(args["input"]),
            output: json(args["output"]), requestStartTime: seconds("request_start_time"),
            requestEndTime: seconds("request_end_time"), parameters: object("parameters"),
            promptInputVariables: object("prompt_input_variables"))
        if case .array(let tags)? = args["tags"] {
            call.tags = tags.compactMap(\.string)
        }
        if case .object(let members)? = args["metadata"] {
            call.metadata = members.compactMapValues(\.string)
        }
        call.promptName = args["prompt_name"]?.string
        call.promptVersionNumber = args["prompt_version_number"]?.integer.map { Int($0) }
        call.inputTokens = Int(args["input_tokens"]?.integer ?? 0)
        call.outputTokens = Int(args["output_tokens"]?.integer ?? 0)
        call.price = args["price"]?.numberValue ?? 0
        call.functionName = args["function_name"]?.string ?? ""
        call.score = Int(args["score"]?.integer ?? 0)
        call.status = args["status"]?.string ?? "SUCCESS"
        call.errorType = args["error_type"]?.string
        call.errorMessage = args["error_message"]?.string
        return call
    }

    private static func numbersAsDoubles(_ value: JSONValue) -> JSONValue {
        switch value {
        case .integer(let number): .number(Double(number))
        case .object(let members): .object(members.mapValues(Self.numbersAsDoubles))
        case .array(let elements): .array(elements.map(Self.numbersAsDoubles))
        default: value
        }
    }

    private static func shifted(_ body: JSONValue, by offset: Int64) -> JSONValue {
        guard case .object(var members) = body, let requestID = members["request_id"]?.integer else {
            return body
        }
        members["request_id"] = .integer(requestID + offset)
        return .object(members)
    }

    private static func withoutNulls(_ body: JSONValue) -> JSONValue {
        guard case .object(let members) = body else {
            return body
        }
        return .object(members.filter { $0.value != .null })
    }

    private static func make(_ call: SDKCall, through client: PLTrackClient, requestOffset offset: Int64) -> Bool {
        let args = call.args
        let requestID = (args["request_id"]?.integer ?? 0) + offset
        switch call.call {
        case "prompt":
            var variables: [String: PLTrackJSON]?
            if case .object(let members)? = args["prompt_input_variables"] {
                variables = members.compactMapValues { $0.string.map(PLTrackJSON.string) }
            }
            return client.track.prompt(
                .init(
                    requestID: .integer(requestID), promptName: args["prompt_name"]?.string ?? "",
                    promptInputVariables: variables, version: args["version"]?.integer.map { Int($0) },
                    label: args["label"]?.string))
        case "metadata":
            var metadata: [String: String] = [:]
            if case .object(let members)? = args["metadata"] {
                metadata = members.compactMapValues(\.string)
            }
            return client.track.metadata(.init(requestID: .integer(requestID), metadata: metadata))
        case "score":
            return client.track.score(
                .init(
                    requestID: .integer(requestID), score: Int(args["score"]?.integer ?? -1),
                    scoreName: args["score_name"]?.string))
        default:
            return client.track.group(.init(requestID: .integer(requestID), groupID: args["group_id"]?.integer ?? 0))
        }
    }

    /// Runs `body` with the socket of a daemon that delivers to a fake PromptLayer, then hands
    /// `received` what it got.
    private static func withDaemon(
        _ body: (String) async throws -> Void, received: (FakeUpstream) -> Void
    ) async throws {
        let upstream = try await FakeUpstream()
        defer { upstream.close() }
        let daemon = try await DaemonHarness(upstream: upstream) { $0.coalescingWindow = .zero }
        defer { daemon.tearDown() }
        try await body(daemon.socketPath)
        let requests = upstream.succeeded
        #expect(requests.allSatisfy { $0.apiKey == upstream.expectedAPIKey })
        #expect(upstream.violations.isEmpty, "\(upstream.violations)")
        try await daemon.stop()
        await upstream.stop()
        received(upstream)
    }

    private static func succeed(_ process: ChildProcess) async throws {
        let outcome = try await process.run()
        #expect(outcome.status == 0, "\(process.executable) \(process.arguments): \(outcome.standardError)")
    }

    /// Runs a contract check and expects its closing line to report no failure.
    private static func passes(_ process: ChildProcess) async throws {
        let outcome = try await process.run()
        let summary = outcome.standardOutput.split(separator: "\n").last.map(String.init) ?? ""
        #expect(outcome.status == 0, "\(outcome.standardOutput)\(outcome.standardError)")
        #expect(summary.hasSuffix(" 0 failed") && !summary.hasPrefix("error"), "\(summary)")
    }
}

/// The calls a client reported lost, collected from its callback.
final class LostCalls: Sendable {
    private let collected = Mutex<[String]>([])
    func add(_ type: String) { self.collected.withLock { $0.append(type) } }
    var types: [String] { self.collected.withLock { $0 } }
}
