import Foundation

/// The one CSV every command writes (`-o csv`): as Excel in a Swedish locale reads it.
///
/// UTF-8 with a BOM (or Excel reads å as Ã¥), `;` (the list separator in Swedish locales), CRLF
/// between rows and none inside them, fields quoted when they hold `;` or `"`. Identifiers and
/// reasons come from peers: a cell Excel would read as a formula (`=`, `+`, `-`, `@`, a tab or CR
/// first) gets a leading `'`, so a hostile `=HYPERLINK(...)` shows as text.
enum ExcelCSV {
    static func render(header: [String], rows: [[String]]) -> [UInt8] {
        var text = header.map(field).joined(separator: ";") + "\r\n"
        for r in rows { text += r.map(field).joined(separator: ";") + "\r\n" }
        return [0xEF, 0xBB, 0xBF] + Array(text.utf8)
    }

    static func field(_ raw: String) -> String {
        // One line per row for every tool, not only Excel: a line break inside a peer's reason
        // becomes a space. (By scalars: "\r\n" is one Character, equal to neither "\r" nor "\n".)
        let flat = String(String.UnicodeScalarView(raw.unicodeScalars.map { $0 == "\r" || $0 == "\n" ? " " : $0 }))
        let s = flat.unicodeScalars.first.map { "=+-@\t".unicodeScalars.contains($0) } == true ? "'" + flat : flat
        return s.unicodeScalars.contains(where: { $0 == ";" || $0 == "\"" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
