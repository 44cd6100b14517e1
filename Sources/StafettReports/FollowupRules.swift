import Foundation
import StafettJournal
import StafettModel

/// One follow-up rule: what opens an item, what closes it, how long it may stay open, and why it matters.
public struct FollowupRule: Sendable, Hashable {
    /// What an item is about.
    public enum Scope: String, Sendable, Hashable {
        /// One child: all identifiers joined.
        case `case`
        /// One message id; for intake records (which have none), one intake file by its name.
        case message
    }

    /// A condition on a journal record.
    public enum Match: Sendable, Hashable, CustomStringConvertible {
        /// A record about a message carrying this event type (sent or received).
        case event(String)
        /// A record of this kind.
        case kind(JournalKind)

        public var description: String {
            switch self {
            case let .event(e): return "event:\(e)"
            case let .kind(k): return "kind:\(k.rawValue)"
            }
        }
    }

    /// The rule's name (`[rule NAME]`).
    public var name: String
    /// Case or message.
    public var scope: Scope
    /// What opens an item.
    public var start: [Match]
    /// What closes it (empty: never).
    public var stop: [Match]
    /// How long an open item may wait, in milliseconds.
    public var afterMillis: Int64
    /// Why it matters.
    public var why: String

    /// Creates a rule.
    public init(name: String, scope: Scope, start: [Match], stop: [Match], afterMillis: Int64, why: String) {
        self.name = name
        self.scope = scope
        self.start = start
        self.stop = stop
        self.afterMillis = afterMillis
        self.why = why
    }
}

/// A rules file that cannot be used, with the place to fix.
public struct FollowupRulesError: Error, Sendable, CustomStringConvertible {
    /// The file.
    public var file: String
    /// 1-based line.
    public var line: Int
    /// What is wrong.
    public var reason: String
    public var description: String { "\(file):\(line): \(reason)" }
}

/// The follow-up rules (`Config/followup.rules`).
public enum FollowupRules {
    /// The defaults, used when no rules file is configured: the same rules and `why` texts as the
    /// shipped `Config/followup.rules`, so a node without the file reports the same.
    public static let defaults: [FollowupRule] = [
        FollowupRule(name: "no-receipt", scope: .message, start: [.kind(.queued), .kind(.sent)],
                     stop: [.kind(.delivered), .kind(.rejected), .kind(.expired), .kind(.withdrawn)], afterMillis: 3_600_000,
                     why: "Mottagaren har inte kvitterat meddelandet: barnet kan komma fram utan att någon väntar det. "
                         + "The recipient has not acknowledged the message."),
        FollowupRule(name: "transfer-unconfirmed", scope: .case, start: [.event("TransferSent")],
                     stop: [.event("TransferReceived")], afterMillis: 86_400_000,
                     why: "Överflyttningen är inte bekräftad mottagen av den anvisade kommunen: ingen vet var barnet är. "
                         + "The receiving municipality has not confirmed the transfer."),
        FollowupRule(name: "no-asylum-application", scope: .case, start: [.event("Registered")],
                     stop: [.event("AsylumApplicationLodged")], afterMillis: 7 * 86_400_000,
                     why: "Registrerat barn utan asylansökan efter en vecka: barn som försvinner gör det oftast före ansökan. "
                         + "Registered but no asylum application after 7 days."),
        FollowupRule(name: "missing", scope: .case, start: [.event("ReportedMissing")], stop: [.event("Found")],
                     afterMillis: 0,
                     why: "Barnet är anmält avviket och inte återfunnet. Reported missing and not found."),
        FollowupRule(name: "message-expired", scope: .message, start: [.kind(.expired)], stop: [.kind(.delivered)],
                     afterMillis: 0,
                     why: "Meddelandet levererades aldrig och har löpt ut: överlämningen måste göras på annat sätt. "
                         + "The message expired undelivered."),
        FollowupRule(name: "message-rejected", scope: .message, start: [.kind(.rejected)], stop: [.kind(.delivered)],
                     afterMillis: 0,
                     why: "Mottagaren vägrade ta emot meddelandet (se orsaken): "
                         + "överlämningen har inte skett förrän posten rättats och skickats igen. "
                         + "The recipient refused the message: the hand-off has not happened until the record is "
                         + "corrected and sent again."),
        FollowupRule(name: "intake-failed", scope: .message, start: [.kind(.intakeFailed)], stop: [.kind(.intakeAccepted)],
                     afterMillis: 0,
                     why: "Filen i utkorgen kunde inte tas emot och har inte lämnats in igen: inget i den skickades "
                         + "(se outbox/failed/<fil>.errors.txt). "
                         + "The intake file failed and was not dropped again: nothing in it was sent."),
        FollowupRule(name: "withdrawn", scope: .case, start: [.kind(.withdrawn)], stop: [.kind(.queued)], afterMillis: 0,
                     why: "Ett meddelande togs tillbaka före leverans och inget nytt har köats för barnet: "
                         + "överlämningen har inte skett. "
                         + "A message was withdrawn before delivery and nothing new has been queued for the child."),
    ]

