// What the tests of several modules share: a scratch directory and running a command-line tool.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

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

/// Runs `tool` with `arguments` (in `directory`, and with `environment` added to this process's,
/// when given), collecting stdout and stderr together.
@discardableResult
public func runTool(_ tool: String, _ arguments: [String], in directory: URL? = nil,
                    environment: [String: String] = [:]) throws -> ToolResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = arguments
    if let directory { p.currentDirectoryURL = directory }
    if !environment.isEmpty {
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    }
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return ToolResult(status: p.terminationStatus, output: String(decoding: data, as: UTF8.self))
}

/// A system user made for one test, optionally in a group made with it, and removed with it: for
/// tests of who may read what, which need an identity other than root. Root only; `make` returns
/// nil elsewhere (or without `useradd`), and the caller skips saying so.
public final class TemporaryAccount {
    /// The user's name.
    public let user: String
    /// The group made for it, if asked for.
    public let group: String?

    private init(user: String, group: String?) {
        self.user = user
        self.group = group
    }

    /// Makes a user called after `tag` (and this process), in a new group of its own when `inGroup`.
    public static func make(_ tag: String, inGroup: Bool) throws -> TemporaryAccount? {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/useradd"),
              FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser") else { return nil }
        let suffix = "\(tag)-\(getpid() % 100_000)"
        let group = inGroup ? "stg-\(suffix)" : nil
        if let group {
            let made = try runTool("/usr/sbin/groupadd", ["--system", group])
            guard made.status == 0 else { throw AccountError(message: "groupadd \(group): \(made.output)") }
        }
        let user = "stu-\(suffix)"
        let made = try runTool("/usr/sbin/useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
                                + (group.map { ["--groups", $0] } ?? []) + [user])
        guard made.status == 0 else {
            if let group { _ = try? runTool("/usr/sbin/groupdel", [group]) }
            throw AccountError(message: "useradd \(user): \(made.output)")
        }
        return TemporaryAccount(user: user, group: group)
    }

    /// Runs `arguments` as the user (`runuser -u`), collecting stdout and stderr together.
    public func run(_ arguments: [String]) throws -> ToolResult {
        try runTool("/usr/sbin/runuser", ["-u", user, "--"] + arguments)
    }

    /// Removes the user and its group.
    public func remove() {
        _ = try? runTool("/usr/sbin/userdel", [user])
        if let group { _ = try? runTool("/usr/sbin/groupdel", [group]) }
    }

    /// `useradd` or `groupadd` refused.
    public struct AccountError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }
}

/// Flips every bit of one byte of a file: damage a reader must notice.
public func flipByte(_ offset: Int, of path: String) throws {
    let url = URL(fileURLWithPath: path)
    var d = try Data(contentsOf: url)
    d[offset] ^= 0xFF
    try d.write(to: url)
}
