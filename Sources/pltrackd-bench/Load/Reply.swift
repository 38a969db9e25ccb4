import NIOCore

/// What one reply from pltrackd says, read by scanning its bytes (the generator must not
/// spend more per message than the daemon it measures).
enum Reply: Equatable {
    case ok
    /// The answer to the `ping` a connection ends with (`"id":"bench-end"`).
    case endOfRun
    /// An error reply, with its text for the report.
    case error(String)

    /// The `ping` a fire-and-forget connection sends last: its answer means pltrackd has read
    /// and handled every frame before it on that connection (`protocol/SPEC.md`, `ping`).
    static let endOfRunPing: ByteBuffer = {
        let payload = #"{"type":"ping","id":"bench-end"}"#
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(payload.utf8.count))
        buffer.writeString(payload)
        return buffer
    }()

    private static let okMarker = Array(#""ok":true"#.utf8)
    private static let endMarker = Array(#""id":"bench-end""#.utf8)

    init(_ payload: ByteBuffer) {
        if payload.offset(after: Self.okMarker) == nil {
            self = .error(String(buffer: payload))
        } else if payload.offset(after: Self.endMarker) != nil {
            self = .endOfRun
        } else {
            self = .ok
        }
    }
}
