import Foundation

/// One CSV record: the physical line it starts on (1-based) and its fields, as indexes into
/// `CSVTable.fields`.
struct CSVRow: Sendable {
    var line: Int
    var fields: Range<Int>
}

/// A CSV syntax problem, at a physical line, in a record (0-based index into `CSVTable.rows`).
struct CSVSyntaxError: Sendable {
    var line: Int
    var record: Int
    var reason: String
    /// The file ends inside a quoted value with no line ending after it: cut short, not a stray quote.
    var truncated = false
}

/// A CSV file as read: the text, with quoted values unquoted in place, and where each field lies
/// in it. No String is made per field; the rules read the bytes.
struct CSVTable: Sendable {
    /// The UTF-8 text; quoted values are rewritten in place without their quotes.
    var text: [UInt8]
    /// Every field's bytes in `text`, row after row.
    var fields: [Range<Int>] = []
    var rows: [CSVRow] = []
    var errors: [CSVSyntaxError] = []
    /// True when reading stopped at `maxRows`.
    var tooMany = false

    /// The bytes of every field of a row are blank (see `intakeTrimmed`).
    func isBlank(_ row: CSVRow) -> Bool {
        text.withUnsafeBufferPointer { p in
            fields[row.fields].allSatisfy { p[bytes: $0].intakeTrimmed.isEmpty }
        }
    }

    /// A field's text, as a String.
    func string(_ field: Range<Int>) -> String {
        text.withUnsafeBufferPointer { $0[bytes: field].string }
    }
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

    /// Reads every record from byte `start`, which is on physical line `firstLine`. Stops after
    /// `maxRows` rows (and says so through `tooMany`).
    static func read(_ bytes: [UInt8], from start: Int = 0, line firstLine: Int = 1, separator sep: UInt8,
                     maxRows: Int) -> CSVTable {
        var table = CSVTable(text: bytes)
        var fields: [Range<Int>] = []
        // Room for fields of eight bytes on average, so that a typical file never regrows.
        fields.reserveCapacity(bytes.count / 8 + 16)
        var rows: [CSVRow] = []
        var errors: [CSVSyntaxError] = []
        var tooMany = false
        table.text.withUnsafeMutableBufferPointer { p in
            let n = p.count
            var i = start
            var line = firstLine
            records: while i < n {
                if rows.count >= maxRows { tooMany = true; break }
                let recordLine = line
                let firstField = fields.count
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
                            errors.append(CSVSyntaxError(line: quoteLine, record: rows.count, reason:
                                "a quoted value starts here and its closing quote (\") is missing, so the rest of the file "
                                + "could not be read: check for a stray quote character in this record", truncated: cutShort))
                            fields.append(valueStart..<w)
                            rows.append(CSVRow(line: recordLine, fields: firstField..<fields.count))
                            break records
                        }
                        i += 1
                        if i < n, p[i] != sep, p[i] != cr, p[i] != lf {
                            errors.append(CSVSyntaxError(line: line, record: rows.count, reason:
                                "text follows the closing quote of a value: put the whole value in quotes and write "
                                + "each quote inside it twice (\"\")"))
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
                    fields.append(value)
                    if i >= n { break }
                    let b = p[i]
                    if b == sep {
                        i += 1
                        if i >= n { fields.append(n..<n); break }
                        continue
                    }
                    i += (b == cr && i + 1 < n && p[i + 1] == lf) ? 2 : 1
                    line += 1
                    break
                }
                rows.append(CSVRow(line: recordLine, fields: firstField..<fields.count))
            }
        }
        table.fields = fields
        table.rows = rows
        table.errors = errors
        table.tooMany = tooMany
        return table
    }
}
