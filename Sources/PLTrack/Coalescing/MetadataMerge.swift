import NIOCore

/// Merges the `metadata` of two `track.metadata` bodies for one request: every name from
/// both, in the order first given, a later value replacing an earlier one. Everything else
/// is the newer body's, byte for byte.
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
                guard let olderEntries = Self.entries(in: olderBytes),
                    let newerEntries = Self.entries(in: newerBytes),
                    let target = Self.metadataValue(in: newerBytes)
                else {
                    return nil
                }
                var merged = olderEntries
                for entry in newerEntries {
                    if let index = merged.firstIndex(where: { $0.name == entry.name }) {
                        merged[index] = entry
                    } else {
                        merged.append(entry)
                    }
                }
                var members = ByteBuffer()
                members.reserveCapacity(newerBytes.count + olderBytes.count)
                members.writeBytes(UnsafeRawBufferPointer(rebasing: newerBytes[1..<target.lowerBound]))
                members.writeStaticString("{")
                for (index, entry) in merged.enumerated() {
                    if index > 0 {
                        members.writeStaticString(",")
                    }
                    members.writeBytes(entry.member)
                }
                members.writeStaticString("}")
                members.writeBytes(
                    UnsafeRawBufferPointer(rebasing: newerBytes[target.upperBound..<(newerBytes.count - 1)]))
                return TrackBody(members: members)
            }
        }
    }

    /// One metadata entry: its decoded name, and its bytes from the name's quote to the value's end.
    private struct Entry {
        var name: String
        var member: [UInt8]
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

    /// The entries of a body's `metadata` object, in order.
    private static func entries(in body: UnsafeRawBufferPointer) -> [Entry]? {
        guard let range = self.metadataValue(in: body) else {
            return nil
        }
        let object = UnsafeRawBufferPointer(rebasing: body[range])
        guard case .object(let members)? = try? JSONScanner.scan(object) else {
            return nil
        }
        return members.map { member in
            Entry(name: member.key.text(in: object), member: Array(object[member.memberRange]))
        }
    }
}
