/// The version of pltrackd and of the wire protocol it speaks.
public enum PLTrackVersion {
    public static let current = "0.1.0"
    public static let protocolVersion = 1
}
