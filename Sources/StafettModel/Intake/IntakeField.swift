import Foundation

/// The fields an intake record can carry. The JSON key is the English snake_case name (`jsonKey`);
/// CSV headers may use any of the Swedish or English names in `aliases`, in any case, with or
/// without å/ä/ö, and with spaces, hyphens or underscores as the author likes.
public enum IntakeField: Int, CaseIterable, Sendable, Hashable {
    case givenName, familyName, dateOfBirth, dateOfBirthEstimated, sex, citizenship, languages
    case intakeId, intakeIdIssuer, dossierNumber, personalIdentityNumber
    case event, eventTime, place, placement, placementName, responsibleOrganisation, recipient, references, note

    /// The key in JSON intake files, and the canonical English column name.
    public var jsonKey: String {
        switch self {
        case .givenName: return "given_name"
        case .familyName: return "family_name"
        case .dateOfBirth: return "date_of_birth"
        case .dateOfBirthEstimated: return "dob_estimated"
        case .sex: return "sex"
        case .citizenship: return "citizenship"
        case .languages: return "languages"
        case .intakeId: return "intake_id"
        case .intakeIdIssuer: return "intake_id_issuer"
        case .dossierNumber: return "dossier_number"
        case .personalIdentityNumber: return "personal_identity_number"
        case .event: return "event"
        case .eventTime: return "event_time"
        case .place: return "place"
        case .placement: return "placement"
        case .placementName: return "placement_name"
        case .responsibleOrganisation: return "responsible_organisation"
        case .recipient: return "recipient"
        case .references: return "references"
        case .note: return "note"
        }
    }

    /// The Swedish column name Excel templates use.
    public var swedishHeader: String {
        switch self {
        case .givenName: return "Förnamn"
        case .familyName: return "Efternamn"
        case .dateOfBirth: return "Födelsedatum"
        case .dateOfBirthEstimated: return "Uppskattat födelsedatum"
        case .sex: return "Kön"
        case .citizenship: return "Medborgarskap"
        case .languages: return "Språk"
        case .intakeId: return "Ärendenummer"
        case .intakeIdIssuer: return "Ärendenummer utfärdare"
        case .dossierNumber: return "Dossiernummer"
        case .personalIdentityNumber: return "Personnummer"
        case .event: return "Händelse"
        case .eventTime: return "Händelsetid"
        case .place: return "Plats"
        case .placement: return "Placering"
        case .placementName: return "Placeringens namn"
        case .responsibleOrganisation: return "Ansvarig organisation"
        case .recipient: return "Mottagare"
        case .references: return "Referens"
        case .note: return "Anteckning"
        }
    }

    /// Accepted names, already folded (see `fold`).
    var aliases: [String] {
        switch self {
        case .givenName: return ["fornamn", "firstname", "givenname", "givennames", "forename", "tilltalsnamn"]
        case .familyName: return ["efternamn", "lastname", "familyname", "surname"]
        case .dateOfBirth: return ["fodelsedatum", "dateofbirth", "dob", "birthdate", "fodd", "fodelsedag", "foddatum"]
        case .dateOfBirthEstimated:
            return ["uppskattatfodelsedatum", "fodelsedatumuppskattat", "dobestimated", "dateofbirthestimated",
                    "estimateddateofbirth", "birthdateestimated", "uppskattad"]
        case .sex: return ["kon", "sex", "gender"]
        case .citizenship: return ["medborgarskap", "citizenship", "citizenships", "nationality", "nationalitet"]
        case .languages: return ["sprak", "languages", "language", "modersmal", "tolksprak"]
        case .intakeId: return ["arendenummer", "arendenr", "arendeid", "intakeid", "intakenumber", "caseid"]
        // Another organisation's intake id names its issuer; without one the id is the sender's own.
        case .intakeIdIssuer:
            return ["arendenummerutfardare", "utfardareavarendenummer", "arendenrutfardare", "arendeidutfardare",
                    "kommunidutfardare", "utfardare", "intakeidissuer", "intakenumberissuer", "intakeissuer",
                    "caseidissuer", "issuer"]
        case .dossierNumber:
            return ["dossiernummer", "dossiernr", "dossiernumber", "dossier", "migrationsverketsdossiernummer"]
        case .personalIdentityNumber:
            return ["personnummer", "samordningsnummer", "personnummersamordningsnummer",
                    "personnummerellersamordningsnummer", "personalidentitynumber", "coordinationnumber", "pnr",
                    "personnr", "persnr", "samordningsnr"]
        case .event: return ["handelse", "event", "eventtype", "handelsetyp"]
        case .eventTime: return ["handelsetid", "eventtime", "tidpunkt", "handelsedatum"]
        case .place: return ["plats", "place", "ort"]
        case .placement: return ["placering", "placement", "placeringstyp", "placementkind", "placementtype"]
        case .placementName: return ["placeringensnamn", "placeringsnamn", "placementname"]
        case .responsibleOrganisation:
            return ["ansvarigorganisation", "responsibleorganisation", "responsibleorganization", "ansvarigkommun"]
        case .recipient: return ["mottagare", "recipient"]
        case .references: return ["referens", "referenser", "references", "reference"]
        case .note: return ["anteckning", "anteckningar", "note", "notes", "kommentar", "kommentarer", "comment", "ovrigt", "anmarkning"]
        }
    }

