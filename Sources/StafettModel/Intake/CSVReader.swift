import Foundation

/// One CSV record: the physical line it starts on (1-based) and its fields, unquoted.
struct CSVRow: Sendable {
    var line: Int
    var fields: [String]
}

/// A CSV syntax problem, at a physical line.
struct CSVSyntaxError: Sendable {
    var line: Int
    var reason: String
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

    /// Reads every record from byte `start`, which is on physical line `firstLine`. Stops after `maxRows` rows (and says so through `tooMany`).
    static func read(_ bytes: [UInt8], from start: Int = 0, line firstLine: Int = 1, separator sep: UInt8, maxRows: Int)
        -> (rows: [CSVRow], errors: [CSVSyntaxError], tooMany: Bool)
    {
        var rows: [CSVRow] = []
        var errors: [CSVSyntaxError] = []
        var tooMany = false
        bytes.withUnsafeBufferPointer { p in
            let n = p.count
            var i = start
            var line = firstLine
            func text(_ start: Int, _ end: Int) -> String {
                String(decoding: UnsafeBufferPointer(rebasing: p[start..<end]), as: UTF8.self)
            }
            records: while i < n {
                if rows.count >= maxRows { tooMany = true; break }
                let recordLine = line
                var fields: [String] = []
                fields.reserveCapacity(rows.first?.fields.count ?? 16)
                while true {
                    var value: String
                    if p[i] == quote {
                        let quoteLine = line
                        i += 1
                        var start = i
                        var pieces: [UInt8]? = nil
                        var closed = false
                        while i < n {
                            let b = p[i]
                            if b == quote {
                                if i + 1 < n && p[i + 1] == quote {
                                    if pieces == nil { pieces = [] }
                                    pieces!.append(contentsOf: UnsafeBufferPointer(rebasing: p[start...i]))
                                    i += 2
                                    start = i
                                    continue
                                }
                                closed = true
                                break
                            }
                            if b == lf || (b == cr && !(i + 1 < n && p[i + 1] == lf)) { line += 1 }
                            i += 1
                        }
                        if var buf = pieces {
                            buf.append(contentsOf: UnsafeBufferPointer(rebasing: p[start..<i]))
                            value = String(decoding: buf, as: UTF8.self)
                        } else {
                            value = text(start, i)
                        }
                        guard closed else {
                            errors.append(CSVSyntaxError(line: quoteLine, reason:
                                "a quoted value starts here and its closing quote (\") is missing, so the rest of the file "
                                + "could not be read: check for a stray quote character in this record"))
                            fields.append(value)
                            rows.append(CSVRow(line: recordLine, fields: fields))
                            break records
                        }
                        i += 1
                        if i < n, p[i] != sep, p[i] != cr, p[i] != lf {
                            errors.append(CSVSyntaxError(line: line, reason:
                                "text follows the closing quote of a value: put the whole value in quotes and write "
                                + "each quote inside it twice (\"\")"))
                            let rest = i
                            while i < n, p[i] != sep, p[i] != cr, p[i] != lf { i += 1 }
                            value += text(rest, i)
                        }
                    } else {
                        let start = i
                        while i < n {
                            let b = p[i]
                            if b == sep || b == cr || b == lf { break }
                            i += 1
                        }
                        value = text(start, i)
                    }
                    fields.append(value)
                    if i >= n { break }
                    let b = p[i]
                    if b == sep {
                        i += 1
                        if i >= n { fields.append(""); break }
                        continue
                    }
                    i += (b == cr && i + 1 < n && p[i + 1] == lf) ? 2 : 1
                    line += 1
                    break
                }
                rows.append(CSVRow(line: recordLine, fields: fields))
            }
        }
        return (rows, errors, tooMany)
    }
}
