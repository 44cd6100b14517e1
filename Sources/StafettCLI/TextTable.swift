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

        /// Widens the columns to hold a row given as bytes: cells `row` of `cells`.
        mutating func measure(_ cells: Cells, row: Range<Int>) {
            for (i, c) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cells.width(c)) }
        }

        /// Widens the columns to hold what another layout of the same table measured.
        mutating func measure(_ other: Layout) {
            for i in widths.indices { widths[i] = max(widths[i], other.widths[i]) }
        }

        /// Appends a row given as bytes (cells `row` of `cells`), as `append(_:to:safe:)` appends
        /// it made of strings.
        func append(_ cells: Cells, row: Range<Int>, to out: inout [UInt8]) {
            for (i, cell) in row.enumerated() where i < widths.count {
                if i > 0 { out.append(contentsOf: [0x20, 0x20]) }
                let bytes = cells.cell(cell)
                var n = cells.width(cell)
                if n > widths[i] {
                    // Cut to fit: rare (a terminal narrower than the table), so through the string.
                    let c = String(String(decoding: bytes, as: UTF8.self).prefix(max(0, widths[i] - 1))) + "…"
                    n = Layout.characters(c)
                    if rightAligned.contains(i) { out.append(contentsOf: repeatElement(0x20, count: widths[i] - n)) }
                    out.append(contentsOf: c.utf8)
                } else if rightAligned.contains(i) {
                    out.append(contentsOf: repeatElement(0x20, count: widths[i] - n))
                    out.append(contentsOf: bytes)
                } else {
                    out.append(contentsOf: bytes)
                }
                if !rightAligned.contains(i), i != row.count - 1 { out.append(contentsOf: repeatElement(0x20, count: widths[i] - n)) }
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

extension TextTable {
    /// Rows' cells as bytes, written one after another and each made `terminalSafe` as it is
    /// closed: a table of a million rows is laid out without a String per cell (`stafett followup`
    /// over 10 M records made nine a row, twice). 32-bit offsets and widths: a block of rows is kept
    /// from measuring to writing.
    struct Cells {
        private(set) var bytes: [UInt8] = []
        private var ends: [UInt32] = []
        private var widths: [UInt32] = []

        /// Cells closed so far.
        var count: Int { ends.count }

        mutating func append(_ b: UInt8) { bytes.append(b) }
        mutating func append(_ s: String) { bytes.append(contentsOf: s.utf8) }

        /// Lets `body` append to the open cell.
        mutating func write(_ body: (inout [UInt8]) -> Void) { body(&bytes) }

        /// Ends the cell written since the last one. Printable ASCII and tabs (nearly every cell)
        /// are safe as they are, a character a byte; anything else goes through `terminalSafe`.
        mutating func close() {
            let start = Int(ends.last ?? 0)
            let plain = bytes.withUnsafeBytes { Cells.isPlain(UnsafeRawBufferPointer(rebasing: $0[start...])) }
            if plain {
                widths.append(UInt32(bytes.count - start))
            } else {
                let safe = terminalSafe(String(decoding: bytes[start...], as: UTF8.self))
                bytes.removeSubrange(start...)
                bytes.append(contentsOf: safe.utf8)
                widths.append(UInt32(Layout.characters(safe)))
            }
            ends.append(UInt32(bytes.count))
        }

        /// Whether every byte is printable ASCII or a tab, eight at a time (perf: byte by byte,
        /// this check was the largest cost of writing a report's rows).
        private static func isPlain(_ b: UnsafeRawBufferPointer) -> Bool {
            let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
            var k = 0
            while k + 8 <= b.count {
                let w = b.loadUnaligned(fromByteOffset: k, as: UInt64.self)
                // A high bit where a byte is below 0x20, or is 0x7F or above: then byte by byte,
                // since a tab is below 0x20 and plain.
                let odd = ((w &- 0x20 &* ones) & ~w | (w &+ ones) | w) & highs
                if odd != 0, !isPlainBytes(UnsafeRawBufferPointer(rebasing: b[k..<(k + 8)])) { return false }
                k += 8
            }
            return isPlainBytes(UnsafeRawBufferPointer(rebasing: b[k...]))
        }

        private static func isPlainBytes(_ b: UnsafeRawBufferPointer) -> Bool {
            !b.contains { ($0 < 0x20 && $0 != 0x09) || $0 >= 0x7F }
        }

        /// The bytes of cell `i`.
        func cell(_ i: Int) -> ArraySlice<UInt8> { bytes[(i == 0 ? 0 : Int(ends[i - 1]))..<Int(ends[i])] }

        /// Cell `i`'s width in characters.
        func width(_ i: Int) -> Int { Int(widths[i]) }
    }
}
