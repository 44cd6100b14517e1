import Foundation

/// The fields an intake record can carry. The JSON key is the English snake_case name (`jsonKey`);
/// CSV headers may use any of the Swedish or English names in `aliases`, in any case, with or
/// without å/ä/ö, and with spaces, hyphens or underscores as the author likes.
public enum IntakeField: Int, CaseIterable, Sendable, Hashable {
    case givenName, familyName, dateOfBirth, dateOfBirthEstimated, sex, citizenship, languages
    case intakeId, dossierNumber, personalIdentityNumber
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
        case .dateOfBirth: return ["fodelsedatum", "dateofbirth", "dob", "birthdate", "fodd"]
        case .dateOfBirthEstimated:
            return ["uppskattatfodelsedatum", "fodelsedatumuppskattat", "dobestimated", "dateofbirthestimated",
                    "estimateddateofbirth", "birthdateestimated", "uppskattad"]
        case .sex: return ["kon", "sex", "gender"]
        case .citizenship: return ["medborgarskap", "citizenship", "citizenships", "nationality", "nationalitet"]
        case .languages: return ["sprak", "languages", "language"]
        case .intakeId: return ["arendenummer", "arendenr", "intakeid", "intakenumber", "caseid"]
        case .dossierNumber: return ["dossiernummer", "dossiernr", "dossiernumber", "dossier"]
        case .personalIdentityNumber:
            return ["personnummer", "samordningsnummer", "personnummersamordningsnummer",
                    "personnummerellersamordningsnummer", "personalidentitynumber", "coordinationnumber", "pnr"]
        case .event: return ["handelse", "event", "eventtype", "handelsetyp"]
        case .eventTime: return ["handelsetid", "eventtime", "tidpunkt"]
        case .place: return ["plats", "place"]
        case .placement: return ["placering", "placement", "placeringstyp", "placementkind", "placementtype"]
        case .placementName: return ["placeringensnamn", "placeringsnamn", "placementname"]
        case .responsibleOrganisation:
            return ["ansvarigorganisation", "responsibleorganisation", "responsibleorganization", "ansvarigkommun"]
        case .recipient: return ["mottagare", "recipient"]
        case .references: return ["referens", "referenser", "references", "reference"]
        case .note: return ["anteckning", "anteckningar", "note", "notes", "kommentar", "comment"]
        }
    }

    private static let byAlias: [String: IntakeField] = {
        var map: [String: IntakeField] = [:]
        for f in IntakeField.allCases { for a in f.aliases { map[a] = f } }
        return map
    }()

    /// The field a column header or JSON key names, or nil for an unknown name.
    public static func named(_ header: String) -> IntakeField? { byAlias[fold(header)] }

    /// Case-folds, drops å/ä/ö/é/ü to their base letters and removes everything but letters and
    /// digits, so `Födelse-datum `, `fodelsedatum` and `FÖDELSEDATUM` are the same name.
    public static func fold(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for s in text.lowercased().unicodeScalars {
            switch s.value {
            case 0x61...0x7A, 0x30...0x39: out.append(s)
            case 0xE5, 0xE4, 0xE0, 0xE1, 0xE2: out.append("a")
            case 0xF6, 0xF8, 0xF3, 0xF4: out.append("o")
            case 0xE9, 0xE8, 0xEA, 0xEB: out.append("e")
            case 0xFC, 0xFA: out.append("u")
            case 0xED, 0xEF: out.append("i")
            case 0x300...0x36F: break  // combining accents (decomposed å from macOS)
            default: break
            }
        }
        return String(out)
    }
}
