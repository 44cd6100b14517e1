import StafettDaemon
import StafettJournal
import StafettModel
import StafettReports

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

/// What a command was doing when an error reached it: the same error means different things to a
/// command that checks the journal and to one that reads it for something else.
enum CommandWork: Equatable {
    /// Checking the journal (`journal tail`, `journal verify`): damage is what it found (1).
    case checkingJournal
    /// Reading the journal for something else (`followup`, `case`, `receipt`): damage, like any
    /// failure to read, means the journal could not be read (5).
    case readingJournal
    /// Anything else (writing files, reading the queue): an operational failure (3).
    case other
}

extension ExitCode {
    /// The exit code of an error a command did not handle itself, and what to say after the
    /// command's name. The one table from errors to exit codes: commands differ only in `work`.
    static func of(_ error: any Error, during work: CommandWork) -> (code: Int32, message: String) {
        switch error {
        case let e as UsageError:
            return (usage, e.message)
        case let e as FieldError:
            // Never the value: it may be a personnummer.
            return (usage, "\(e.field): \(e.reason)")
        case let e as FollowupRulesError:
            return (usage, "\(e)")
        case let e as ArchivedReceipt.Failure:
            switch e {
            case .gone: return (notFound, "\(e)")
            case .mismatch: return (invalid, "\(e)")
            case .unreadable: return (failure, "\(e)")
            }
        case let e as JournalError:
            if case .badCursor = e { return (usage, "\(e)") }
            if case .damaged = e, work == .checkingJournal { return (invalid, "\(e)") }
        default:
            break
        }
        return (work == .other ? failure : journalUnreadable, "\(error)")
    }

    /// Says `error` on standard error as `command` ("stafett case") and returns its exit code
    /// (`of`). A usage error is followed by `usageText` when given, as the command's own checks do.
    static func report(_ error: any Error, from command: String, during work: CommandWork, usageText: String? = nil,
                       console: Console) -> Int32 {
        let (code, message) = of(error, during: work)
        let help = error is UsageError ? usageText.map { "\n" + $0 } ?? "" : ""
        console.error("\(command): \(message)\(help)")
        return code
    }
}
