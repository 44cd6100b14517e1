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
        let safeRows = rows.map { $0.map(terminalSafe) }
        var widths = header.map(\.count)
        for r in safeRows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        if let width { fit(&widths, into: width) }
        func line(_ cells: [String]) -> String {
            var out = ""
            for (i, raw) in cells.enumerated() where i < widths.count {
                let c = raw.count > widths[i] ? String(raw.prefix(max(0, widths[i] - 1))) + "…" : raw
                let pad = String(repeating: " ", count: widths[i] - c.count)
                if i > 0 { out += "  " }
                if rightAligned.contains(i) { out += pad + c } else { out += i == cells.count - 1 ? c : c + pad }
            }
            return out
        }
        return [line(header)] + safeRows.map(line)
    }

    /// Narrows the widest shrinkable column, then the next, until the table fits or none can give more.
    private func fit(_ widths: inout [Int], into width: Int) {
        var overflow = widths.reduce(0, +) + 2 * max(0, widths.count - 1) - width
        while overflow > 0 {
            let floor = { (i: Int) in max(Self.minimumShrunkWidth, header[i].count) }
            guard let widest = shrinkable.filter({ $0 < widths.count && widths[$0] > floor($0) }).max(by: { widths[$0] < widths[$1] })
            else { return }
            let cut = min(overflow, widths[widest] - floor(widest))
            widths[widest] -= cut
            overflow -= cut
        }
    }
}
