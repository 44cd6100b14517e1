import Foundation
import StafettDaemon
import StafettModel
#if canImport(Glibc)
import Glibc
#endif

/// A command-line usage mistake; printed with the command's usage line, exit code 2.
public struct UsageError: Error, CustomStringConvertible, Sendable {
    /// What was wrong.
    public var message: String
    /// Creates a usage error.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Parsed command-line arguments: options with values, flags, and positionals.
///
/// Deliberately small (no Swift packages): `--name value`, `--name=value`, `-n value`,
/// boolean flags, `--` ends options. Unknown options are errors, so a typo never
/// silently changes what a command does.
public struct Arguments: Sendable {
    /// Option values by canonical name; repeatable options keep every value.
    public private(set) var values: [String: [String]] = [:]
    /// Flags that were given.
    public private(set) var flags: Set<String> = []
    /// Positional arguments, in order.
    public private(set) var positionals: [String] = []

    /// Parses `argv` given the options that take a value and the boolean flags.
    /// `aliases` maps short forms (`-o`) to canonical names (`--output`).
    public init(_ argv: [String], options: Set<String>, flags flagNames: Set<String>,
                aliases: [String: String] = [:]) throws(UsageError) {
        var i = 0
        var onlyPositionals = false
        while i < argv.count {
            let arg = argv[i]
            i += 1
            if onlyPositionals || !arg.hasPrefix("-") || arg == "-" {
                positionals.append(arg)
                continue
            }
            if arg == "--" { onlyPositionals = true; continue }
            var name = arg
            var inline: String? = nil
            if let eq = arg.firstIndex(of: "="), arg.hasPrefix("--") {
                name = String(arg[..<eq])
                inline = String(arg[arg.index(after: eq)...])
            }
            name = aliases[name] ?? name
            if name == "--help" || name == "-h" { flags.insert("--help"); continue }
            if flagNames.contains(name) {
                guard inline == nil else { throw UsageError("\(name) takes no value") }
                flags.insert(name)
            } else if options.contains(name) {
                let value: String
                if let inline { value = inline } else {
                    guard i < argv.count else { throw UsageError("\(name) needs a value") }
                    value = argv[i]
                    i += 1
                }
                values[name, default: []].append(value)
            } else {
                let known = (options.union(flagNames)).sorted()
                let hint = known.min { editDistance($0, name) < editDistance($1, name) }
                    .flatMap { editDistance($0, name) <= 3 ? " (did you mean \($0)?)" : nil } ?? ""
                throw UsageError("unknown option \(arg)\(hint)")
            }
        }
    }

    /// The last value of an option.
    public func value(_ name: String) -> String? { values[name]?.last }
    /// Every value of a repeatable option.
    public func all(_ name: String) -> [String] { values[name] ?? [] }
    /// True when a flag was given.
    public func has(_ flag: String) -> Bool { flags.contains(flag) }
    /// True when `--help` or `-h` was given.
    public var wantsHelp: Bool { flags.contains("--help") }

    /// The value of a required option.
    public func required(_ name: String) throws(UsageError) -> String {
        guard let v = value(name) else { throw UsageError("\(name) is required") }
        return v
    }

    /// An integer option, or `defaultValue`.
    public func int(_ name: String, default defaultValue: Int) throws(UsageError) -> Int {
        guard let v = value(name) else { return defaultValue }
        guard let n = Int(v) else { throw UsageError("\(name) takes a whole number, not \(v)") }
        return n
    }
}

/// Where a command writes. Tests capture both streams; the executable passes stdout and stderr.
///
/// Writes with write(2), not FileHandle: `stafett journal tail | head` closes the pipe early, and
/// a reader going away must end the output quietly, not crash the command.
public final class Console: @unchecked Sendable {
    private let outFD: Int32
    private let errFD: Int32
    private let lock = NSLock()
    private var closed: Set<Int32> = []

    /// Creates a console over two file descriptors.
    public init(out: Int32 = STDOUT_FILENO, err: Int32 = STDERR_FILENO) {
        outFD = out
        errFD = err
    }

    /// Creates a console over two file handles (tests use pipes or files).
    public convenience init(out: FileHandle, err: FileHandle) {
        self.init(out: out.fileDescriptor, err: err.fileDescriptor)
    }

    /// Writes a line to standard output.
    public func print(_ line: String) { write(line + "\n", to: outFD) }
    /// Writes text to standard output without a newline.
    public func write(_ text: String) { write(text, to: outFD) }
    /// Writes raw bytes to standard output.
    public func write(_ data: Data) { write(data, to: outFD) }
    /// Writes a line to standard error.
    public func error(_ line: String) { write(line + "\n", to: errFD) }

    /// A buffered sink over standard output, for commands that stream many lines.
    public var sink: TextSink { TextSink(fileDescriptor: outFD) }
    /// A buffered sink over standard error.
    public var errorSink: TextSink { TextSink(fileDescriptor: errFD) }

    /// True when standard output is a terminal (a person reading), not a pipe or a file (a script).
    public var outputIsTerminal: Bool { isatty(outFD) == 1 }

    /// False once the reader of standard output has gone away (EPIPE): followers should stop.
    public var outputIsOpen: Bool {
        lock.lock()
        defer { lock.unlock() }
        return !closed.contains(outFD)
    }

    private func write(_ text: String, to fd: Int32) { write(Data(text.utf8), to: fd) }

    private func write(_ data: Data, to fd: Int32) {
        lock.lock()
        defer { lock.unlock() }
        guard !closed.contains(fd) else { return }
        // EPIPE or a closed descriptor: stop writing there.
        if AtomicFile.writeAll(fd, data) != 0 { closed.insert(fd) }
    }
}

/// Exit codes shared by every command (sysexits-like, documented in `stafett --help`). The journal
/// commands add 4 (nothing found) and 5 (the journal could not be read): see `JournalExit`.
public enum ExitCode {
    /// Success.
    public static let ok: Int32 = 0
    /// The input was checked and found bad (invalid record, bad signature, damaged journal).
    public static let invalid: Int32 = 1
    /// The command line was wrong.
    public static let usage: Int32 = 2
    /// A file could not be read or written, or another operational failure.
    public static let failure: Int32 = 3
}
