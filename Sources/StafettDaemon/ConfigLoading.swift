import Foundation
import StafettModel

/// The keys each section accepts; `multi` keys may repeat (each line adds a value).
enum ConfigSchema {
    struct Section {
        var keys: [String]
        var multi: Set<String> = []
        /// nil: subsection forbidden; true: required; (peer "name", route "EventType").
        var subsection: Bool = false
    }

    static let sections: [String: Section] = [
        "node": Section(keys: ["organisation", "name", "listen", "tls-key", "tls-cert", "tls-ca", "tls-crl", "allow-tls12",
                               "signing-key", "signing-cert", "journal-secret"]),
        "paths": Section(keys: ["spool", "state"]),
        "limits": Section(keys: ["max-body", "max-header", "read-timeout", "handshake-timeout", "idle-timeout",
                                 "max-connections", "max-handshakes", "max-connections-per-peer", "max-intake-file", "quiet-period", "scan-interval", "max-batch"]),
        "delivery": Section(keys: ["connections-per-peer", "initial-backoff", "max-backoff", "jitter", "max-lifetime", "batch"]),
        "peer": Section(keys: ["organisation", "address", "ca", "pin", "signing-cert"],
                        multi: ["pin", "signing-cert"], subsection: true),
        "routing": Section(keys: ["default"]),
        "route": Section(keys: ["also"], multi: ["also"], subsection: true),
        "metrics": Section(keys: ["enabled", "listen"]),
        "journal": Section(keys: ["checkpoint-interval"]),
        "access": Section(keys: ["intake-group", "inbox-group", "operators-group"]),
        "retention": Section(keys: ["accepted", "failed", "archive"]),
    ]

    /// Section names in the order `render()` writes them, for suggestions.
    static let sectionOrder = ["node", "paths", "limits", "delivery", "peer", "routing", "route", "metrics", "journal", "access", "retention"]
}

extension StafettConfig {
    /// Reads and parses a configuration file (following `include = path` lines).
    public static func load(path: String) throws(ConfigErrors) -> StafettConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            let problem = ServiceUser.readProblem(path)
            throw ConfigErrors([ConfigError(ConfigLocation(file: path, line: 0),
                                            "cannot read the configuration file" + (problem.map { ": \($0)" } ?? ""),
                                            hint: problem?.isPermission == true ? problem?.hint
                                                : "check the path given with --config and that the stafett user may read it")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigErrors([ConfigError(ConfigLocation(file: path, line: 0), "the configuration file is not UTF-8",
                                            hint: "save it as UTF-8")])
        }
        return try parse(text: text, file: path)
    }

    /// Parses configuration text. `file` names it in errors and anchors relative paths and includes.
    /// Runs `validate(checkFiles: false)`; call `validate(checkFiles: true)` before using the files.
    public static func parse(text: String, file: String = "stafett.conf") throws(ConfigErrors) -> StafettConfig {
        let doc = ConfigLexer.lex(text: text, file: file)
        var reader = ConfigReader(doc: doc, baseDirectory: URL(fileURLWithPath: file).deletingLastPathComponent())
        let config = reader.build()
        var errors = reader.errors
        // Cross-section checks only make sense once each value parsed; placeholders would mislead.
        if let config, errors.isEmpty {
            do throws(ConfigErrors) { try config.validate(checkFiles: false) } catch { errors += error.errors }
        }
        guard errors.isEmpty, let config else {
            throw ConfigErrors(errors.sorted { ($0.location.file, $0.location.line) < ($1.location.file, $1.location.line) })
        }
        return config
    }
}

/// Turns lexed entries into a typed configuration, collecting every error.
struct ConfigReader {
    let doc: ConfigDocument
    let baseDirectory: URL
    var errors: [ConfigError]
    var origins = ConfigOrigins()
    /// Entries by `section\u{0}subsection\u{0}key`.
    private var table: [String: [ConfigEntry]] = [:]
    /// Subsections per section, in first-seen order.
    private var subsections: [String: [String]] = [:]

    init(doc: ConfigDocument, baseDirectory: URL) {
        self.doc = doc
        self.baseDirectory = baseDirectory
        self.errors = doc.errors
        checkStructure()
    }

    private static func tableKey(_ s: String, _ sub: String?, _ k: String) -> String { "\(s)\u{0}\(sub ?? "")\u{0}\(k)" }

    private static func originKey(_ s: String, _ sub: String?, _ k: String) -> String {
        sub.map { "\(s).\($0).\(k)" } ?? "\(s).\(k)"
    }

