import Foundation
import StafettModel

/// Where a configuration value came from, so every complaint can point at it.
public struct ConfigLocation: Sendable, Hashable, CustomStringConvertible {
    /// The file as given (or as found through `include`).
    public var file: String
    /// 1-based line number; 0 when the problem concerns the file as a whole.
    public var line: Int

    /// Creates a location.
    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    public var description: String { line > 0 ? "\(file):\(line)" : file }
}

/// One thing wrong with a configuration: where, what, and what to do about it.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Where the problem is.
    public var location: ConfigLocation
    /// What is wrong.
    public var message: String
    /// What the operator can do, e.g. "did you mean 'max-body'?".
    public var hint: String?

    /// Creates an error.
    public init(_ location: ConfigLocation, _ message: String, hint: String? = nil) {
        self.location = location
        self.message = message
        self.hint = hint
    }

    public var description: String {
        if let hint { return "\(location): \(message); \(hint)" }
        return "\(location): \(message)"
    }
}

/// Every problem found in one configuration, in file order, so an operator fixes them in one go.
public struct ConfigErrors: Error, Sendable, Hashable, CustomStringConvertible {
    /// The problems, at least one.
    public var errors: [ConfigError]

    /// Wraps a list of problems.
    public init(_ errors: [ConfigError]) { self.errors = errors }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// One `key = value` line after lexing, with the section it sits in.
struct ConfigEntry: Sendable, Hashable {
    /// Section name, lower-cased (`peer`).
    var section: String
    /// Subsection exactly as written (`migrationsverket`), or nil for `[node]`.
    var subsection: String?
    /// Key, lower-cased, `_` folded to `-`.
    var key: String
    /// Value with quotes and escapes resolved.
    var value: String
    /// Where the line is.
    var location: ConfigLocation
}

/// A section header as written, so empty sections are still checked for a name.
struct ConfigSectionHeader: Sendable, Hashable {
    var section: String
    var subsection: String?
    var location: ConfigLocation
}

/// The lexed file: section headers and entries in order, includes already followed.
struct ConfigDocument: Sendable {
    var headers: [ConfigSectionHeader] = []
    var entries: [ConfigEntry] = []
    var errors: [ConfigError] = []
}

/// Lexer for the git-config style syntax: `[section]`, `[section "sub"]`, `key = value`,
/// `#`/`;` comments, double-quoted values with `\" \\ \n \t` escapes, and `include = path`.
enum ConfigLexer {
    /// Deep include chains are almost always a loop through symlinks; refuse early.
    static let maxIncludeDepth = 8

    /// Lexes text; `include` paths are resolved relative to `file`'s directory and read from disk.
    static func lex(text: String, file: String, depth: Int = 0, seen: Set<String> = []) -> ConfigDocument {
        var doc = ConfigDocument()
        var section: String?
        var subsection: String?
        var lineNumber = 0
        // "\r\n" is one Character in Swift: split on it explicitly for files edited on Windows.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            lineNumber += 1
            let loc = ConfigLocation(file: file, line: lineNumber)
            var line = Substring(rawLine)
            if lineNumber == 1, line.hasPrefix("\u{FEFF}") { line = line.dropFirst() }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }

            if trimmed.hasPrefix("[") {
                switch parseHeader(trimmed) {
                case .success(let (s, sub)):
                    section = s
                    subsection = sub
                    doc.headers.append(ConfigSectionHeader(section: s, subsection: sub, location: loc))
                case .failure(let problem):
                    doc.errors.append(ConfigError(loc, problem.message,
                        hint: "write a section as [name] or [name \"subsection\"], e.g. [peer \"migrationsverket\"]"))
                    section = nil
                    subsection = nil
                }
                continue
            }

            guard let eq = trimmed.firstIndex(of: "=") else {
                doc.errors.append(ConfigError(loc, "expected 'key = value', found '\(trimmed.prefix(40))'",
                                              hint: "put the value after an '=' sign"))
                continue
            }
            let key = trimmed[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
                .replacingOccurrences(of: "_", with: "-")
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
                doc.errors.append(ConfigError(loc, "'\(key)' is not a valid key name",
                                              hint: "keys are letters, digits and '-', like max-body"))
                continue
            }
            let value: String
            switch parseValue(trimmed[trimmed.index(after: eq)...]) {
            case .success(let v): value = v
            case .failure(let problem):
                doc.errors.append(ConfigError(loc, problem.message, hint: "close the quote, and escape '\"' and '\\' inside quotes as \\\" and \\\\"))
                continue
            }

