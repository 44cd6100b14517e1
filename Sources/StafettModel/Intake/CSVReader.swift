import Foundation

/// One CSV record as read: the physical line it starts on (1-based), its fields as byte ranges
/// of the text, and whether it held more fields than were kept.
struct CSVRow {
    /// The text, with quoted values unquoted in place. Valid only while the row is handed over.
    var text: UTF8Bytes
    var line: Int
    /// At most `CSVReader.maxFieldsPerRow` fields; the storage serves the next row.
    var fields: [Range<Int>]
    /// True when the record had more fields than that: the reader reported it, and the rest were
    /// not kept, so that one long line of separators costs no memory per field.
    var overfull: Bool

    /// The bytes of every field are blank (see `intakeTrimmed`).
    var isBlank: Bool { fields.allSatisfy { text[bytes: $0].intakeTrimmed.isEmpty } }

    /// A field's text, as a String.
    func string(_ field: Range<Int>) -> String { text[bytes: field].string }
}

/// A CSV syntax problem, at a physical line, in a record (0-based, counting the records read).
struct CSVSyntaxError: Sendable {
    var line: Int
    var record: Int
    var reason: String
    /// The file ends inside a quoted value with no line ending after it: cut short, not a stray quote.
    var truncated = false
}

/// What reading a CSV file came to, besides the rows handed over one by one.
struct CSVReading: Sendable {
    /// Syntax problems, in file order; at most the `maxErrors` asked for, plus one to say there were more.
    var errors: [CSVSyntaxError] = []
    /// True when reading stopped at `maxRows`.
    var tooMany = false
}

/// RFC 4180 CSV as Excel writes it, read over UTF-8 bytes in a single pass.
///
/// Quoted fields may hold separators, doubled quotes and line breaks; records end at CRLF, LF
/// or a lone CR (old Mac Excel). Line numbers count physical lines, so a record after a quoted
/// value with line breaks still gets the line an editor shows.
enum CSVReader {
    static let quote: UInt8 = 0x22, cr: UInt8 = 0x0D, lf: UInt8 = 0x0A
    static let semicolon: UInt8 = 0x3B, comma: UInt8 = 0x2C

    /// `;` or `,`, whichever occurs more often outside quotes in the header row; `;` on a tie,
    /// since that is what Excel writes with Swedish regional settings.
    static func detectSeparator(_ bytes: [UInt8]) -> UInt8 {
        var semis = 0, commas = 0, inQuotes = false
        let first = bytes.firstIndex { $0 != cr && $0 != lf && $0 != 0x20 && $0 != 0x09 } ?? bytes.endIndex
        for b in bytes[first...] {
            if b == quote { inQuotes.toggle(); continue }
            if inQuotes { continue }
            if b == cr || b == lf { break }
            if b == semicolon { semis += 1 } else if b == comma { commas += 1 }
        }
        return commas > semis ? comma : semicolon
    }

    /// Most fields kept of one record. The longest legitimate row is the known columns plus a few
    /// empty ones Excel leaves; a record past this is refused whole without a cell kept per field.
    static let maxFieldsPerRow = 1024

    /// Reads every record from byte `start`, which is on physical line `firstLine`, and hands each
    /// to `row` as it is read; nothing is kept per record, so memory stays at the text itself.
    /// Stops after `maxRows` rows (and says so through `tooMany`). `bytes` is taken, not copied:
    /// quoted values are unquoted in it in place.
    static func read(_ bytes: consuming [UInt8], from start: Int = 0, line firstLine: Int = 1, separator sep: UInt8,
                     maxRows: Int, maxErrors: Int, row: (CSVRow) -> Void) -> CSVReading {
        var reading = CSVReading()
        var rows = 0
        // `rows` is the index of the record being read: it counts the records handed over.
        func report(_ line: Int, truncated: Bool = false, _ reason: @autoclosure () -> String) {
            if reading.errors.count <= maxErrors {
                reading.errors.append(CSVSyntaxError(line: line, record: rows, reason: reason(), truncated: truncated))
            }
        }
        var fields: [Range<Int>] = []
        fields.reserveCapacity(64)
        bytes.withUnsafeMutableBufferPointer { p in
            let n = p.count
            let view = UnsafeBufferPointer(p)
            var i = start
            var line = firstLine
            var overfull = false
            func keep(_ value: Range<Int>) {
                if fields.count < maxFieldsPerRow { fields.append(value) } else { overfull = true }
            }
            func hand(_ recordLine: Int) {
                if overfull {
                    report(recordLine, "this row has more than \(maxFieldsPerRow) values: check the separator, "
                        + "or whether the file is CSV at all")
                }
                row(CSVRow(text: view, line: recordLine, fields: fields, overfull: overfull))
                rows += 1
                fields.removeAll(keepingCapacity: true)
                overfull = false
            }
            records: while i < n {
                if rows >= maxRows { reading.tooMany = true; break }
                let recordLine = line
                while true {
                    var value: Range<Int>
                    if p[i] == quote {
                        // The value is written back from the opening quote on, without its quotes:
                        // the writing never overtakes the reading.
                        let quoteLine = line
                        var w = i
                        i += 1
                        let valueStart = w
                        var closed = false
                        while i < n {
                            let b = p[i]
                            if b == quote {
                                if i + 1 < n && p[i + 1] == quote {
                                    p[w] = quote
                                    w += 1
                                    i += 2
                                    continue
                                }
                                closed = true
                                break
                            }
                            if b == lf || (b == cr && !(i + 1 < n && p[i + 1] == lf)) { line += 1 }
                            p[w] = b
                            w += 1
                            i += 1
                        }
                        guard closed else {
                            // Excel ends every row with a line break: without one, the file was cut short.
                            let cutShort = p[n - 1] != lf && p[n - 1] != cr
                            report(quoteLine, truncated: cutShort,
                                "a quoted value starts here and its closing quote (\") is missing, so the rest of the file "
                                + "could not be read: check for a stray quote character in this record")
                            keep(valueStart..<w)
                            hand(recordLine)
                            break records
                        }
                        i += 1
                        if i < n, p[i] != sep, p[i] != cr, p[i] != lf {
                            report(line,
                                "text follows the closing quote of a value: put the whole value in quotes and write "
                                + "each quote inside it twice (\"\")")
                            while i < n, p[i] != sep, p[i] != cr, p[i] != lf {
                                p[w] = p[i]
                                w += 1
                                i += 1
                            }
                        }
                        value = valueStart..<w
                    } else {
                        let start = i
                        while i < n {
                            let b = p[i]
                            if b == sep || b == cr || b == lf { break }
                            i += 1
                        }
                        value = start..<i
                    }
                    keep(value)
                    if i >= n { break }
                    let b = p[i]
                    if b == sep {
                        i += 1
                        if i >= n { keep(n..<n); break }
                        continue
                    }
                    i += (b == cr && i + 1 < n && p[i + 1] == lf) ? 2 : 1
                    line += 1
                    break
                }
                hand(recordLine)
            }
        }
        return reading
    }
}
