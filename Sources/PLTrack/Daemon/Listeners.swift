import NIOCore

/// The sockets the daemon serves: inherited from systemd when socket-activated, else the one
/// it binds at `--socket` (and removes again when it stops).
struct Listeners {
    var channels: [any Channel]
    /// The socket file this process created, if it bound one.
    var boundPath: String?
    /// For the startup log, e.g. `/run/pltrackd/pltrackd.sock (tracking)`.
    var summary: String

    static func open(for daemon: Daemon) async throws -> Listeners {
        let inherited = try InheritedSocket.take()
        if inherited.isEmpty {
            let path = daemon.configuration.socketPath
            let channel = try await daemon.server(role: .tracking).bind(
                path: path,
                mode: daemon.configuration.socketMode,
                group: daemon.group
            )
            return Listeners(channels: [channel], boundPath: path, summary: "\(path) (tracking)")
        }
        var channels: [any Channel] = []
        do {
            for socket in inherited {
                channels.append(try await daemon.server(role: socket.role).adopt(socket, group: daemon.group))
            }
        } catch {
            for channel in channels {
                try? await channel.close()
            }
            throw error
        }
        let summary = inherited.map { "fd \($0.descriptor) \($0.name) (\($0.role.rawValue))" }.joined(separator: ", ")
        return Listeners(channels: channels, boundPath: nil, summary: "inherited from systemd: " + summary)
    }

    func close() async {
        for channel in self.channels {
            try? await channel.close()
        }
        if let boundPath {
            SocketFile.remove(boundPath)
        }
    }
}

extension Daemon {
    func server(role: ListenerRole) -> IngestServer {
        IngestServer(
            pipeline: self.pipeline,
            stats: self.stats,
            settings: IngestSettings(
                maximumFrameLength: self.configuration.maximumFrameLength,
                role: role,
                live: self.live,
                statsReply: { [self] id, format in self.statsReply(id, format: format) }
            ),
            logger: self.logger
        )
    }
}