            if key == "include" {
                doc.merge(include(value, from: file, at: loc, depth: depth, seen: seen))
                continue
            }
            guard let section else {
                doc.errors.append(ConfigError(loc, "'\(key)' appears before any [section]",
                                              hint: "put it under the section it belongs to, e.g. [node]"))
                continue
            }
            doc.entries.append(ConfigEntry(section: section, subsection: subsection, key: key, value: value, location: loc))
        }
        return doc
    }

    private static func include(_ path: String, from file: String, at loc: ConfigLocation,
                                depth: Int, seen: Set<String>) -> ConfigDocument {
        var doc = ConfigDocument()
        let base = URL(fileURLWithPath: file).deletingLastPathComponent()
        let target = path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path)
        let resolved = target.standardizedFileURL.resolvingSymlinksInPath().path
        if depth >= maxIncludeDepth || seen.contains(resolved) || resolved == URL(fileURLWithPath: file).standardizedFileURL.resolvingSymlinksInPath().path {
            doc.errors.append(ConfigError(loc, "include of '\(path)' loops back or nests deeper than \(maxIncludeDepth)",
                                          hint: "remove the circular include"))
            return doc
        }
        guard let data = FileManager.default.contents(atPath: target.path) else {
            let problem = ServiceUser.readProblem(target.path)
            doc.errors.append(ConfigError(loc, "cannot read included file '\(target.path)'" + (problem.map { ": \($0)" } ?? ""),
                                          hint: problem?.hint ?? "check that it exists and that the stafett user may read it"))
            return doc
        }
        guard let text = String(data: data, encoding: .utf8) else {
            doc.errors.append(ConfigError(loc, "included file '\(target.path)' is not UTF-8", hint: "save it as UTF-8"))
            return doc
        }
        var nextSeen = seen
        nextSeen.insert(URL(fileURLWithPath: file).standardizedFileURL.resolvingSymlinksInPath().path)
        nextSeen.insert(resolved)
        return lex(text: text, file: target.path, depth: depth + 1, seen: nextSeen)
    }

    /// `[name]` or `[name "sub"]`; names are letters, digits and '-', case-insensitive.
    private static func parseHeader(_ text: String) -> Result<(String, String?), HeaderProblem> {
        var body = Substring(text.dropFirst())
        // A comment may follow the closing bracket.
        guard let close = lastBracket(body) else { return .failure(HeaderProblem("section header has no closing ']'")) }
        let rest = body[body.index(after: close)...].trimmingCharacters(in: .whitespaces)
        guard rest.isEmpty || rest.hasPrefix("#") || rest.hasPrefix(";") else {
            return .failure(HeaderProblem("unexpected text after ']'"))
        }
        body = body[..<close]
        let trimmed = body.trimmingCharacters(in: .whitespaces)
        var name = trimmed
        var sub: String?
        if let q = trimmed.firstIndex(of: "\"") {
            name = trimmed[..<q].trimmingCharacters(in: .whitespaces)
            switch parseValue(trimmed[q...]) {
            case .success(let s): sub = s
            case .failure(let p): return .failure(p)
            }
            guard let s = sub, !s.isEmpty else { return .failure(HeaderProblem("empty subsection name")) }
        }
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
            return .failure(HeaderProblem("'\(trimmed.prefix(40))' is not a valid section name"))
        }
        return .success((name.lowercased(), sub))
    }

    private static func lastBracket(_ s: Substring) -> Substring.Index? {
        var inQuote = false
        var escaped = false
        for i in s.indices {
            let c = s[i]
            if escaped { escaped = false; continue }
            if c == "\\" && inQuote { escaped = true; continue }
            if c == "\"" { inQuote.toggle(); continue }
            if c == "]" && !inQuote { return i }
        }
        return nil
    }

    struct HeaderProblem: Error { var message: String; init(_ m: String) { message = m } }

    /// Value after '=': leading/trailing blanks dropped, quoted runs kept verbatim, comment cut off.
    static func parseValue(_ text: Substring) -> Result<String, HeaderProblem> {
        var out = ""
        var pendingSpace = ""
        var inQuote = false
        var started = false
        var it = text.makeIterator()
        while let c = it.next() {
            if inQuote {
                if c == "\"" { inQuote = false; continue }
                if c == "\\" {
                    guard let e = it.next() else { return .failure(HeaderProblem("a '\\' ends the line inside quotes")) }
                    switch e {
                    case "\"": out.append("\"")
                    case "\\": out.append("\\")
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    default: return .failure(HeaderProblem("unknown escape '\\\(e)' inside quotes"))
                    }
                    continue
                }
                out.append(c)
                continue
            }
            switch c {
            case "#", ";":
                if !inQuote { return .success(out) }
            case " ", "\t":
                if started { pendingSpace.append(c) }
                continue
            case "\"":
                out += pendingSpace
                pendingSpace = ""
                started = true
                inQuote = true
                continue
            default: break
            }
            out += pendingSpace
            pendingSpace = ""
            started = true
            out.append(c)
        }
        if inQuote { return .failure(HeaderProblem("a quoted value is not closed")) }
        return .success(out)
    }
}

extension ConfigLexer.HeaderProblem: CustomStringConvertible { var description: String { message } }

extension ConfigDocument {
    mutating func merge(_ other: ConfigDocument) {
        headers += other.headers
        entries += other.entries
        errors += other.errors
    }
}

/// Spelling suggestions for unknown names: the closest known name within a small edit distance.
enum Suggest {
    /// The closest candidate to `word`, or nil if none is close enough to be a typo.
    static func closest(to word: String, in candidates: [String]) -> String? {
        var best: (String, Int)?
        for c in candidates {
            let d = editDistance(word.lowercased(), c.lowercased(), countingTranspositions: true)
            if d <= max(2, word.count / 3), best == nil || d < best!.1 { best = (c, d) }
        }
        return best?.0
    }

    /// A hint string: "did you mean 'x'?" or the list of valid names.
    static func hint(for word: String, in candidates: [String]) -> String {
        if let c = closest(to: word, in: candidates) { return "did you mean '\(c)'?" }
        return "valid names are: " + candidates.joined(separator: ", ")
    }
}
