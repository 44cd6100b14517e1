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
        bytes.withUnsafeBufferPointer { detect(fileName: fileName, bytes: $0) }
    }

    static func detect(fileName: String, bytes: UTF8Bytes) -> IntakeFormat? {
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
    ///
    /// `data` is let go of once its text is decoded: a caller that hands it over (`consume`)
    /// does not hold a large file's bytes beside its records.
    public static func parse(data: consuming Data, fileName: String, referenceDate: Date,
                             limits: IntakeLimits = .default) -> Result<[IntakeRecord], IntakeFailure> {
        var sink = ErrorSink(file: fileName, cap: limits.maxErrors)
        guard data.count <= limits.maxBytes else {
            sink.add(.file, "the file is larger than the limit of \(limits.maxBytes) bytes: split it into smaller files")
            return .failure(sink.failure)
        }
        // The file is read where it lies until it is decoded: the decoded text is the one copy made.
        var format = IntakeFormat.csv, bytes: [UInt8] = [], encoding = IntakeTextEncoding.utf8
        let decoded = data.withUnsafeBytes { (whole: UnsafeRawBufferPointer) -> Bool in
            let raw = whole.bindMemory(to: UInt8.self)
            if let reason = notIntake(fileName: fileName, bytes: raw) {
                sink.add(.file, reason)
                return false
            }
            guard let detected = IntakeFormat.detect(fileName: fileName, bytes: raw) else {
                sink.add(.file, "this is an XML file, not CSV or JSON: case XML goes through the case XML route")
                return false
            }
            format = detected
            do throws(TextDecoder.Failure) {
                // JSON is UTF-8 by definition (RFC 8259): only CSV, which Excel writes in either, is guessed.
                (bytes, encoding) = try TextDecoder.decode(raw, allowWindows1252: format == .csv)
                return true
            } catch {
                switch error {
                case .utf16:
                    sink.add(.file, "the file is in UTF-16 (Excel's \"Unicode text\"): save it as \"CSV UTF-8\" instead")
                case .invalidAfterBOM(let offset):
                    sink.add(.file, "the file says it is UTF-8 but byte \(offset) is not: save it again as \"CSV UTF-8\"")
                case .mixed(let offset):
                    sink.add(.file, "the file mixes UTF-8 and Windows-1252 text (byte \(offset) is not UTF-8, earlier text is): "
                        + "read either way some names would come out garbled; save it again as \"CSV UTF-8\"")
                case .notUTF8(let offset):
                    sink.add(.file, "JSON must be UTF-8, and byte \(offset) is not: save the file as UTF-8")
                }
                return false
            }
        }
        guard decoded else { return .failure(sink.failure) }
        _ = consume data
        guard bytes.contains(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) else {
            sink.add(.file, "the file is empty")
            return .failure(sink.failure)
        }
        let builder = RecordBuilder(file: fileName, reference: referenceDate)
        let records: [IntakeRecord]
        switch format {
        // The text is handed on, not shared: the CSV reader unquotes values in it in place.
        case .csv: records = CSVIntake.records(consume bytes, encoding: encoding, builder: builder, limits: limits, sink: &sink)
        case .json, .jsonLines:
            records = JSONIntake.records(bytes, linesOnly: format == .jsonLines, builder: builder, limits: limits, sink: &sink)
        }
        if sink.isEmpty && records.isEmpty { sink.add(.file, "the file holds no records") }
        return sink.isEmpty ? .success(records) : .failure(sink.failure)
    }

    /// The text encoding a file would be read in (nil for UTF-16 or broken UTF-8 after a BOM),
    /// for tools that report how a file was understood.
    public static func encoding(of data: Data) -> IntakeTextEncoding? {
        try? TextDecoder.decode([UInt8](data)).1
    }

    /// As `parse`, throwing every error at once.
    public static func records(data: Data, fileName: String, referenceDate: Date,
                               limits: IntakeLimits = .default) throws(IntakeFailure) -> [IntakeRecord] {
        try parse(data: data, fileName: fileName, referenceDate: referenceDate, limits: limits).get()
    }

    /// Files people drop by mistake: Excel workbooks and other office documents.
    private static func notIntake(fileName: String, bytes: UTF8Bytes) -> String? {
        let ext = (fileName as NSString).pathExtension.lowercased()
        let zip = bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]), ole = bytes.starts(with: [0xD0, 0xCF, 0x11, 0xE0])
        if ["xlsx", "xlsm", "xls", "ods", "numbers"].contains(ext) || zip || ole {
            return "this is a spreadsheet workbook (or another binary document), not CSV: in Excel choose "
                + "Save As, \"CSV UTF-8 (comma delimited) (*.csv)\", and drop that file instead"
        }
        return nil
    }
}
