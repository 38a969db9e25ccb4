import ArgumentParser
import Foundation
import PLTrack

/// `pltrackd send`: frames JSON objects from the shell and prints the replies.
struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send JSON messages to the daemon and print its replies.",
        discussion: """
            Each argument, or else each non-empty line of standard input, is one JSON object \
            sent as one frame. A message without "id" is given one (pltrackd-send-N), so that \
            every message is answered; the id is never sent upstream. Replies are printed one \
            per line. The exit status is 1 if any reply is an error.
            """
    )

    @OptionGroup var client: ClientOptions

    @Argument(
        help: ArgumentHelp("JSON objects to send; read from standard input when none are given.", valueName: "json"))
    var messages: [String] = []

    /// Messages are sent in batches of this many, and their replies read before the next batch.
    static let batchSize = 1000

    func run() async throws {
        var lines = self.messages
        if lines.isEmpty {
            while let line = readLine() {
                if !line.trimmingCharacters(in: .whitespaces).isEmpty {
                    lines.append(line)
                }
            }
        }
        let frames = lines.enumerated().map { Self.withReplyID($1, number: $0 + 1) }
        let failures = try await self.client.withConnection { writer, replies in
            var failures = 0
            var start = 0
            while start < frames.count {
                let batch = Array(frames[start..<min(start + Self.batchSize, frames.count)])
                try await writer.send(contentsOf: batch)
                for _ in batch {
                    guard let reply = try await replies.next() else {
                        throw ValidationError("pltrackd closed the connection before answering every message")
                    }
                    let text = String(decoding: reply, as: UTF8.self)
                    Terminal.write(text)
                    if !text.contains(#""ok":true"#) {
                        failures += 1
                    }
                }
                start += batch.count
            }
            return failures
        }
        if failures > 0 {
            throw ExitCode(1)
        }
    }

    /// The message with an `id` added when it is a JSON object that has none.
    static func withReplyID(_ line: String, number: Int) -> [UInt8] {
        guard let data = line.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            object["id"] == nil,
            let brace = line.firstIndex(of: "{")
        else {
            return Array(line.utf8)
        }
        let separator = object.isEmpty ? "" : ","
        var edited = line
        edited.insert(contentsOf: "\"id\":\"pltrackd-send-\(number)\"\(separator)", at: edited.index(after: brace))
        return Array(edited.utf8)
    }
}