    /// Reads a rules file.
    public static func load(path: String) throws(FollowupRulesError) -> [FollowupRule] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FollowupRulesError(file: path, line: 0, reason: "cannot read the rules file")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }

    /// Parses rules text.
    public static func parse(_ text: String, file: String = "<rules>") throws(FollowupRulesError) -> [FollowupRule] {
        var rules: [FollowupRule] = []
        // Each value keeps its own line, so an error about it can point there.
        var current: (name: String, line: Int, fields: [String: String], lines: [String: Int])?
        func finish() throws(FollowupRulesError) {
            guard let c = current else { return }
            func need(_ k: String) throws(FollowupRulesError) -> String {
                guard let v = c.fields[k] else {
                    throw FollowupRulesError(file: file, line: c.line, reason: "rule \(c.name) has no `\(k) =`")
                }
                return v
            }
            guard let scope = FollowupRule.Scope(rawValue: try need("scope")) else {
                throw FollowupRulesError(file: file, line: c.line, reason: "rule \(c.name): scope is `case` or `message`")
            }
            guard let after = ISOTime.duration(try need("after")) else {
                throw FollowupRulesError(file: file, line: c.line, reason: "rule \(c.name): `after` is a duration like 1h or 7d")
            }
            let start = try matches(try need("start"), rule: c.name, line: c.lines["start"] ?? c.line, file: file)
            guard !start.isEmpty else {
                throw FollowupRulesError(file: file, line: c.line, reason: "rule \(c.name): `start` is empty")
            }
            rules.append(FollowupRule(name: c.name, scope: scope, start: start,
                                      stop: try matches(c.fields["stop"] ?? "", rule: c.name,
                                                        line: c.lines["stop"] ?? c.line, file: file),
                                      afterMillis: after, why: try need("why")))
            current = nil
        }
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else {
                    throw FollowupRulesError(file: file, line: n + 1, reason: "a section is written [rule NAME]")
                }
                try finish()
                let inner = line.dropFirst().dropLast().split(separator: " ", omittingEmptySubsequences: true)
                guard inner.count == 2, inner[0] == "rule" else {
                    throw FollowupRulesError(file: file, line: n + 1, reason: "a section is written [rule NAME]")
                }
                guard !rules.contains(where: { $0.name == inner[1] }) else {
                    throw FollowupRulesError(file: file, line: n + 1, reason: "rule \(inner[1]) is defined twice")
                }
                current = (String(inner[1]), n + 1, [:], [:])
                continue
            }
            guard current != nil else {
                throw FollowupRulesError(file: file, line: n + 1, reason: "settings must follow a [rule NAME] line")
            }
            guard let eq = line.firstIndex(of: "=") else {
                throw FollowupRulesError(file: file, line: n + 1, reason: "expected `key = value`")
            }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            guard ["scope", "start", "stop", "after", "why"].contains(key) else {
                throw FollowupRulesError(file: file, line: n + 1,
                                         reason: "unknown key `\(key)` (scope, start, stop, after, why)")
            }
            current!.fields[key] = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            current!.lines[key] = n + 1
        }
        try finish()
        return rules
    }

    private static func matches(_ text: String, rule: String, line: Int, file: String) throws(FollowupRulesError)
        -> [FollowupRule.Match] {
        var out: [FollowupRule.Match] = []
        for word in text.split(whereSeparator: { $0 == " " || $0 == "," }) {
            if word.hasPrefix("event:"), word.count > 6 {
                let name = word.dropFirst(6).lowercased()
                // The projection compares event names byte for byte with what the journal holds (the
                // canonical names), so a misspelt one would be a rule that silently never fires.
                guard let event = EventType.allCases.first(where: { $0.rawValue.lowercased() == name }) else {
                    throw FollowupRulesError(file: file, line: line, reason: "rule \(rule): `\(word)` is not an event type"
                                             + hint(name, EventType.allCases.map { "event:" + $0.rawValue },
                                                    swedish: EventType.allCases.map { ($0.swedishTerm, "event:" + $0.rawValue) })
                                             + "; event types: " + EventType.allCases.map(\.rawValue).joined(separator: ", "))
                }
                out.append(.event(event.rawValue))
            } else if word.hasPrefix("kind:") {
                // Checkpoints never reach the projection: a rule on them could not fire either.
                let usable = JournalKind.allCases.filter { $0 != .checkpoint }
                let name = word.dropFirst(5).lowercased()
                guard let k = usable.first(where: { $0.rawValue == name }) else {
                    throw FollowupRulesError(file: file, line: line, reason: "rule \(rule): `\(word)` is not a journal kind"
                                             + hint(name, usable.map { "kind:" + $0.rawValue }, swedish: [])
                                             + "; kinds: " + usable.map(\.rawValue).joined(separator: ", "))
                }
                out.append(.kind(k))
            } else {
                throw FollowupRulesError(file: file, line: line,
                                         reason: "rule \(rule): `\(word)` is not event:<EventType> or kind:<journal kind>")
            }
        }
        return out
    }

    /// " (did you mean X?)" for the candidate nearest to `word`, or "" when none is near. A Swedish
    /// term from the README glossary (`avviken`) points to its event, as rules name events in English.
    private static func hint(_ word: String, _ candidates: [String], swedish: [(term: String, name: String)]) -> String {
        let w = word.lowercased()
        if let s = swedish.first(where: { $0.term.lowercased().replacingOccurrences(of: " ", with: "") == w
                                          || $0.term.lowercased().replacingOccurrences(of: " ", with: "-") == w }) {
            return " (did you mean \(s.name)? `\(s.term)` is its Swedish name)"
        }
        let scored = candidates.map { c in (c, editDistance(w, String(c.drop(while: { $0 != ":" }).dropFirst()).lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, w.count / 3) else { return "" }
        return " (did you mean \(best.0)?)"
    }
}
