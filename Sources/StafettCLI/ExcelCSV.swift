import Foundation

/// The one CSV every command writes (`-o csv`): as Excel in a Swedish locale reads it.
///
/// UTF-8 with a BOM (or Excel reads å as Ã¥), `;` (the list separator in Swedish locales), CRLF
/// between rows and none inside them, fields quoted when they hold `;` or `"`. Identifiers and
/// reasons come from peers: a cell Excel would read as a formula (`=`, `+`, `-`, `@`, a tab or CR
/// first) gets a leading `'`, so a hostile `=HYPERLINK(...)` shows as text.
enum ExcelCSV {
    static func render(header: [String], rows: [[String]]) -> [UInt8] {
        start(header) + Array(rows.map(row).joined().utf8)
    }

    /// The BOM and the header line, for output written row by row (`journal tail -f`).
    static func start(_ header: [String]) -> [UInt8] { [0xEF, 0xBB, 0xBF] + Array(row(header).utf8) }

    /// One row with its CRLF.
    static func row(_ cells: [String]) -> String { cells.map(field).joined(separator: ";") + "\r\n" }

    static func field(_ raw: String) -> String {
        // One line per row for every tool, not only Excel: a line break inside a peer's reason
        // becomes a space. (By scalars: "\r\n" is one Character, equal to neither "\r" nor "\n".)
        let flat = String(String.UnicodeScalarView(raw.unicodeScalars.map { $0 == "\r" || $0 == "\n" ? " " : $0 }))
        let s = flat.unicodeScalars.first.map { "=+-@\t".unicodeScalars.contains($0) } == true ? "'" + flat : flat
        return s.unicodeScalars.contains(where: { $0 == ";" || $0 == "\"" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
