import Foundation

/// CSV files: header row, then one record per row.
///
/// Rows are taken one at a time as the reader finds them, so a file costs its text and the
/// records made of it, nothing per cell. The errors keep the order of a file read whole: syntax
/// first, then the header, then the records (which are not reported when anything before them is wrong).
enum CSVIntake {
    /// Longest value taken in one cell: a note, the longest field, is at most 4000 characters
    /// (16 000 bytes of UTF-8). A longer cell is refused before any rule copies it.
    static let maxCellBytes = 64 << 10

    static func records(_ bytes: consuming [UInt8], encoding: IntakeTextEncoding, builder: RecordBuilder,
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
        var rows = CSVRows(encoding: encoding, separator: sep, builder: builder, limits: limits, file: sink.file)
        let maxRows = 2 * limits.maxRecords + 100
        let reading = CSVReader.read(consume bytes, from: start, line: firstLine, separator: sep, maxRows: maxRows,
                                     maxErrors: limits.maxErrors) { rows.take($0) }
        for e in reading.errors {
            if e.truncated {
                sink.add(CSVIntake.at(e.record, line: e.line), "the file ends inside a quoted value, without a line ending: it was cut short "
                    + "(copied or saved before it was complete, or a size limit on the way): export or save the whole file again",
                         sv: "filen tar slut mitt i ett värde inom citattecken, utan radslut: den är avklippt (kopierad eller sparad "
                    + "innan den var klar): exportera eller spara hela filen igen")
            } else {
                sink.add(CSVIntake.at(e.record, line: e.line), e.reason, sv: Self.swedishSyntax(e.reason))
            }
        }
        if reading.tooMany {
            // Excel writes rows of bare separators far below the data when its used range grew once:
            // those count here too, and splitting the file would not help.
            sink.add(.file, "the file has more than \(maxRows) rows, empty ones included: "
                + "delete empty rows below the data (in Excel: select them, Delete), or split it into files of at most "
                + "\(limits.maxRecords) records")
            return []
        }
        sink.add(contentsOf: rows.headerErrors)
        // A broken header would make every record wrong in the same way; stop at the header.
        guard rows.header != nil, sink.isEmpty else { return [] }
        sink.add(contentsOf: rows.recordErrors)
        return rows.out
    }

    /// A row as Excel numbers it: one per record, the first (the header, after an Excel `sep=`
    /// line, which Excel does not show) is row 1, and a note with line breaks is one row.
    static func at(_ record: Int, line: Int) -> IntakeLocation { .row(record + 1, line: line) }

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
        if reason.hasPrefix("this row has more than") {
            return "raden har fler än \(CSVReader.maxFieldsPerRow) värden: kontrollera avgränsaren, eller om filen alls är CSV"
        }
        return nil
    }
}

/// The rows of one CSV file as they come: the header, then records built against it.
private struct CSVRows {
    let encoding: IntakeTextEncoding
    let separator: UInt8
    let builder: RecordBuilder
    let limits: IntakeLimits
    /// The header's line and number of fields, once read.
    var header: (line: Int, fields: Int)?
    /// True once nothing more is taken: the header was wrong, or there are too many records.
    var done = false
    var fieldOfColumn: [IntakeField?] = []
    var names = [String?](repeating: nil, count: IntakeField.allCases.count)
    var headerErrors: ErrorSink
    var recordErrors: ErrorSink
    var out: [IntakeRecord] = []
    /// One record's storage serves every row.
    var raw = RawRecord()
    /// The index of the row being taken, blank ones included (`CSVIntake.at` numbers it as Excel does).
    var record = -1

    init(encoding: IntakeTextEncoding, separator: UInt8, builder: RecordBuilder, limits: IntakeLimits, file: String) {
        self.encoding = encoding
        self.separator = separator
        self.builder = builder
        self.limits = limits
        headerErrors = ErrorSink(file: file, cap: limits.maxErrors)
        recordErrors = ErrorSink(file: file, cap: limits.maxErrors)
    }

