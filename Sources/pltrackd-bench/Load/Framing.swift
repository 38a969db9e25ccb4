import ArgumentParser

/// How messages are delimited on the socket.
enum Framing: String, ExpressibleByArgument, CaseIterable, Codable {
    /// pltrackd's wire format: a 4-byte big-endian length, then the JSON object.
    case frame
    /// One JSON object per line, as syslog-ng's `unix-stream()` source reads them.
    case syslog
}
