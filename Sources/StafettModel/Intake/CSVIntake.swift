import Foundation

/// CSV files: header row, then one record per row.
enum CSVIntake {
    static func records(_ bytes: [UInt8], encoding: IntakeTextEncoding, builder: RecordBuilder,
                        limits: IntakeLimits, sink: inout ErrorSink) -> [IntakeRecord] {
        // Excel honours a first line `sep=;` naming the separator; some tools write one.
        var start = 0, firstLine = 1
        var sep = CSVReader.detectSeparator(bytes)
        if bytes.count >= 5, bytes[0...3].map({ $0 | 0x20 }) == Array("sep=".utf8),
           bytes.count == 5 || bytes[5] == CSVReader.cr || bytes[5] == CSVReader.lf {
            sep = bytes[4]
            start = bytes.count > 6 && bytes[5] == CSVReader.cr && bytes[6] == CSVReader.lf ? 7 : 6
            firstLine = 2
        }
        let table = CSVReader.read(bytes, from: start, line: firstLine, separator: sep,
                                   maxRows: 2 * limits.maxRecords + 100)
        // Rows as Excel numbers them: one per record, the first (the header, after an Excel
        // `sep=` line, which Excel does not show) is row 1, a note with line breaks is one row.
        func at(_ record: Int, line: Int) -> IntakeLocation { .row(record + 1, line: line) }
        for e in table.errors {
            if e.truncated {
                sink.add(at(e.record, line: e.line), "the file ends inside a quoted value, without a line ending: it was cut short "
                    + "(copied or saved before it was complete, or a size limit on the way): export or save the whole file again",
                         sv: "filen tar slut mitt i ett värde inom citattecken, utan radslut: den är avklippt (kopierad eller sparad "
                    + "innan den var klar): exportera eller spara hela filen igen")
            } else {
                sink.add(at(e.record, line: e.line), e.reason, sv: Self.swedishSyntax(e.reason))
            }
        }
        if table.tooMany {
            // Excel writes rows of bare separators far below the data when its used range grew once:
            // those count here too, and splitting the file would not help.
            sink.add(.file, "the file has more than \(2 * limits.maxRecords + 100) rows, empty ones included: "
                + "delete empty rows below the data (in Excel: select them, Delete), or split it into files of at most "
                + "\(limits.maxRecords) records")
            return []
        }
        // Blank lines before the header are skipped; line numbers stay physical.
        guard let headerAt = table.rows.firstIndex(where: { !table.isBlank($0) }) else {
            return []
        }
        let header = table.rows[headerAt]
        let rows = table.rows[headerAt...]
        let headerLine = at(headerAt, line: header.line)

        // An export without its header row puts a child's record where the column names belong:
        // name no cell of it, since errors end up in logs, and say what is wrong once.
        let headerNames = table.fields[header.fields].map { table.string($0).intakeTrimmed }
        let headerFields = headerNames.map { IntakeField.named($0) }
        // A header names mostly known columns: one cell that happens to be a column name (an
        // event word like "Placering" in a child's record) does not make a record a header, whose
        // other cells (names, notes) would then be quoted as unknown columns.
        let named = zip(headerNames, headerFields).filter { !$0.0.isEmpty }
        guard named.filter({ $0.1 != nil }).count * 2 >= named.count, named.contains(where: { $0.1 != nil }) else {
            sink.add(headerLine, "this line names no column we know, so it cannot be the header row (is it missing?): "
                + "the first line must name the columns, like Ärendenummer;Förnamn;Efternamn;Händelse;Händelsetid",
                     sv: "raden namnger ingen kolumn vi känner till, så den kan inte vara rubrikraden (saknas den?): "
                + "första raden ska namnge kolumnerna, till exempel Ärendenummer;Förnamn;Efternamn;Händelse;Händelsetid")
            return []
        }

        // The header: every named column must be known, and no field may appear twice.
        var fieldOfColumn: [IntakeField?] = []
        var names = [String?](repeating: nil, count: IntakeField.allCases.count)
        for (col, (name, field)) in zip(headerNames, headerFields).enumerated() {
            guard !name.isEmpty else { fieldOfColumn.append(nil); continue }
            guard let f = field else {
                // "Ã¶" is what UTF-8 "ö" looks like read as Windows-1252: the file mixes both.
                if encoding == .windows1252, name.contains("\u{C3}") {
                    sink.add(headerLine, field: name, column: true, "unknown column; the file mixes UTF-8 and Windows-1252 "
                        + "text (some bytes are not UTF-8): save it again as \"CSV UTF-8\"",
                             sv: "okänd kolumn; filen blandar UTF-8 och Windows-1252 (vissa tecken är inte UTF-8): "
                        + "spara den igen som \"CSV UTF-8\"")
                    fieldOfColumn.append(nil)
                    continue
                }
                let known = IntakeField.allCases.map(\.swedishHeader).joined(separator: ", ")
                if let near = IntakeField.nearest(to: name) {
                    sink.add(headerLine, field: name, column: true, "unknown column: did you mean \"\(near.swedishHeader)\"? "
                        + "Known columns are " + known + " (or their English names, like \(IntakeField.givenName.jsonKey))",
                             sv: "okänd kolumn: menade du \"\(near.swedishHeader)\"? Kända kolumner är " + known)
                } else {
                    sink.add(headerLine, field: name, column: true, "unknown column: check the spelling. Known columns are "
                        + known + " (or their English names, like \(IntakeField.givenName.jsonKey))",
                             sv: "okänd kolumn: kontrollera stavningen. Kända kolumner är " + known)
                }
                fieldOfColumn.append(nil)
                continue
            }
            if let earlier = names[f.rawValue] {
                sink.add(headerLine, field: name, column: true,
                         "means the same as column \"\(earlier)\" (column \(col + 1)): keep only one of them",
                         sv: "betyder samma sak som kolumnen \"\(earlier)\" (kolumn \(col + 1)): behåll bara en av dem")
            }
            names[f.rawValue] = name
            fieldOfColumn.append(f)
        }
        func has(_ fs: IntakeField...) -> Bool { fs.contains { names[$0.rawValue] != nil } }
        if !has(.givenName, .familyName) {
            sink.add(headerLine, "there is no name column: add \"Förnamn\" and/or \"Efternamn\" (given_name, family_name)",
                     sv: "det finns ingen namnkolumn: lägg till \"Förnamn\" och/eller \"Efternamn\"")
        }
        if !has(.event) {
            sink.add(headerLine, "there is no \"Händelse\" (event) column: add one", sv: "kolumnen \"Händelse\" saknas: lägg till den")
        }
        if !has(.eventTime) {
            sink.add(headerLine, "there is no \"Händelsetid\" (event_time) column: add one", sv: "kolumnen \"Händelsetid\" saknas: lägg till den")
        }
        if !has(.intakeId, .dossierNumber, .personalIdentityNumber) {
            sink.add(headerLine, "there is no identifier column: add \"Ärendenummer\", \"Dossiernummer\" or \"Personnummer\"",
                     sv: "det finns ingen kolumn med id-uppgift: lägg till \"Ärendenummer\", \"Dossiernummer\" eller \"Personnummer\"")
        }
        // A broken header would make every record wrong in the same way; stop at the header.
        guard sink.isEmpty else { return [] }

        var out: [IntakeRecord] = []
        out.reserveCapacity(rows.count - 1)
        // One record's storage serves every row, over the file's text.
        var raw = RawRecord(bytes: table.text)
        for (record, row) in zip(rows.indices, rows).dropFirst() {
            if table.isBlank(row) { continue }  // blank rows Excel leaves
            if out.count + 1 > limits.maxRecords {
                sink.add(.file, "the file has more than \(limits.maxRecords) records: split it into smaller files")
                break
            }
            let index = out.count
            raw.clearValues()
            var rowOK = true
            for (col, cell) in table.fields[row.fields].enumerated() {
                if col < fieldOfColumn.count, let f = fieldOfColumn[col] {
                    raw.values[f.rawValue] = .text(cell)
                } else if !table.string(cell).intakeTrimmed.isEmpty {
                    rowOK = false
                    let sepShown = sep == CSVReader.semicolon ? ";" : ","
                    sink.add(at(record, line: row.line), col < header.fields.count
                        ? "column \(col + 1) has a value but no header: name the column or clear the value"
                        : "this row has \(row.fields.count) values but the header has \(header.fields.count) columns: "
                            + "check for a separator (\(sepShown)) inside a value that is not in quotes",
                             sv: col < header.fields.count
                        ? "kolumn \(col + 1) har ett värde men ingen rubrik: namnge kolumnen eller töm värdet"
                        : "raden har \(row.fields.count) värden men rubrikraden \(header.fields.count) kolumner: "
                            + "leta efter en avgränsare (\(sepShown)) i ett värde som inte står inom citattecken")
                    break
                }
            }
            let location = at(record, line: row.line)
            builder.build(raw, names: names, column: true, location: location, index: index, usable: rowOK,
                          intact: row.fields.count == header.fields.count, into: &out, sink: &sink)
        }
        return out
    }

    /// The Swedish for a syntax reason of `CSVReader`.
    static func swedishSyntax(_ reason: String) -> String? {
        if reason.hasPrefix("a quoted value starts here") {
            return "ett värde inom citattecken börjar här men det avslutande citattecknet (\") saknas, så resten av filen "
                + "kunde inte läsas: leta efter ett citattecken som inte hör dit i den här raden"
        }
        if reason.hasPrefix("text follows the closing quote") {
            return "text följer efter det avslutande citattecknet: sätt hela värdet inom citattecken och skriv varje "
                + "citattecken i det två gånger (\"\")"
        }
        return nil
    }
}