    /// Unknown sections and keys, misplaced subsections, repeated single-valued keys.
    private mutating func checkStructure() {
        var badHeaders = Set<String>()
        for h in doc.headers {
            guard let schema = ConfigSchema.sections[h.section] else {
                errors.append(ConfigError(h.location, "unknown section [\(h.section)]",
                                          hint: Suggest.hint(for: h.section, in: ConfigSchema.sectionOrder)))
                badHeaders.insert(h.section)
                continue
            }
            if schema.subsection, h.subsection == nil {
                errors.append(ConfigError(h.location, "[\(h.section)] needs a name",
                                          hint: h.section == "peer" ? "write [peer \"migrationsverket\"]" : "write [route \"ReportedMissing\"]"))
            } else if !schema.subsection, let sub = h.subsection {
                errors.append(ConfigError(h.location, "[\(h.section)] takes no name, found \"\(sub)\"",
                                          hint: "write [\(h.section)]"))
            }
            if let sub = h.subsection, !(subsections[h.section]?.contains(sub) ?? false) {
                subsections[h.section, default: []].append(sub)
            }
        }
        for e in doc.entries {
            guard let schema = ConfigSchema.sections[e.section] else { continue }  // reported at the header
            if schema.subsection != (e.subsection != nil) { continue }             // reported at the header
            guard schema.keys.contains(e.key) else {
                errors.append(ConfigError(e.location, "unknown key '\(e.key)' in [\(e.section)]",
                                          hint: Suggest.hint(for: e.key, in: schema.keys)))
                continue
            }
            let k = Self.tableKey(e.section, e.subsection, e.key)
            if let first = table[k]?.first, !schema.multi.contains(e.key) {
                errors.append(ConfigError(e.location, "'\(e.key)' is set twice (first at \(first.location))",
                                          hint: "keep one of the two lines"))
                continue
            }
            table[k, default: []].append(e)
            origins.locations[Self.originKey(e.section, e.subsection, e.key)] = e.location
        }
    }

    private func entries(_ s: String, _ sub: String?, _ k: String) -> [ConfigEntry] {
        table[Self.tableKey(s, sub, k)] ?? []
    }

    /// A single value parsed by `parse`, or nil (with an error recorded if the value was bad or required).
    private mutating func value<T>(_ s: String, _ k: String, required: Bool = false,
                                   expected: String, _ parse: (String) -> T?) -> T? {
        value(s, nil, k, required: required, expected: expected, parse)
    }

    private mutating func value<T>(_ s: String, _ sub: String?, _ k: String, required: Bool = false,
                                   expected: String, _ parse: (String) -> T?) -> T? {
        guard let e = entries(s, sub, k).first else {
            if required { missing(s, sub, k, example: expected) }
            return nil
        }
        return convert(e, expected: expected, parse)
    }

    /// Records a missing required key at its section header.
    private mutating func missing(_ s: String, _ sub: String?, _ k: String, example: String) {
        let header = doc.headers.first { $0.section == s && $0.subsection == sub }
        let name = sub.map { "[\(s) \"\($0)\"]" } ?? "[\(s)]"
        let fallback = ConfigLocation(file: doc.headers.first?.location.file ?? "stafett.conf", line: 0)
        errors.append(ConfigError(header?.location ?? fallback, "\(name) is missing '\(k)'", hint: "add '\(k) = \(example)'"))
    }

    private mutating func convert<T>(_ e: ConfigEntry, expected: String, _ parse: (String) -> T?) -> T? {
        if let v = parse(e.value) { return v }
        errors.append(ConfigError(e.location, "bad value '\(e.value.prefix(60))' for '\(e.key)'", hint: "expected \(expected)"))
        return nil
    }

    private func path(_ text: String) -> String? {
        guard !text.isEmpty else { return nil }
        if text.hasPrefix("/") { return URL(fileURLWithPath: text).standardizedFileURL.path }
        return baseDirectory.appendingPathComponent(text).standardizedFileURL.path
    }

    private static func organisation(_ t: String) -> OrganisationNumber? { try? OrganisationNumber(t) }

    private mutating func orgValue(_ s: String, _ sub: String?) -> OrganisationNumber? {
        guard let e = entries(s, sub, "organisation").first else {
            missing(s, sub, "organisation", example: "NNNNNN-NNNN")
            return nil
        }
        do throws(FieldError) { return try OrganisationNumber(e.value) } catch {
            errors.append(ConfigError(e.location, "bad organisationsnummer '\(e.value.prefix(20))'", hint: error.reason))
            return nil
        }
    }

