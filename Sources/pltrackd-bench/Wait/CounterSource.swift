import NIOCore

/// Where `pltrackd-bench wait` reads a counter: pltrackd's `stats` frame or syslog-ng's control
/// socket. Both are read the same way, one query per poll on one connection kept open, so
/// that watching either daemon costs it the same: a small request and a short reply, and no
/// process started per poll.
enum CounterSource {
    /// A top-level or spool counter of pltrackd's `stats` reply.
    case pltrackd(counter: String)
    /// The sum of syslog-ng's counters matching a pattern (`QUERY GET_SUM`, as
    /// `syslog-ng-ctl query get --sum` sends it).
    case syslogNG(pattern: String)

    /// The bytes of one poll.
    var request: ByteBuffer {
        switch self {
        case .pltrackd:
            let payload = Array(#"{"type":"stats","id":"bench-wait"}"#.utf8)
            let count = UInt32(payload.count)
            return ByteBuffer(
                bytes: [UInt8(count >> 24), UInt8(count >> 16 & 0xff), UInt8(count >> 8 & 0xff), UInt8(count & 0xff)]
                    + payload)
        case .syslogNG(let pattern):
            return ByteBuffer(string: "QUERY GET_SUM \(pattern)\n")
        }
    }

    /// The decoder that splits the reply stream into replies.
    func makeDecoder() -> any ChannelHandler {
        switch self {
        case .pltrackd: ByteToMessageHandler(ReplyFrameDecoder())
        case .syslogNG: ByteToMessageHandler(ControlReplyDecoder())
        }
    }

    /// The counter's value in `reply`, or `nil` while it has none (syslog-ng registers a
    /// destination's counters with its first message).
    func value(in reply: ByteBuffer) -> UInt64? {
        switch self {
        case .pltrackd(let counter):
            reply.offset(after: Array("\"\(counter)\":".utf8)).flatMap { reply.decimal(at: $0) }
        case .syslogNG:
            reply.decimal(at: 0)
        }
    }

    /// The name the result reports.
    var name: String {
        switch self {
        case .pltrackd(let counter): counter
        case .syslogNG(let pattern): pattern
        }
    }
}
