import Foundation
import StafettFuzzTargets

/// Runs files (or every file in directories) through one harness, saying which file is next
/// before it runs, so the last line before a crash names the input.
enum Replay {
    static func run(_ target: FuzzTarget, paths: [String]) {
        var count = 0
        for path in paths {
            for file in files(at: path) {
                guard let data = FileManager.default.contents(atPath: file) else { FuzzMain.fail("cannot read \(file)") }
                FileHandle.standardError.write(Data("\(target.name) \(file) (\(data.count) bytes)\n".utf8))
                target.run([UInt8](data))
                count += 1
            }
        }
        print("\(target.name): \(count) inputs ran without a crash")
    }

    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().filter { !$0.hasPrefix(".") }.map { path + "/" + $0 }
    }
}
