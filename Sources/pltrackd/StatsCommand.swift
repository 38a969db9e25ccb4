import ArgumentParser
import Foundation
import PLTrack

/// `pltrackd stats`: asks the daemon for its counters.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Print the daemon's counters: a table, JSON (--json) or Prometheus text (--format prometheus).",
        discussion: """
            The Prometheus text suits node_exporter's textfile collector, e.g. \
            pltrackd stats --format prometheus > /var/lib/node_exporter/pltrackd.prom
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, json, prometheus
    }

    @OptionGroup var client: ClientOptions

    @Option(help: "How to print the counters: table, json or prometheus.")
    var format: Format = .table

    @Flag(help: "Print the stats object as JSON (the same as --format json).")
    var json = false

    func run() async throws {
        let format = self.json ? .json : self.format
        let request =
            format == .prometheus
            ? #"{"type":"stats","format":"prometheus","id":"pltrackd-stats"}"#
            : #"{"type":"stats","id":"pltrackd-stats"}"#
        let reply = try await self.client.withConnection { writer, replies in
            try await writer.send(Array(request.utf8))
            return try await replies.next()
        }
        guard let reply, let object = try JSONSerialization.jsonObject(with: Data(reply)) as? [String: Any],
            object["ok"] as? Bool == true
        else {
            throw ValidationError(
                "unexpected reply from pltrackd: \(reply.map { String(decoding: $0, as: UTF8.self) } ?? "connection closed")"
            )
        }
        switch format {
        case .prometheus:
            guard let text = object["prometheus"] as? String else {
                throw ValidationError("the reply from pltrackd has no Prometheus text")
            }
            FileHandle.standardOutput.write(Data(text.utf8))
        case .json, .table:
            guard let stats = object["stats"] else {
                throw ValidationError("the reply from pltrackd has no stats")
            }
            let statsJSON = try JSONSerialization.data(withJSONObject: stats, options: [.sortedKeys, .prettyPrinted])
            if format == .json {
                Terminal.write(String(decoding: statsJSON, as: UTF8.self))
            } else {
                Terminal.write(StatsTable(try StatsSnapshot.decode(statsJSON)).text)
            }
        }
    }
}
