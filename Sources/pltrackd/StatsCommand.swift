import ArgumentParser
import Foundation
import PLTrack

/// `pltrackd stats`: asks the daemon for its counters.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Print the daemon's counters as a table, or as JSON with --json."
    )

    @OptionGroup var client: ClientOptions

    @Flag(help: "Print the stats object as JSON instead of a table.")
    var json = false

    func run() async throws {
        let reply = try await self.client.withConnection { writer, replies in
            try await writer.send(Array(#"{"type":"stats","id":"pltrackd-stats"}"#.utf8))
            return try await replies.next()
        }
        guard let reply,
            let object = try JSONSerialization.jsonObject(with: Data(reply)) as? [String: Any],
            object["ok"] as? Bool == true,
            let stats = object["stats"]
        else {
            throw ValidationError(
                "unexpected reply from pltrackd: \(reply.map { String(decoding: $0, as: UTF8.self) } ?? "connection closed")"
            )
        }
        let statsJSON = try JSONSerialization.data(withJSONObject: stats, options: [.sortedKeys, .prettyPrinted])
        if self.json {
            Terminal.write(String(decoding: statsJSON, as: UTF8.self))
        } else {
            Terminal.write(StatsTable(try StatsSnapshot.decode(statsJSON)).text)
        }
    }
}