    private static let durationForm = "a duration like 250ms, 30s, 5m, 1h or 7d"
    private static let sizeForm = "a size like 512KiB, 4MiB or 10MB"
    private static let boolForm = "yes or no"
    private static let addrForm = "host:port, like 0.0.0.0:8443"

    mutating func build() -> StafettConfig? {
        let hasNode = doc.headers.contains { $0.section == "node" }
        if !hasNode {
            errors.append(ConfigError(ConfigLocation(file: doc.headers.first?.location.file ?? "stafett.conf", line: 0),
                                      "there is no [node] section", hint: "add [node] with organisation and name"))
        }
        let org = hasNode ? orgValue("node", nil) : nil
        let name = hasNode ? value("node", "name", required: true, expected: "the organisation's name") { $0.isEmpty ? nil : $0 } : nil
        var node = StafettConfig.Node(organisation: org ?? (try! OrganisationNumber("2120000142")), name: name ?? "")
        if let v = value("node", "listen", expected: Self.addrForm, ConfigValue.hostPort) { node.listen = v }
        if let v = value("node", "tls-key", expected: "a file path", path) { node.tlsKey = v }
        if let v = value("node", "tls-cert", expected: "a file path", path) { node.tlsCert = v }
        if let v = value("node", "tls-ca", expected: "a file path", path) { node.tlsCA = v }
        if let v = value("node", "tls-crl", expected: "a file path", path) { node.tlsCRL = v }
        if let v = value("node", "allow-tls12", expected: Self.boolForm, ConfigValue.bool) { node.allowTLS12 = v }
        if let v = value("node", "signing-key", expected: "a file path", path) { node.signingKey = v }
        if let v = value("node", "signing-cert", expected: "a file path", path) { node.signingCert = v }
        if let v = value("node", "journal-secret", expected: "a file path", path) { node.journalSecret = v }

        var c = StafettConfig(node: node)
        if let v = value("paths", "spool", expected: "a directory path", path) { c.paths.spool = v }
        if let v = value("paths", "state", expected: "a directory path", path) { c.paths.state = v }

        let pos: (Int) -> Int? = { $0 > 0 ? $0 : nil }
        if let v = value("limits", "max-body", expected: Self.sizeForm, { ConfigValue.size($0).flatMap(pos) }) { c.limits.maxBody = v }
        if let v = value("limits", "max-header", expected: Self.sizeForm, { ConfigValue.size($0).flatMap(pos) }) { c.limits.maxHeader = v }
        if let v = value("limits", "read-timeout", expected: Self.durationForm, positiveDuration) { c.limits.readTimeout = v }
        if let v = value("limits", "handshake-timeout", expected: Self.durationForm, positiveDuration) { c.limits.handshakeTimeout = v }
        if let v = value("limits", "idle-timeout", expected: Self.durationForm, positiveDuration) { c.limits.idleTimeout = v }
        if let v = value("limits", "max-connections", expected: "a number from 1 to 100000", { Int($0).flatMap { (1...100_000).contains($0) ? $0 : nil } }) { c.limits.maxConnections = v }
        if let v = value("limits", "max-handshakes", expected: "a number from 1 to 100000", { Int($0).flatMap { (1...100_000).contains($0) ? $0 : nil } }) { c.limits.maxHandshakes = v }
        if let v = value("limits", "max-connections-per-peer", expected: "a number from 1 to 100000", { Int($0).flatMap { (1...100_000).contains($0) ? $0 : nil } }) { c.limits.maxConnectionsPerPeer = v }
        if let v = value("limits", "max-intake-file", expected: Self.sizeForm, { ConfigValue.size($0).flatMap(pos) }) { c.limits.maxIntakeFile = v }
        if let v = value("limits", "quiet-period", expected: Self.durationForm, ConfigValue.duration) { c.limits.quietPeriod = v }
        if let v = value("limits", "scan-interval", expected: Self.durationForm + " (at least 1s)", { ConfigValue.duration($0).flatMap { $0 >= .seconds(1) ? $0 : nil } }) { c.limits.scanInterval = v }
        if let v = value("limits", "max-batch", expected: "a number from 1 to 5000", { Int($0).flatMap { (1...5000).contains($0) ? $0 : nil } }) { c.limits.maxBatch = v }

        if let v = value("delivery", "connections-per-peer", expected: "a number from 1 to 64", { Int($0).flatMap { (1...64).contains($0) ? $0 : nil } }) { c.delivery.connectionsPerPeer = v }
        if let v = value("delivery", "initial-backoff", expected: Self.durationForm, positiveDuration) { c.delivery.initialBackoff = v }
        if let v = value("delivery", "max-backoff", expected: Self.durationForm, positiveDuration) { c.delivery.maxBackoff = v }
        if let v = value("delivery", "jitter", expected: "a fraction from 0 to 1, like 0.2 or 20%", ConfigValue.fraction) { c.delivery.jitter = v }
        if let v = value("delivery", "max-lifetime", expected: Self.durationForm, positiveDuration) { c.delivery.maxLifetime = v }
        if let v = value("delivery", "batch", expected: "a number from 1 to 5000", { Int($0).flatMap { (1...5000).contains($0) ? $0 : nil } }) { c.delivery.batch = v }

        for name in subsections["peer"] ?? [] {
            let org = orgValue("peer", name)
            let address = value("peer", name, "address", required: true, expected: "host:port or https://host:port", ConfigValue.hostPort)
            let certs = entries("peer", name, "signing-cert").compactMap { convert($0, expected: "a file path", path) }
            if entries("peer", name, "signing-cert").isEmpty {
                missing("peer", name, "signing-cert", example: "/etc/stafett/tls/peers/\(name)-signing.crt")
            }
            var peer = StafettConfig.Peer(name: name, organisation: org ?? node.organisation,
                                          address: address ?? HostPort(host: "invalid", port: 1), signingCerts: certs)
            peer.ca = value("peer", name, "ca", expected: "a file path", path)
            peer.pins = entries("peer", name, "pin").flatMap { e in
                ConfigValue.list(e.value).compactMap { item in
                    convert(ConfigEntry(section: e.section, subsection: e.subsection, key: e.key, value: item, location: e.location),
                            expected: "a SHA-256 fingerprint: 64 hex digits (colons allowed)", ConfigValue.sha256Pin)
                }
            }
            c.peers.append(peer)
        }

        c.routing.defaultPeer = value("routing", "default", expected: "a peer name") { $0.isEmpty ? nil : $0 }
        for type in subsections["route"] ?? [] {
            let lines = entries("route", type, "also")
            guard let event = EventType(rawValue: type) ?? EventType.allCases.first(where: { $0.rawValue.lowercased() == type.lowercased() }) else {
                let header = doc.headers.first { $0.section == "route" && $0.subsection == type }
                errors.append(ConfigError(header?.location ?? lines.first?.location ?? ConfigLocation(file: "stafett.conf", line: 0),
                                          "unknown event type \"\(type)\" in [route]",
                                          hint: Suggest.hint(for: type, in: EventType.allCases.map(\.rawValue))))
                continue
            }
            let names = lines.flatMap { ConfigValue.list($0.value) }
            // A peer named twice gets one copy (two would carry the same message id).
            for n in names where !(c.routing.fanOut[event]?.contains(n) ?? false) { c.routing.fanOut[event, default: []].append(n) }
            if let first = lines.first { origins.locations["route.\(event.rawValue).also"] = first.location }
        }

        if let v = value("metrics", "enabled", expected: Self.boolForm, ConfigValue.bool) { c.metrics.enabled = v }
        if let v = value("metrics", "listen", expected: "127.0.0.1:port", ConfigValue.hostPort) { c.metrics.listen = v }
        if let v = value("journal", "checkpoint-interval", expected: Self.durationForm, positiveDuration) { c.journal.checkpointInterval = v }
        let group = "a group name: letters, digits, '-', '_' or '.'"
        if let v = value("access", "intake-group", expected: group, Self.groupName) { c.access.intakeGroup = v }
        if let v = value("access", "inbox-group", expected: group, Self.groupName) { c.access.inboxGroup = v }
        if let v = value("access", "operators-group", expected: group, Self.groupName) { c.access.operatorsGroup = v }
        if let v = value("retention", "accepted", expected: Self.durationForm, positiveDuration) { c.retention.accepted = v }
        if let v = value("retention", "failed", expected: Self.durationForm, positiveDuration) { c.retention.failed = v }
        if let v = value("retention", "archive", expected: Self.durationForm, positiveDuration) { c.retention.archive = v }
        c.origins = origins
        return c
    }

    /// A name `getgrnam` can look up and a shell command can show without quoting.
    private static func groupName(_ t: String) -> String? {
        !t.isEmpty && !t.hasPrefix("-") && t.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) ? t : nil
    }

    private func positiveDuration(_ t: String) -> Duration? { ConfigValue.duration(t).flatMap { $0 > .zero ? $0 : nil } }
}
