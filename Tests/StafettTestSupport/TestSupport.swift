// What the tests of several modules share: a scratch directory and running a command-line tool.
import Foundation

/// A temporary directory removed when the value is dropped by the test (call `remove()` in defer).
public struct TempDir {
    public let url: URL
    public init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-test-\(UUID())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    public func write(_ name: String, _ data: Data) throws -> String {
        let p = path(name)
        try data.write(to: URL(fileURLWithPath: p))
        return p
    }
    public func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Result of running a tool.
public struct ToolResult: Sendable {
    public let status: Int32
    public let output: String
}

/// Runs `tool` with `arguments`, collecting stdout and stderr together.
@discardableResult
public func runTool(_ tool: String, _ arguments: [String]) throws -> ToolResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = arguments
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return ToolResult(status: p.terminationStatus, output: String(decoding: data, as: UTF8.self))
}
