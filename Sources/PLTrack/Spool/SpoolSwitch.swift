/// Whether the daemon keeps a spool (`--spool`): `off` runs without one even where systemd
/// gives a state directory.
public enum SpoolSwitch: String, Sendable, CaseIterable {
    case on
    case off
}