    mutating func take(_ row: CSVRow) {
        record += 1
        guard !done, !row.isBlank else { return }  // blank lines before the header, blank rows Excel leaves
        if header == nil { readHeader(row) } else { readRecord(row) }
    }

    /// The first non-blank row; line numbers stay physical.
    private mutating func readHeader(_ row: CSVRow) {
        header = (row.line, row.fields.count)
        done = true
        let headerLine = CSVIntake.at(record, line: row.line)
        // The reader already said why a row with too many fields is refused.
        guard !row.overfull else { return }
        if let long = row.fields.firstIndex(where: { $0.count > CSVIntake.maxCellBytes }) {
            headerErrors.add(headerLine, "column \(long + 1) is named by more than \(CSVIntake.maxCellBytes) bytes: "
                + "this line cannot be the header row (is it missing?)",
                             sv: "kolumn \(long + 1) har ett namn på mer än \(CSVIntake.maxCellBytes) byte: "
                + "raden kan inte vara rubrikraden (saknas den?)")
            return
        }
        // An export without its header row puts a child's record where the column names belong:
        // name no cell of it, since errors end up in logs, and say what is wrong once.
        let headerNames = row.fields.map { row.string($0).intakeTrimmed }
        let headerFields = headerNames.map { IntakeField.named($0) }
        // A header names mostly known columns: one cell that happens to be a column name (an
        // event word like "Placering" in a child's record) does not make a record a header, whose
        // other cells (names, notes) would then be quoted as unknown columns.
        let named = zip(headerNames, headerFields).filter { !$0.0.isEmpty }
        guard named.filter({ $0.1 != nil }).count * 2 >= named.count, named.contains(where: { $0.1 != nil }) else {
            headerErrors.add(headerLine, "this line names no column we know, so it cannot be the header row (is it missing?): "
                + "the first line must name the columns, like Ärendenummer;Förnamn;Efternamn;Händelse;Händelsetid",
                             sv: "raden namnger ingen kolumn vi känner till, så den kan inte vara rubrikraden (saknas den?): "
                + "första raden ska namnge kolumnerna, till exempel Ärendenummer;Förnamn;Efternamn;Händelse;Händelsetid")
            return
        }

        // The header: every named column must be known, and no field may appear twice.
        for (col, (name, field)) in zip(headerNames, headerFields).enumerated() {
            guard !name.isEmpty else { fieldOfColumn.append(nil); continue }
            guard let f = field else {
                // "Ã¶" is what UTF-8 "ö" looks like read as Windows-1252: the file mixes both.
                if encoding == .windows1252, name.contains("\u{C3}") {
                    headerErrors.add(headerLine, field: name, column: true, "unknown column; the file mixes UTF-8 and Windows-1252 "
                        + "text (some bytes are not UTF-8): save it again as \"CSV UTF-8\"",
                                     sv: "okänd kolumn; filen blandar UTF-8 och Windows-1252 (vissa tecken är inte UTF-8): "
                        + "spara den igen som \"CSV UTF-8\"")
                    fieldOfColumn.append(nil)
                    continue
                }
                let known = IntakeField.allCases.map(\.swedishHeader).joined(separator: ", ")
                if let near = IntakeField.nearest(to: name) {
                    headerErrors.add(headerLine, field: name, column: true, "unknown column: did you mean \"\(near.swedishHeader)\"? "
                        + "Known columns are " + known + " (or their English names, like \(IntakeField.givenName.jsonKey))",
                                     sv: "okänd kolumn: menade du \"\(near.swedishHeader)\"? Kända kolumner är " + known)
                } else {
                    headerErrors.add(headerLine, field: name, column: true, "unknown column: check the spelling. Known columns are "
                        + known + " (or their English names, like \(IntakeField.givenName.jsonKey))",
                                     sv: "okänd kolumn: kontrollera stavningen. Kända kolumner är " + known)
                }
                fieldOfColumn.append(nil)
                continue
            }
            if let earlier = names[f.rawValue] {
                headerErrors.add(headerLine, field: name, column: true,
                                 "means the same as column \"\(earlier)\" (column \(col + 1)): keep only one of them",
                                 sv: "betyder samma sak som kolumnen \"\(earlier)\" (kolumn \(col + 1)): behåll bara en av dem")
            }
            names[f.rawValue] = name
            fieldOfColumn.append(f)
        }
        func has(_ fs: IntakeField...) -> Bool { fs.contains { names[$0.rawValue] != nil } }
        if !has(.givenName, .familyName) {
            headerErrors.add(headerLine, "there is no name column: add \"Förnamn\" and/or \"Efternamn\" (given_name, family_name)",
                             sv: "det finns ingen namnkolumn: lägg till \"Förnamn\" och/eller \"Efternamn\"")
        }
        if !has(.event) {
            headerErrors.add(headerLine, "there is no \"Händelse\" (event) column: add one", sv: "kolumnen \"Händelse\" saknas: lägg till den")
        }
        if !has(.eventTime) {
            headerErrors.add(headerLine, "there is no \"Händelsetid\" (event_time) column: add one", sv: "kolumnen \"Händelsetid\" saknas: lägg till den")
        }
        if !has(.intakeId, .dossierNumber, .personalIdentityNumber) {
            headerErrors.add(headerLine, "there is no identifier column: add \"Ärendenummer\", \"Dossiernummer\" or \"Personnummer\"",
                             sv: "det finns ingen kolumn med id-uppgift: lägg till \"Ärendenummer\", \"Dossiernummer\" eller \"Personnummer\"")
        }
        done = !headerErrors.isEmpty
    }

