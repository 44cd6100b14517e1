import Foundation
import StafettFuzzTargets
import XCTest

/// The short run of every harness: each seed (Fuzz/corpus/<target>) and each input a fuzzer once
/// crashed on (Fuzz/regressions/<target>) goes through its harness. A crash here takes the test
/// process down with the file named in the log line before it.
final class CorpusReplayTests: XCTestCase {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    func testEverySeedRunsThroughItsHarness() throws {
        for target in FuzzTargets.all {
            let files = try inputs(in: "corpus", target.name)
            XCTAssertFalse(files.isEmpty, "Fuzz/corpus/\(target.name) holds no seeds: a harness without seeds starts blind")
            replay(files, through: target)
        }
    }

    func testEveryRegressionInputRunsThroughItsHarness() throws {
        for target in FuzzTargets.all {
            replay(try inputs(in: "regressions", target.name), through: target)
        }
    }

    /// A corpus directory whose name is no harness would be replayed by nothing.
    func testEveryCorpusDirectoryBelongsToAHarness() throws {
        let names = Set(FuzzTargets.all.map(\.name))
        for kind in ["corpus", "regressions"] {
            let dir = Self.fuzzDirectory.appendingPathComponent(kind)
            for entry in try FileManager.default.contentsOfDirectory(atPath: dir.path) where !entry.hasPrefix(".") {
                XCTAssertTrue(names.contains(entry), "Fuzz/\(kind)/\(entry) is not a fuzz target (\(names.sorted()))")
            }
        }
    }

    private func inputs(in kind: String, _ target: String) throws -> [URL] {
        let dir = Self.fuzzDirectory.appendingPathComponent(kind).appendingPathComponent(target)
        guard FileManager.default.fileExists(atPath: dir.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    private func replay(_ files: [URL], through target: FuzzTarget) {
        for file in files {
            guard let data = FileManager.default.contents(atPath: file.path) else {
                XCTFail("cannot read \(file.path)")
                continue
            }
            print("fuzz replay: \(target.name) \(file.lastPathComponent)")
            target.run([UInt8](data))
        }
    }
}
