import Glibc
import NIOCore

/// Who is on the other end of a client connection, as the kernel reports it (`SO_PEERCRED`).
struct PeerCredentials: Sendable, Equatable {
    // The layout of Linux's `struct ucred`.
    var pid: Int32
    var uid: UInt32
    var gid: UInt32

    /// The credentials of `channel`'s peer.
    static func of(_ channel: any Channel) -> EventLoopFuture<PeerCredentials> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        return provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
    }
}

/// The optional allow-lists of `--allow-uid` and `--allow-gid`, checked for each connection.
///
/// With neither list set, the socket file's permissions alone decide who may connect. With
/// either, a peer is admitted when its uid is in the uid list or its primary gid in the gid
/// list (`SO_PEERCRED` carries the primary group only).
struct PeerAccess: Sendable, Equatable {
    var allowedUIDs: [UInt32]?
    var allowedGIDs: [UInt32]?

    func admits(_ peer: PeerCredentials) -> Bool {
        guard self.allowedUIDs != nil || self.allowedGIDs != nil else {
            return true
        }
        return self.allowedUIDs?.contains(peer.uid) == true || self.allowedGIDs?.contains(peer.gid) == true
    }
}
