import NIOCore

/// Merges the `metadata` of two `track.metadata` bodies for one request: every name from
/// both, in the order first given, a later value replacing an earlier one (``MetadataEntries``,
/// linear in the number of names). Everything else is the newer body's, byte for byte.
enum MetadataMerge {
    /// The newer body with the merged metadata; `nil` when either body has no metadata object
    /// (validated bodies always have one).
    static func merge(_ older: TrackBody, _ newer: TrackBody) -> TrackBody? {
        var olderText = ByteBuffer()
        older.write(to: &olderText)
        var newerText = ByteBuffer()
        newer.write(to: &newerText)
        return olderText.withUnsafeReadableBytes { olderBytes in
            newerText.withUnsafeReadableBytes { newerBytes in
                guard let olderRange = Self.metadataValue(in: olderBytes),
                    let target = Self.metadataValue(in: newerBytes),
                    var merged = MetadataEntries(object: Array(olderBytes[olderRange])),
                    let newerEntries = MetadataEntries(object: Array(newerBytes[target]))
                else {
                    return nil
                }
                merged.merge(newerEntries)
                var members = ByteBuffer()
                members.reserveCapacity(newerBytes.count + olderBytes.count)
                members.writeBytes(UnsafeRawBufferPointer(rebasing: newerBytes[1..<target.lowerBound]))
                merged.write(to: &members)
                members.writeBytes(
                    UnsafeRawBufferPointer(rebasing: newerBytes[target.upperBound..<(newerBytes.count - 1)]))
                return TrackBody(members: members)
            }
        }
    }

    /// Where the `metadata` object lies in a body's text.
    private static func metadataValue(in body: UnsafeRawBufferPointer) -> Range<Int>? {
        guard case .object(let members)? = try? JSONScanner.scan(body),
            let member = members.first(where: { $0.key.equals("metadata", in: body) }), member.kind == .object
        else {
            return nil
        }
        return member.valueRange
    }
}
