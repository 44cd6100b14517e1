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

    /// `line 14`, `index 3 (line 40)`, or empty for the whole file.
    public var description: String {
        switch self {
        case .file: return ""
        case .line(let n): return "line \(n)"
        case .index(let i, let line): return "index \(i) (line \(line))"
        }
    }

    /// The line number, when there is one: for sorting and for editors.
    public var lineNumber: Int? {
        switch self {
        case .file: return nil
        case .line(let n): return n
        case .index(_, let line): return line
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

    /// Creates an error.
    public init(file: String, location: IntakeLocation, field: String? = nil, fieldIsColumn: Bool = false, reason: String) {
        self.file = file
        self.location = location
        self.field = field
        self.fieldIsColumn = fieldIsColumn
        self.reason = reason
    }

    /// `file line N, column "X": reason`.
    public var description: String {
        var s = file
        let loc = location.description
        if !loc.isEmpty { s += " " + loc }
        if let field {
            s += (loc.isEmpty ? " " : ", ") + (fieldIsColumn ? "column" : "field") + " \"" + field + "\""
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

    /// One error per line, then a closing line; the content of `<name>.errors.txt`.
    public var report: String {
        var lines = errors.map(\.description)
        if truncated {
            lines.append("\(file): stopped after \(errors.count) errors; fix these and submit the file again to see the rest")
        }
        lines.append("\(file): nothing in this file was sent; correct the lines above and drop the whole file again")
        return lines.joined(separator: "\n") + "\n"
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

    /// Adds an error about `field`, which is named only if it reads like a name (`CellEcho.isFieldName`).
    mutating func add(_ location: IntakeLocation, field: String? = nil, column: Bool = false, _ reason: String) {
        if let field, !CellEcho.isFieldName(field) {
            let what = column ? "a column" : "a field"
            add(IntakeError(file: file, location: location, reason: what + " whose name looks like an identifier "
                + "(not repeated here): " + reason))
            return
        }
        add(IntakeError(file: file, location: location, field: field, fieldIsColumn: column, reason: reason))
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