    private static let byAlias: [String: IntakeField] = {
        var map: [String: IntakeField] = [:]
        for f in IntakeField.allCases { for a in f.aliases { map[a] = f } }
        return map
    }()

    /// The field a column header or JSON key names, or nil for an unknown name.
    public static func named(_ header: String) -> IntakeField? { byAlias[fold(header)] }

    /// The field an unknown header most likely meant (`Personummer` → personnummer), or nil when
    /// none is close: at most two edits from one of its names, or a third of the name's length for
    /// long names, a swap of neighbours counting as one.
    public static func nearest(to header: String) -> IntakeField? {
        let folded = fold(header)
        guard folded.count >= 3 else { return nil }
        var best: (field: IntakeField, distance: Int)?
        for f in allCases {
            for alias in f.aliases {
                let d = editDistance(folded, alias, countingTranspositions: true)
                if d <= max(2, folded.count / 3), best == nil || d < best!.distance { best = (f, d) }
            }
        }
        return best?.field
    }

    /// Case-folds, drops å/ä/ö/é/ü to their base letters and removes everything but letters and
    /// digits, so `Födelse-datum `, `fodelsedatum` and `FÖDELSEDATUM` are the same name.
    public static func fold(_ text: String) -> String {
        let n = text.utf8.count
        guard n > 0 else { return "" }
        // Folding never lengthens, so the input's length is room enough.
        return String(unsafeUninitializedCapacity: n) { out in
            var s = text
            return s.withUTF8 { fold($0, into: out.baseAddress!) }
        }
    }

    /// `fold` over bytes into `out`, which has room for `text.count` bytes; returns the count written.
    static func fold(_ text: UTF8Bytes, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var k = 0
        var pendingC3 = false
        for b in text {
            if pendingC3 {
                pendingC3 = false
                // U+00C0–U+00FF: upper and lower case Latin-1 letters share the low five bits.
                switch 0xC0 + Int(b & 0x3F) | 0x20 {
                case 0xE0...0xE5: out[k] = 0x61; k += 1  // à á â ã ä å
                case 0xE8...0xEB: out[k] = 0x65; k += 1  // è é ê ë
                case 0xEC...0xEF: out[k] = 0x69; k += 1  // ì í î ï
                case 0xF2...0xF6, 0xF8: out[k] = 0x6F; k += 1  // ò ó ô õ ö ø
                case 0xF9...0xFC: out[k] = 0x75; k += 1  // ù ú û ü
                default: break
                }
                continue
            }
            switch b {
            case 0x61...0x7A, 0x30...0x39: out[k] = b; k += 1
            case 0x41...0x5A: out[k] = b + 0x20; k += 1
            case 0xC3: pendingC3 = true
            default: break  // punctuation, spaces, other letters, combining accents (decomposed å from macOS)
            }
        }
        return k
    }

    /// Looks `text` up in `words` after folding it, without building a String.
    static func lookUp<Value>(_ text: UTF8Bytes, in words: FoldedWords<Value>) -> Value? {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Swift.max(1, text.count)) { buffer in
            let n = fold(text, into: buffer.baseAddress!)
            return words[UnsafeBufferPointer(rebasing: buffer[..<n])]
        }
    }
}

/// Folded words (see `IntakeField.fold`) and what they mean, for the few dozen words of a field's
/// vocabulary: comparing the first eight bytes of the words of the same length as one number
/// beats hashing a new String.
struct FoldedWords<Value: Sendable>: Sendable {
    private var text: [UInt8] = []
    /// Where each word lies in `text` and its first eight bytes, shortest first.
    private var entries: [(start: Int, head: UInt64, value: Value)] = []
    /// For each length, the entries of that length.
    private var byLength: [Range<Int>] = []

    /// The words, folded here; the first of two equal words wins, as in a `switch`.
    init(_ pairs: [(String, Value)]) {
        var words: [(folded: [UInt8], value: Value)] = []
        for (word, value) in pairs {
            let folded = Array(IntakeField.fold(word).utf8)
            if !words.contains(where: { $0.folded == folded }) { words.append((folded, value)) }
        }
        let longest = words.map(\.folded.count).max() ?? 0
        for length in 0...longest {
            let first = entries.count
            for (folded, value) in words where folded.count == length {
                let head = folded.withUnsafeBufferPointer(Self.head)
                entries.append((text.count, head, value))
                text += folded
            }
            byLength.append(first..<entries.count)
        }
    }

    /// The first eight bytes, little-endian, zero-padded.
    private static func head(_ u: UTF8Bytes) -> UInt64 {
        var h: UInt64 = 0
        for i in 0..<min(8, u.count) { h |= UInt64(u[i]) << UInt64(8 * i) }
        return h
    }

    /// The meaning of an already folded word.
    subscript(folded: UTF8Bytes) -> Value? {
        let n = folded.count
        guard n < byLength.count else { return nil }
        let head = Self.head(folded)
        return text.withUnsafeBufferPointer { t in
            for e in entries[byLength[n]] where e.head == head {
                if n <= 8 || t[bytes: e.start + 8..<e.start + n].elementsEqual(folded[bytes: 8..<n]) { return e.value }
            }
            return nil
        }
    }
}
