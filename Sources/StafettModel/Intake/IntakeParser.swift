import Foundation

/// The intake file formats.
public enum IntakeFormat: String, Sendable, Hashable {
    /// CSV as Excel writes it.
    case csv
    /// JSON: one object or an array of objects (or JSON Lines, recognised by content).
    case json
    /// JSON Lines: one object per line.
    case jsonLines = "jsonl"

    /// The format by extension (`.csv`, `.txt`, `.json`, `.jsonl`, `.ndjson`), else by the first
    /// non-blank byte (`{` or `[` is JSON, anything else CSV). Nil for XML, which is not intake.
    public static func detect(fileName: String, bytes: [UInt8]) -> IntakeFormat? {
        let ext = (fileName as NSString).pathExtension.lowercased()
        switch ext {
        case "csv", "txt": return .csv
        case "json": return .json
        case "jsonl", "ndjson": return .jsonLines
        case "xml": return nil
        default: break
        }
        var i = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
        guard i < bytes.count else { return .csv }
        switch bytes[i] {
        case 0x7B, 0x5B: return .json
        case 0x3C: return nil
        default: return .csv
        }
    }
}

/// Reads intake files (CSV, JSON, JSON Lines) into validated records. All or nothing: either
/// every record of the file, or every error found in it (up to `IntakeLimits.maxErrors`).
public enum IntakeParser {
    /// Parses a file. `fileName` is used for format detection and in every error message (pass
    /// the path relative to the outbox, as the case worker knows it). `referenceDate` is "now":
    /// dates of birth may not lie after it, event times not more than a day after it, and
    /// 10-digit personnummer get their century from it.
    public static func parse(data: Data, fileName: String, referenceDate: Date,
                             limits: IntakeLimits = .default) -> Result<[IntakeRecord], IntakeFailure> {
        var sink = ErrorSink(file: fileName, cap: limits.maxErrors)
        guard data.count <= limits.maxBytes else {
            sink.add(.file, "the file is \(data.count) bytes, more than the limit of \(limits.maxBytes): split it into smaller files")
            return .failure(sink.failure)
        }
        let raw = [UInt8](data)
        guard let format = IntakeFormat.detect(fileName: fileName, bytes: raw) else {
            sink.add(.file, "this is an XML file, not CSV or JSON: case XML goes through the case XML route")
            return .failure(sink.failure)
        }
        let bytes: [UInt8]
        let encoding: IntakeTextEncoding
        do {
            (bytes, encoding) = try TextDecoder.decode(raw)
        } catch {
            switch error {
            case .utf16:
                sink.add(.file, "the file is in UTF-16 (Excel's \"Unicode text\"): save it as \"CSV UTF-8\" instead")
            case .invalidAfterBOM(let offset):
                sink.add(.file, "the file says it is UTF-8 but byte \(offset) is not: save it again as \"CSV UTF-8\"")
            }
            return .failure(sink.failure)
        }
        guard bytes.contains(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) else {
            sink.add(.file, "the file is empty")
            return .failure(sink.failure)
        }
        let builder = RecordBuilder(file: fileName, reference: referenceDate)
        let records: [IntakeRecord]
        switch format {
        case .csv: records = CSVIntake.records(bytes, encoding: encoding, builder: builder, limits: limits, sink: &sink)
        case .json, .jsonLines:
            records = JSONIntake.records(bytes, linesOnly: format == .jsonLines, builder: builder, limits: limits, sink: &sink)
        }
        if sink.isEmpty && records.isEmpty { sink.add(.file, "the file holds no records") }
        return sink.isEmpty ? .success(records) : .failure(sink.failure)
    }

    /// As `parse`, throwing every error at once.
    public static func records(data: Data, fileName: String, referenceDate: Date,
                               limits: IntakeLimits = .default) throws(IntakeFailure) -> [IntakeRecord] {
        try parse(data: data, fileName: fileName, referenceDate: referenceDate, limits: limits).get()
    }
}

