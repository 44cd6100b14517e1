/// What an error message may repeat of a value read from an intake file.
///
/// Errors go to the log and to the `.errors.txt` beside the file. A cell that fails its check is
/// often not what its column says: one lost separator shifts a name, a note or a personnummer
/// into the date, sex or event column. So a value is quoted only when it cannot be such data:
/// short, made only of digits and the punctuation and letters of ISO dates and times, with four
/// digits in a row only where a date's year opens the value (a personnummer has six or more in a
/// row, or four after its dash). Anything else is called "this value"; the line and column in
/// the error find it.
enum CellEcho {
    /// `"2015-13-45"` for a value that is safe to repeat, `this value` otherwise.
    static func quoted<S: StringProtocol>(_ value: S, limit: Int = 30) -> String {
        isSafe(value, limit: limit) ? "\"" + String(value) + "\"" : "this value"
    }

    /// `quoted` for a Swedish sentence: `värdet` for a value not repeated.
    static func quotedSwedish<S: StringProtocol>(_ value: S, limit: Int = 30) -> String {
        isSafe(value, limit: limit) ? "\"" + String(value) + "\"" : "värdet"
    }

    /// The first `count` characters followed by `…`, when they are safe to repeat (the birth year of
    /// a personnummer is); `this value` otherwise.
    static func prefix<S: StringProtocol>(_ value: S, _ count: Int) -> String {
        let head = value.prefix(count)
        return isSafe(head, limit: count) ? "\"" + String(head) + "…\"" : "this value"
    }

    static func isSafe<S: StringProtocol>(_ value: S, limit: Int) -> Bool {
        guard !value.isEmpty, value.utf8.count <= limit else { return false }
        var run = 0, index = 0
        for b in value.utf8 {
            defer { index += 1 }
            switch b {
            case 0x30...0x39:
                run += 1
                // A year opens a date; four digits anywhere else may be the last four of a personnummer.
                if run > 4 || (run == 4 && index != 3) { return false }
            case 0x20, 0x2B, 0x2C, 0x2D, 0x2E, 0x2F, 0x3A, 0x54, 0x5A:  // space + , - . / : T Z (ISO times)
                run = 0
            default:
                return false
            }
        }
        return true
    }

    /// Whether a column header or JSON key may be repeated in an error. A misspelt header must be
    /// named, or nobody can find it; but an export keyed by child (`{"20021104-9820": {...}}`) or
    /// a header row replaced by data puts identifiers where the names belong, so a name with five
    /// digits in a row, or longer than any header, is not repeated.
    static func isFieldName<S: StringProtocol>(_ name: S) -> Bool {
        guard name.utf8.count <= 64 else { return false }
        var run = 0
        for b in name.utf8 {
            run = (0x30...0x39).contains(b) ? run + 1 : 0
            if run >= 5 { return false }
        }
        return true
    }
}
