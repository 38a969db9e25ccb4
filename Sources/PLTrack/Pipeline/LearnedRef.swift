/// A `log.request` PromptLayer answered: its sequence number, the client's ref and the id.
///
/// The spool records it in place of the log's resolution, in one record, so that a restart
/// never finds the log resolved without the id its calls need.
struct LearnedRef: Equatable, Sendable {
    var sequence: UInt64
    var ref: String
    var id: Int64
}
