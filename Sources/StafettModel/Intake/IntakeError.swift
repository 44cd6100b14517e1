import Foundation

/// Where in an intake file something was found, in the terms the file's author knows.
public enum IntakeLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The file as a whole (encoding, size, format).
    case file
    /// A physical line, 1-based: for CSV the line where the record starts (the header is line 1),
    /// for JSON Lines the line of the object.
    case line(Int)
    /// An element of a JSON array (0-based index) and the line where it starts.
    case index(Int, line: Int)
    /// A CSV record as Excel numbers its rows (the header row is row 1; a quoted note with line
    /// breaks is one row), and the physical line it starts on, for a text editor.
    case row(Int, line: Int)

    /// `line 14`, `index 3 (line 40)`, `row 5` (`row 5 (line 7)` when a line break inside a
    /// quoted value moved the lines apart), or empty for the whole file.
    public var description: String {
        switch self {
        case .file: return ""
        case .line(let n): return "line \(n)"
        case .index(let i, let line): return "index \(i) (line \(line))"
        case .row(let r, let line): return r == line ? "row \(r)" : "row \(r) (line \(line))"
        }
    }

    /// `description` in Swedish: `rad 5 (textrad 7)`, `post 3 (textrad 40)`.
    public var swedish: String {
        switch self {
        case .file: return ""
        case .line(let n): return "textrad \(n)"
        case .index(let i, let line): return "post \(i) (textrad \(line))"
        case .row(let r, let line): return r == line ? "rad \(r)" : "rad \(r) (textrad \(line))"
        }
    }

    /// The line number, when there is one: for sorting and for editors.
    public var lineNumber: Int? {
        switch self {
        case .file: return nil
        case .line(let n): return n
        case .index(_, let line): return line
        case .row(_, let line): return line
        }
    }
}

/// One thing wrong with an intake file, in words a case worker can act on.
///
/// The description reads like
/// `outbox/2015-10-23.csv line 14, column "Personnummer": the check digit is wrong (Luhn): check for a mistyped digit`.
/// Values of names, personnummer and notes are never repeated in a reason, because error reports
/// end up in logs; the line and column are enough to find them.
public struct IntakeError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// The file name as given to the parser.
    public var file: String
    /// The line or index of the record (or the whole file).
    public var location: IntakeLocation
    /// The field as written in the file: the CSV column header or the JSON key; nil for the whole record.
    public var field: String?
    /// True when `field` names a CSV column (shown as `column "…"`), false for a JSON key (`field "…"`).
    public var fieldIsColumn: Bool
    /// What is wrong and what to do about it.
    public var reason: String
    /// `reason` in Swedish, for the case workers who read `.errors.txt`; nil where no Swedish
    /// text is written yet (the Swedish part of a report then gives the English reason).
    public var swedishReason: String?
    /// The intake id (Ärendenummer) of the record, when it has a valid one: a case worker looks
    /// a child up by it.
    public var intakeId: String?

    /// Creates an error.
    public init(file: String, location: IntakeLocation, field: String? = nil, fieldIsColumn: Bool = false, reason: String,
                swedishReason: String? = nil, intakeId: String? = nil) {
        self.file = file
        self.location = location
        self.field = field
        self.fieldIsColumn = fieldIsColumn
        self.reason = reason
        self.swedishReason = swedishReason
        self.intakeId = intakeId
    }

    /// `file row N (intake id X), column "F": reason`.
    public var description: String {
        describe(location.description, intake: "intake id", column: "column", field: "field", reason: reason)
    }

    /// `file rad N (ärendenummer X), kolumn "F": orsak`.
    public var swedishDescription: String {
        describe(location.swedish, intake: "ärendenummer", column: "kolumn", field: "fält", reason: swedishReason ?? reason)
    }

    private func describe(_ loc: String, intake: String, column: String, field what: String, reason: String) -> String {
        var s = file
        if !loc.isEmpty { s += " " + loc }
        if let intakeId { s += " (\(intake) \(intakeId))" }
        if let field {
            s += (loc.isEmpty && intakeId == nil ? " " : ", ") + (fieldIsColumn ? column : what) + " \"" + field + "\""
        }
        return s + ": " + reason
    }
}

