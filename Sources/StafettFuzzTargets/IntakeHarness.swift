import Foundation
import StafettModel

/// Intake files as the outbox watcher reads them (`IntakeParser.parse`), by format.
enum IntakeHarness {
    /// A fixed "now", so an input that fails once fails on every replay.
    static let referenceDate = Date(timeIntervalSince1970: 1_764_000_000)

    static let csv = FuzzTarget(name: "csv-intake", summary: "CSV intake files (IntakeParser.parse, .csv)") { bytes in
        let data = Data(bytes)
        _ = IntakeParser.parse(data: data, fileName: "fuzz.csv", referenceDate: referenceDate)
        _ = IntakeParser.encoding(of: data)
    }

    static let json = FuzzTarget(name: "json-intake", summary: "JSON and JSON Lines intake files (IntakeParser.parse, .json/.jsonl)") { bytes in
        let data = Data(bytes)
        _ = IntakeParser.parse(data: data, fileName: "fuzz.json", referenceDate: referenceDate)
        _ = IntakeParser.parse(data: data, fileName: "fuzz.jsonl", referenceDate: referenceDate)
    }
}
