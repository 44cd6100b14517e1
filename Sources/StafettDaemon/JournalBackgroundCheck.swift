import Foundation
import StafettCrypto
import StafettJournal

/// The rest of the journal's check, once the node serves.
///
/// At start the daemon checks the live segment record by record and only how the finished
/// segments fit together (docs/journal-format.md, Start-up): reading every record first would
/// make start-up grow with the journal (70 s at 10 M records). Damage inside a finished segment
/// — a flipped bit after a restore, a record rewritten by hand — must still not wait for an
/// operator to think of `stafett journal verify`: this walks the whole journal as verify does,
/// on a thread of its own after the node is up, and says what it found in the log and in
/// `stafett_journal_damaged`. Appending goes on either way, as after a verify that fails: new
/// records do not hide the damage, and refusing messages would not repair it.
enum JournalBackgroundCheck {
    /// Starts the walk of `directory`, checking checkpoint signatures with `checkpointKey` when given.
    static func start(directory: String, checkpointKey: Key?, metrics: Metrics, log: Logger) {
        let thread = Thread {
            let started = Date()
            do {
                let walked = try JournalWalker(directory: directory, checkChain: true, checkpointKey: checkpointKey).walk()
                if let d = walked.damage {
                    metrics.set("stafett_journal_damaged", 1)
                    log.error("journal: FIRST BAD RECORD: \(d.located); found by the check after start, which read #\(walked.firstSequence)–#\(walked.lastSequence) "
                        + "before it: run stafett journal verify, and see docs/journal-format.md, \"When verify fails\"")
                } else {
                    metrics.set("stafett_journal_damaged", 0)
                    log.info(String(format: "journal: checked %llu record(s) in %d segment(s) after start in %.1f s: CRC-32C, hash chain and %llu checkpoint signature(s) ok",
                                    walked.records, walked.segments, Date().timeIntervalSince(started), walked.checkpointsVerified))
                }
            } catch {
                log.error("journal: the check after start could not read the journal: \(error)")
            }
        }
        thread.name = "stafett-journal-check"
        thread.qualityOfService = .background
        thread.start()
    }
}