/// Every error found in one intake file. A file is all-or-nothing: when this is thrown, no record is used.
public struct IntakeFailure: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// The file name as given to the parser.
    public var file: String
    /// The errors, in file order; at most `IntakeLimits.maxErrors`.
    public var errors: [IntakeError]
    /// True when more errors existed than were kept.
    public var truncated: Bool

    /// Creates a failure.
    public init(file: String, errors: [IntakeError], truncated: Bool = false) {
        self.file = file
        self.errors = errors
        self.truncated = truncated
    }

    /// The content of `<name>.errors.txt`: every error in Swedish, then in English below.
    public var report: String {
        IntakeReport.text(file: file, swedish: swedishLines, english: englishLines)
    }

    /// One line per error in Swedish, and a closing one when errors were left out.
    public var swedishLines: [String] {
        errors.map(\.swedishDescription)
            + (truncated ? ["\(file): stoppade efter \(errors.count) fel; rätta dessa och lämna in filen igen för att se resten"] : [])
    }

    /// One line per error, and a closing one when errors were left out.
    public var englishLines: [String] {
        errors.map(\.description)
            + (truncated ? ["\(file): stopped after \(errors.count) errors; fix these and submit the file again to see the rest"] : [])
    }

    /// The first error and how many more there are, for a one-line log entry.
    public var description: String {
        guard let first = errors.first else { return "\(file): rejected" }
        let more = errors.count - 1
        return more == 0 ? first.description : "\(first.description) (and \(more)\(truncated ? "+" : "") more)"
    }
}

/// Bounds that keep one bad or hostile file from exhausting the daemon.
public struct IntakeLimits: Sendable, Hashable {
    /// Largest file accepted, in bytes.
    public var maxBytes: Int
    /// Most records in one file.
    public var maxRecords: Int
    /// Errors collected before giving up on a file.
    public var maxErrors: Int

    /// Creates limits; the defaults suit a day's intake list of a large municipality many times over.
    public init(maxBytes: Int = 64 << 20, maxRecords: Int = 100_000, maxErrors: Int = 1000) {
        self.maxBytes = maxBytes
        self.maxRecords = maxRecords
        self.maxErrors = maxErrors
    }

    /// 64 MiB, 100 000 records, 1 000 errors.
    public static let `default` = IntakeLimits()
}

/// Collects errors for one file up to a cap.
struct ErrorSink {
    let file: String
    let cap: Int
    private(set) var errors: [IntakeError] = []
    private(set) var truncated = false

    init(file: String, cap: Int) {
        self.file = file
        self.cap = max(1, cap)
    }

    /// False once the cap is reached: callers stop working then.
    var hasRoom: Bool { errors.count < cap }
    var isEmpty: Bool { errors.isEmpty }

    /// The intake id of the record being checked, named in each error about it.
    var intakeId: String?

    /// Adds an error about `field`, which is named only if it reads like a name (`CellEcho.isFieldName`);
    /// `sv` is the reason in Swedish.
    mutating func add(_ location: IntakeLocation, field: String? = nil, column: Bool = false, _ reason: String, sv: String? = nil) {
        if let field, !CellEcho.isFieldName(field) {
            let what = column ? "a column" : "a field"
            let vad = column ? "en kolumn" : "ett fält"
            add(IntakeError(file: file, location: location, reason: what + " whose name looks like an identifier "
                + "(not repeated here): " + reason,
                swedishReason: vad + " vars namn liknar ett id-nummer (upprepas inte här): " + (sv ?? reason), intakeId: intakeId))
            return
        }
        add(IntakeError(file: file, location: location, field: field, fieldIsColumn: column, reason: reason,
                        swedishReason: sv, intakeId: intakeId))
    }

    mutating func add(_ error: IntakeError) {
        if errors.count < cap { errors.append(error) } else { truncated = true }
    }

    /// Adds every error `other` holds, and that it had more.
    mutating func add(contentsOf other: ErrorSink) {
        for e in other.errors { add(e) }
        if other.truncated { truncated = true }
    }

    var failure: IntakeFailure { IntakeFailure(file: file, errors: errors, truncated: truncated) }
}

/// The text of `<name>.errors.txt`: Swedish first, for the case workers who read it, English below.
public enum IntakeReport {
    /// The report on `file` from its errors in both languages.
    public static func text(file: String, swedish: [String], english: [String]) -> String {
        var lines = ["Stafett kunde inte ta emot \(file). Inget i filen skickades.",
                     "Rätta varje rad nedan och lägg hela filen i utkorgen igen. Rader räknas som Excel visar dem (rubrikraden är rad 1).",
                     ""]
        lines += swedish
        lines += ["", "--- English ---", "",
                  "Stafett could not accept \(file); nothing in it was sent.",
                  "Fix every line below and drop the whole file into the outbox again. Rows are numbered as Excel shows them (the header is row 1).",
                  ""]
        lines += english
        return lines.joined(separator: "\n") + "\n"
    }
}
