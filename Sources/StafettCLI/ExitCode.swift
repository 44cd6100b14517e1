/// The exit codes of every `stafett` command, listed by `stafett --help` and the README. A script
/// tells "nothing found" (4) from "could not look" (5) and both from a bad command line (2).
public enum ExitCode {
    /// Success.
    public static let ok: Int32 = 0
    /// Something checked was invalid: a record, a signature, a damaged journal, an archived receipt
    /// that does not match its journal digest; `queue`: no such message; `followup --check`:
    /// something is overdue.
    public static let invalid: Int32 = 1
    /// The command line was wrong; `case`: a bare intake id that several organisations issued
    /// (the command lists them: name one as ISSUER:ID).
    public static let usage: Int32 = 2
    /// A file could not be read or written, or another operational failure; `journal verify`: a torn
    /// tail (a crash leftover the daemon cuts back, not damage).
    public static let failure: Int32 = 3
    /// Nothing found (`case`, `receipt`; for `receipt` also a receipt the archive no longer holds).
    public static let notFound: Int32 = 4
    /// The journal could not be read: missing, not a journal, unreadable, damaged under a replay.
    public static let journalUnreadable: Int32 = 5
}
