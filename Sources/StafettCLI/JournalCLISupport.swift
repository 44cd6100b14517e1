import Foundation
import StafettJournal
import StafettDaemon
import StafettModel

/// What the journal commands need from the configuration; the `stafett` executable fills it from
/// the config file, and `--journal`, `--secret`, `--cert`, `--rules` override it per command.
public struct JournalCLIContext: Sendable {
    /// The journal directory.
    public var journalDirectory: String?
    /// The node secret file (for personnummer keys).
    public var secretFile: String?
    /// The node certificate (checks checkpoint signatures).
    public var certificateFile: String?
    /// The follow-up rules file (default: the built-in rules).
    public var rulesFile: String?
    /// The spool's archive directory (peers' signed receipts, bound by digest in the journal).
    public var archiveDirectory: String?
    /// This node's organisation number (10 digits), from the config file: the issuer of the
    /// intake ids on old intake records. Nil: the reports read it from the journal.
    public var organisation: String?
    /// Organisation names by number (the node's and its peers', from the config file), so an
    /// operator asked to choose an issuer sees who they are.
    public var organisationNames: [String: String] = [:]
    /// The clock.
    public var now: @Sendable () -> Date
    /// Stops `journal tail -f` when it returns true (checked every poll); nil follows until killed.
    public var stopFollowing: (@Sendable () -> Bool)?
    /// True when a person reads the output on a terminal: `journal tail` then shows the last
    /// records rather than scrolling the whole journal past.
    public var outputIsTerminal: Bool

    /// Creates a context.
    public init(journalDirectory: String? = nil, secretFile: String? = nil, certificateFile: String? = nil,
                rulesFile: String? = nil, archiveDirectory: String? = nil, now: @escaping @Sendable () -> Date = { Date() },
                stopFollowing: (@Sendable () -> Bool)? = nil, outputIsTerminal: Bool = false) {
        self.journalDirectory = journalDirectory
        self.secretFile = secretFile
        self.certificateFile = certificateFile
        self.rulesFile = rulesFile
        self.archiveDirectory = archiveDirectory
        self.now = now
        self.stopFollowing = stopFollowing
        self.outputIsTerminal = outputIsTerminal
    }

    /// Reads the journal and archive directories, node secret and signing certificate from `stafett.conf`,
    /// and `/etc/stafett/followup.rules` when that file exists.
    public static func fromConfig(path: String) throws -> JournalCLIContext {
        let config = try StafettConfig.load(path: path)
        let rules = "/etc/stafett/followup.rules"
        var c = JournalCLIContext(journalDirectory: config.paths.layout.journal.path, secretFile: config.node.journalSecret,
                                  certificateFile: config.node.signingCert,
                                  rulesFile: FileManager.default.fileExists(atPath: rules) ? rules : nil,
                                  archiveDirectory: config.paths.layout.archivePath)
        c.organisation = config.node.organisation.digits
        c.organisationNames[config.node.organisation.digits] = config.node.name
        for p in config.peers where c.organisationNames[p.organisation.digits] == nil {
            c.organisationNames[p.organisation.digits] = p.name
        }
        return c
    }

    /// The installed configuration file, used when a command names neither `--journal` nor `--config`.
    public static let defaultConfigPath = "/etc/stafett/stafett.conf"

    /// `args` with `--config /etc/stafett/stafett.conf` added when no journal was named and it exists.
    static func withDefaultConfig(_ args: [String]) -> [String] {
        let named = args.contains { $0 == "--journal" || $0 == "--config" || $0.hasPrefix("--journal=") || $0.hasPrefix("--config=") }
        guard !named, FileManager.default.fileExists(atPath: defaultConfigPath) else { return args }
        return args + ["--config", defaultConfigPath]
    }
}

/// Shared option handling for the journal commands.
extension JournalCLIContext {
    /// Applies `--journal`, `--secret`, `--cert`, `--rules`, `--archive`, `--config` from parsed options.
    func applying(_ o: Arguments) throws -> JournalCLIContext {
        var c = self
        if let cfg = o.value("--config") {
            let f = try JournalCLIContext.fromConfig(path: cfg)
            c.journalDirectory = f.journalDirectory ?? c.journalDirectory
            c.secretFile = f.secretFile ?? c.secretFile
            c.certificateFile = f.certificateFile ?? c.certificateFile
            c.rulesFile = f.rulesFile ?? c.rulesFile
            c.archiveDirectory = f.archiveDirectory ?? c.archiveDirectory
            c.organisation = f.organisation ?? c.organisation
            c.organisationNames.merge(f.organisationNames) { _, new in new }
        }
        if let v = o.value("--journal") { c.journalDirectory = v }
        if let v = o.value("--secret") { c.secretFile = v }
        if let v = o.value("--cert") { c.certificateFile = v }
        if let v = o.value("--rules") { c.rulesFile = v }
        if let v = o.value("--archive") { c.archiveDirectory = v }
        return c
    }

