import Foundation

/// A table for people: columns aligned by characters (so å, ä, ö line up), cells made
/// `terminalSafe`, and — given the terminal's width — the widest free-text column cut with `…`
/// until the rows fit, rather than wrapping every row onto two lines.
struct TextTable {
    var header: [String]
    var rows: [[String]]
    /// Columns padded on the left (counts).
    var rightAligned: Set<Int> = []
    /// Columns whose text may be cut to fit (errors, reasons, lists); identifiers never are.
    var shrinkable: Set<Int> = []

    /// A shrinkable column keeps at least this many characters (or its header's width).
    static let minimumShrunkWidth = 12

    /// The lines, without line ends. `width` nil (output to a pipe or a file) cuts nothing.
    func lines(width: Int?) -> [String] {
        let layout = laidOut(width: width)
        return ([layout.line(header, safe: true)] + rows.map { layout.line($0) }).map { String(decoding: $0.dropLast(), as: UTF8.self) }
    }

    /// The lines, each with its line feed, as one text.
    func text(width: Int?) -> String {
        let layout = laidOut(width: width)
        var out = layout.line(header, safe: true)
        for r in rows { layout.append(r, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    private func laidOut(width: Int?) -> Layout {
        var layout = Layout(header: header, rightAligned: rightAligned, shrinkable: shrinkable)
        for r in rows { layout.measure(r) }
        if let width { layout.fit(into: width) }
        return layout
    }

    /// The columns' widths, measured a row at a time, then each row written as a line: a report of
    /// a million rows is laid out by making its cells twice rather than keeping them all
    /// (`stafett followup` over 10 M records: about a gigabyte of cells).
    struct Layout {
        let header: [String]
        let rightAligned: Set<Int>
        let shrinkable: Set<Int>
        private(set) var widths: [Int]

        init(header: [String], rightAligned: Set<Int> = [], shrinkable: Set<Int> = []) {
            self.header = header
            self.rightAligned = rightAligned
            self.shrinkable = shrinkable
            widths = header.map(\.count)
        }

        /// Widens the columns to hold a row.
        mutating func measure(_ row: [String]) {
            for (i, c) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], Layout.characters(terminalSafe(c))) }
        }

        /// Narrows the widest shrinkable column, then the next, until the table fits or none can give more.
        mutating func fit(into width: Int) {
            var overflow = widths.reduce(0, +) + 2 * max(0, widths.count - 1) - width
            let header = self.header, columns = widths.count
            while overflow > 0 {
                let floor = { (i: Int) in max(TextTable.minimumShrunkWidth, header[i].count) }
                let now = widths
                guard let widest = shrinkable.filter({ $0 < columns && now[$0] > floor($0) }).max(by: { now[$0] < now[$1] })
                else { return }
                let cut = min(overflow, widths[widest] - floor(widest))
                widths[widest] -= cut
                overflow -= cut
            }
        }

        /// A row as a line with its line feed; `safe`: the cells need no `terminalSafe` (the header).
        func line(_ row: [String], safe: Bool = false) -> [UInt8] {
            var out: [UInt8] = []
            append(row, to: &out, safe: safe)
            return out
        }

        /// Appends a row's line and its line feed.
        func append(_ row: [String], to out: inout [UInt8], safe: Bool = false) {
            for (i, raw) in row.enumerated() where i < widths.count {
                var c = safe ? raw : terminalSafe(raw), n = Layout.characters(c)
                if n > widths[i] {
                    c = String(c.prefix(max(0, widths[i] - 1))) + "…"
                    n = Layout.characters(c)
                }
                if i > 0 { out.append(contentsOf: [0x20, 0x20]) }
                if rightAligned.contains(i) {
                    out.append(contentsOf: repeatElement(0x20, count: widths[i] - n))
                    out.append(contentsOf: c.utf8)
                } else {
                    out.append(contentsOf: c.utf8)
                    if i != row.count - 1 { out.append(contentsOf: repeatElement(0x20, count: widths[i] - n)) }
                }
            }
            out.append(0x0A)
        }

        /// A cell's width in characters: its bytes when it is ASCII without a line break (CR LF is
        /// one character), which nearly every cell is, else counted.
        static func characters(_ s: String) -> Int {
            let ascii = s.utf8.withContiguousStorageIfAvailable { b in !b.contains { $0 >= 0x80 || $0 == 0x0D } } ?? false
            return ascii ? s.utf8.count : s.count
        }
    }
}
