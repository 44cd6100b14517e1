import StafettModel

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
            // A lone `-` (standard input) and a negative number (`-1`) are values, not options.
            if onlyPositionals || !arg.hasPrefix("-") || arg == "-" || arg.dropFirst().first?.isNumber == true {
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