    private mutating func readRecord(_ row: CSVRow) {
        guard let header else { return }
        if out.count + 1 > limits.maxRecords {
            recordErrors.add(.file, "the file has more than \(limits.maxRecords) records: split it into smaller files",
                             sv: "filen har fler än \(limits.maxRecords) poster: dela upp den i mindre filer")
            done = true
            return
        }
        let index = out.count
        let location = CSVIntake.at(record, line: row.line)
        // The reader already said why a row with too many fields is refused; its first fields
        // alone would only add errors about a row that is wrong as a whole.
        guard !row.overfull else {
            out.append(builder.placeholder(index, location))
            return
        }
        raw.clearValues()
        var rowOK = true
        for (col, cell) in row.fields.enumerated() where rowOK {
            if cell.count > CSVIntake.maxCellBytes {
                rowOK = false
                recordErrors.add(location, "column \(col + 1) holds more than \(CSVIntake.maxCellBytes) bytes: "
                    + "no field is that long; check for a quote (\") that is never closed",
                                 sv: "kolumn \(col + 1) innehåller mer än \(CSVIntake.maxCellBytes) byte: inget fält är så långt; "
                    + "leta efter ett citattecken (\") som aldrig stängs")
            } else if col < fieldOfColumn.count, let f = fieldOfColumn[col] {
                raw.values[f.rawValue] = .text(cell)
            } else if !row.text[bytes: cell].intakeTrimmed.isEmpty {
                rowOK = false
                let sepShown = separator == CSVReader.semicolon ? ";" : ","
                recordErrors.add(location, col < header.fields
                    ? "column \(col + 1) has a value but no header: name the column or clear the value"
                    : "this row has \(row.fields.count) values but the header has \(header.fields) columns: "
                        + "check for a separator (\(sepShown)) inside a value that is not in quotes",
                                 sv: col < header.fields
                    ? "kolumn \(col + 1) har ett värde men ingen rubrik: namnge kolumnen eller töm värdet"
                    : "raden har \(row.fields.count) värden men rubrikraden \(header.fields) kolumner: "
                        + "leta efter en avgränsare (\(sepShown)) i ett värde som inte står inom citattecken")
            }
        }
        builder.build(raw, in: row.text, names: names, column: true, location: location, index: index, usable: rowOK,
                      intact: row.fields.count == header.fields, into: &out, sink: &recordErrors)
    }
}