/// CSV files: header row, then one record per row.
enum CSVIntake {
    static func records(_ bytes: [UInt8], encoding: IntakeTextEncoding, builder: RecordBuilder,
                        limits: IntakeLimits, sink: inout ErrorSink) -> [IntakeRecord] {
        let sep = CSVReader.detectSeparator(bytes)
        let (rows, syntax, tooMany) = CSVReader.read(bytes, separator: sep, maxRows: 2 * limits.maxRecords + 100)
        for e in syntax { sink.add(.line(e.line), e.reason) }
        if tooMany {
            sink.add(.file, "the file has more than \(limits.maxRecords) records: split it into smaller files")
            return []
        }
        guard let header = rows.first else { return [] }

        // The header: every named column must be known, and no field may appear twice.
        var fieldOfColumn: [IntakeField?] = []
        var names = [String?](repeating: nil, count: IntakeField.allCases.count)
        for (col, cell) in header.fields.enumerated() {
            let name = cell.intakeTrimmed
            guard !name.isEmpty else { fieldOfColumn.append(nil); continue }
            guard let f = IntakeField.named(name) else {
                // "Ã¶" is what UTF-8 "ö" looks like read as Windows-1252: the file mixes both.
                if encoding == .windows1252, name.contains("\u{C3}") {
                    sink.add(.line(1), field: name, column: true, "unknown column; the file mixes UTF-8 and Windows-1252 "
                        + "text (some bytes are not UTF-8): save it again as \"CSV UTF-8\"")
                    fieldOfColumn.append(nil)
                    continue
                }
                sink.add(.line(1), field: name, column: true, "unknown column: check the spelling. Known columns are "
                    + IntakeField.allCases.map(\.swedishHeader).joined(separator: ", ")
                    + " (or their English names, like \(IntakeField.givenName.jsonKey))")
                fieldOfColumn.append(nil)
                continue
            }
            if let earlier = names[f.rawValue] {
                sink.add(.line(1), field: name, column: true,
                         "means the same as column \"\(earlier)\" (column \(col + 1)): keep only one of them")
            }
            names[f.rawValue] = name
            fieldOfColumn.append(f)
        }
        func has(_ fs: IntakeField...) -> Bool { fs.contains { names[$0.rawValue] != nil } }
        if !has(.givenName, .familyName) {
            sink.add(.line(1), "there is no name column: add \"Förnamn\" and/or \"Efternamn\" (given_name, family_name)")
        }
        if !has(.event) { sink.add(.line(1), "there is no \"Händelse\" (event) column: add one") }
        if !has(.eventTime) { sink.add(.line(1), "there is no \"Händelsetid\" (event_time) column: add one") }
        if !has(.intakeId, .dossierNumber, .personalIdentityNumber) {
            sink.add(.line(1), "there is no identifier column: add \"Ärendenummer\", \"Dossiernummer\" or \"Personnummer\"")
        }
        // A broken header would make every record wrong in the same way; stop at the header.
        guard sink.isEmpty else { return [] }

        var out: [IntakeRecord] = []
        out.reserveCapacity(rows.count - 1)
        var values = [RawValue?](repeating: nil, count: IntakeField.allCases.count)
        for row in rows.dropFirst() {
            if row.fields.allSatisfy({ $0.intakeTrimmed.isEmpty }) { continue }  // blank rows Excel leaves
            if out.count + 1 > limits.maxRecords {
                sink.add(.file, "the file has more than \(limits.maxRecords) records: split it into smaller files")
                break
            }
            let index = out.count
            for k in values.indices { values[k] = nil }
            var rowOK = true
            for (col, cell) in row.fields.enumerated() {
                if col < fieldOfColumn.count, let f = fieldOfColumn[col] {
                    values[f.rawValue] = .text(cell)
                } else if !cell.intakeTrimmed.isEmpty {
                    rowOK = false
                    sink.add(.line(row.line), col < header.fields.count
                        ? "column \(col + 1) has a value but no header: name the column or clear the value"
                        : "this row has \(row.fields.count) values but the header has \(header.fields.count) columns: "
                            + "check for a separator (\(sep == CSVReader.semicolon ? ";" : ",")) inside a value that is not in quotes")
                    break
                }
            }
            let location = IntakeLocation.line(row.line)
            if let r = builder.build(values, names: names, column: true, location: location, index: index, sink: &sink),
               rowOK {
                out.append(r)
            } else {
                out.append(placeholder(builder, index, location))
            }
        }
        return out
    }

    /// Keeps indexes of later records stable when one fails; never returned, because the file fails.
    static func placeholder(_ b: RecordBuilder, _ index: Int, _ location: IntakeLocation) -> IntakeRecord {
        IntakeRecord(file: b.file, index: index, location: location, child: Child(givenName: "", familyName: ""),
                     event: CaseEvent(type: .update, time: b.reference))
    }
}