    func directory() throws -> String {
        guard let d = journalDirectory else {
            throw UsageError("no journal directory: give --journal DIR or --config FILE (default /etc/stafett/stafett.conf)")
        }
        return d
    }

    /// Checks that `dir` holds a journal before a command reads it. Reading any directory as an
    /// empty journal would report "nothing to follow up" or "0 records, ok" for a wrong path
    /// (the state directory instead of its `journal/`), which an operator would take as good news.
    /// A journal stafettd created holds `journal.lock` and a first segment even with no records.
    static func requireJournal(_ dir: String) throws {
        // A directory this user may not enter looks missing to `fileExists`.
        if let denied = PermissionDeniedError.check(dir) { throw denied }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) else {
            throw JournalError.io(path: dir, operation: "open", errno: ENOENT)
        }
        guard isDir.boolValue else { throw NotAJournalError(message: "\(dir) is a file, not a journal directory") }
        func holdsJournal(_ d: String) throws -> Bool {
            try !JournalFormat.segments(in: d).isEmpty || FileManager.default.fileExists(atPath: d + "/journal.lock")
        }
        if try holdsJournal(dir) { return }
        let inner = (dir.hasSuffix("/") ? String(dir.dropLast()) : dir) + "/journal"
        if let segments = try? JournalFormat.segments(in: inner), !segments.isEmpty {
            throw NotAJournalError(message: "\(dir) holds no journal (no journal-*.log segment, no journal.lock): did you mean \(inner)?")
        }
        throw NotAJournalError(message: "\(dir) holds no journal (no journal-*.log segment, no journal.lock): name the journal "
                               + "directory, <state>/journal (stafettd creates it when it first starts)")
    }

    /// The personnummer key of `ref` when it is a personnummer or samordningsnummer.
    func personKey(for ref: String) throws -> String? {
        guard let pin = try? PersonalIdentityNumber(ref) else { return nil }
        guard let path = secretFile else {
            throw UsageError("\(String(ref.prefix(4)))… looks like a personnummer: the journal holds only keyed hashes, "
                                + "so give the node secret with --secret FILE (or [node] journal-secret in the config file)")
        }
        return try PersonKeyer(secretFile: path).key(pin)
    }
}

/// A directory named as the journal that is not one.
struct NotAJournalError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Options every journal command accepts; `-o` picks the output format.
let commonOptions: Set<String> = ["--journal", "--secret", "--cert", "--rules", "--config", "--output"]
/// The short forms of the journal commands' options.
let commonAliases = ["-o": "--output", "-n": "--lines", "-f": "--follow"]

/// Text from a journal record as it may reach a terminal: identifiers and reasons come from
/// peers, and an escape sequence in one must not recolour, move or retitle the operator's
/// terminal. Control characters (C0 but tab, DEL, C1) show as `?`.
func terminalSafe(_ text: String) -> String {
    // The bytes first: in UTF-8 a C0 control or DEL is its own byte and a C1 control is C2 80–9F
    // (perf: a follow-up report of a million rows makes nine cells a row safe, twice).
    let clean = text.utf8.withContiguousStorageIfAvailable { b -> Bool in
        for k in b.indices {
            let c = b[k]
            if (c < 0x20 && c != 0x09) || c == 0x7F || (c == 0xC2 && k + 1 < b.count && (0x80...0x9F).contains(b[k + 1])) { return false }
        }
        return true
    }
    if clean == true { return text }
    guard text.unicodeScalars.contains(where: isControl) else { return text }
    return String(String.UnicodeScalarView(text.unicodeScalars.map { isControl($0) ? "?" : $0 }))
}

private func isControl(_ u: Unicode.Scalar) -> Bool {
    (u.value < 0x20 && u.value != 0x09) || (0x7F...0x9F).contains(u.value)
}

/// Formats rows as an aligned table (`TextTable`), fitted to `width` by cutting `shrinkable`
/// columns; each line ends with a line feed.
func alignedTable(_ header: [String], _ rows: [[String]], width: Int? = nil, shrinkable: Set<Int> = []) -> String {
    TextTable(header: header, rows: rows, shrinkable: shrinkable).text(width: width)
}

extension JournalCLIContext {
    /// An organisation as the config names it (the node's or a peer's name), else its number;
    /// `?` when the record has none.
    func name(_ organisation: String?) -> String {
        guard let organisation else { return "?" }
        return organisationNames[organisation] ?? organisation
    }
}

/// `--utc`, which every command that shows times takes: UTC instead of local time.
let utcFlag = "--utc"
