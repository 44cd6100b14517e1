import Foundation

/// What happened to the child; the Swedish term is what case workers say.
public enum EventType: String, CaseIterable, Sendable, Codable, Hashable {
    case registered = "Registered"
    case asylumApplicationLodged = "AsylumApplicationLodged"
    case placed = "Placed"
    case assigned = "Assigned"
    case transferSent = "TransferSent"
    case transferReceived = "TransferReceived"
    case reportedMissing = "ReportedMissing"
    case found = "Found"
    case closed = "Closed"
    case update = "Update"

    /// The Swedish term, as in the README glossary.
    public var swedishTerm: String {
        switch self {
        case .registered: return "registrerad vid ankomst"
        case .asylumApplicationLodged: return "asylansökan inlämnad"
        case .placed: return "placerad"
        case .assigned: return "anvisad kommun"
        case .transferSent: return "överflyttad"
        case .transferReceived: return "mottagen"
        case .reportedMissing: return "avviken"
        case .found: return "återfunnen"
        case .closed: return "avslutad"
        case .update: return "uppdatering"
        }
    }
}

/// The child's sex as recorded at intake.
public enum Sex: String, CaseIterable, Sendable, Codable, Hashable {
    case female, male, other, unknown
}

/// Where a child was placed (placering).
public enum PlacementKind: String, CaseIterable, Sendable, Codable, Hashable {
    /// Hem för vård eller boende: a residential care home.
    case hvb
    /// Jourhem: an emergency foster home.
    case jourhem
    /// Familjehem: a foster family.
    case familjehem
    /// Anything else (stödboende, relatives, ...), named in `Placement.name`.
    case other
}

/// A placement: the kind of home and, when known, its name and its municipality.
public struct Placement: Sendable, Codable, Hashable {
    /// The kind of home.
    public var kind: PlacementKind
    /// The home's name, free text.
    public var name: String?
    /// The organisation responsible for the placement, when it is not the sender.
    public var municipality: OrganisationNumber?

    /// Creates a placement.
    public init(kind: PlacementKind, name: String? = nil, municipality: OrganisationNumber? = nil) {
        self.kind = kind
        self.name = name
        self.municipality = municipality
    }
}

/// Every identifier a child is known by; a case joins them all.
///
/// An intake id is unique only within the organisation that issued it (two municipalities may
/// both have `2015-17`), so it joins by (issuer, id): see `intakeIdIssuer(sender:)`. Dossier
/// numbers and personnummer are national and join as they are.
public struct ChildIdentifiers: Sendable, Codable, Hashable {
    /// A municipality's intake id, stored as it is.
    public var intakeId: String?
    /// The organisation that issued `intakeId`, when it is not the message's sender (another
    /// municipality's id for the same child). Nil means the sender; see `normalised(sender:)`.
    public var intakeIdIssuer: OrganisationNumber?
    /// Migrationsverket's dossiernummer.
    public var dossierNumber: String?
    /// Personnummer or samordningsnummer, when the child has one.
    public var personalIdentityNumber: PersonalIdentityNumber?

    /// Creates a set of identifiers.
    public init(intakeId: String? = nil, intakeIdIssuer: OrganisationNumber? = nil, dossierNumber: String? = nil,
                personalIdentityNumber: PersonalIdentityNumber? = nil) {
        self.intakeId = intakeId
        self.intakeIdIssuer = intakeIdIssuer
        self.dossierNumber = dossierNumber
        self.personalIdentityNumber = personalIdentityNumber
    }

    /// True when no identifier is known at all.
    public var isEmpty: Bool { intakeId == nil && dossierNumber == nil && personalIdentityNumber == nil }

    /// Who issued the intake id in a message from `sender`: the named issuer, else the sender.
    /// Nil when there is no intake id.
    public func intakeIdIssuer(sender: OrganisationNumber) -> OrganisationNumber? {
        intakeId == nil ? nil : intakeIdIssuer ?? sender
    }

    /// These identifiers as a message from `sender` carries them: an issuer equal to the sender,
    /// or without an intake id, is left out. Absent already means the sender, and one meaning
    /// written one way keeps equal messages equal (and their XML byte for byte the same).
    public func normalised(sender: OrganisationNumber) -> ChildIdentifiers {
        var ids = self
        if intakeId == nil || intakeIdIssuer == sender { ids.intakeIdIssuer = nil }
        return ids
    }
}

/// The child a case message is about.
public struct Child: Sendable, Codable, Hashable {
    /// Given names (förnamn).
    public var givenName: String
    /// Family name (efternamn).
    public var familyName: String
    /// Date of birth, as registered.
    public var dateOfBirth: CalendarDate?
    /// True when the date of birth is an estimate (common for children without papers).
    public var dateOfBirthEstimated: Bool
    /// Sex as recorded.
    public var sex: Sex?
    /// Citizenships as ISO 3166-1 alpha-2 codes (`XX` stateless/unknown is allowed).
    public var citizenship: [String]
    /// Languages as ISO 639-1 or ISO 639-3 codes.
    public var languages: [String]
    /// Identifiers the child is known by.
    public var identifiers: ChildIdentifiers

    /// Creates a child record.
    public init(givenName: String, familyName: String, dateOfBirth: CalendarDate? = nil,
                dateOfBirthEstimated: Bool = false, sex: Sex? = nil, citizenship: [String] = [],
                languages: [String] = [], identifiers: ChildIdentifiers = ChildIdentifiers()) {
        self.givenName = givenName
        self.familyName = familyName
        self.dateOfBirth = dateOfBirth
        self.dateOfBirthEstimated = dateOfBirthEstimated
        self.sex = sex
        self.citizenship = citizenship
        self.languages = languages
        self.identifiers = identifiers
    }
}

/// The event a message reports.
public struct CaseEvent: Sendable, Codable, Hashable {
    /// What happened.
    public var type: EventType
    /// When it happened.
    public var time: Date
    /// Where it happened, free text (a transit centre, an address, a town).
    public var place: String?
    /// The placement, for Placed, Assigned and transfers.
    public var placement: Placement?
    /// The organisation now responsible for the child (for Assigned: the anvisningskommun).
    public var responsibleOrganisation: OrganisationNumber?
    /// Free text for the receiving case worker. Never enters the journal.
    public var note: String?

    /// Creates an event.
    public init(type: EventType, time: Date, place: String? = nil, placement: Placement? = nil,
                responsibleOrganisation: OrganisationNumber? = nil, note: String? = nil) {
        self.type = type
        self.time = time
        self.place = place
        self.placement = placement
        self.responsibleOrganisation = responsibleOrganisation
        self.note = note
    }
}

/// The envelope of a case message.
public struct MessageHeader: Sendable, Codable, Hashable {
    /// One id for the life of a message, across every retry.
    public var messageId: MessageID
    /// When the sender created the message.
    public var createdAt: Date
    /// The sending organisation.
    public var sender: OrganisationNumber
    /// The receiving organisation.
    public var recipient: OrganisationNumber
    /// Ids of earlier messages this one follows up.
    public var references: [MessageID]

    /// Creates a header.
    public init(messageId: MessageID, createdAt: Date, sender: OrganisationNumber,
                recipient: OrganisationNumber, references: [MessageID] = []) {
        self.messageId = messageId
        self.createdAt = createdAt
        self.sender = sender
        self.recipient = recipient
        self.references = references
    }
}

/// One case message: a header, the child and the event. The unit Stafett signs, sends and journals.
public struct CaseMessage: Sendable, Codable, Hashable {
    /// Envelope: id, sender, recipient, time.
    public var header: MessageHeader
    /// The child.
    public var child: Child
    /// What happened.
    public var event: CaseEvent

    /// Creates a message.
    public init(header: MessageHeader, child: Child, event: CaseEvent) {
        self.header = header
        self.child = child
        self.event = event
    }

    /// The reference operators use for the case: the intake id, else the dossier number.
    /// Never a personnummer (those enter the journal only keyed).
    public var caseReference: String? {
        child.identifiers.intakeId ?? child.identifiers.dossierNumber
    }

    /// Who issued the child's intake id: the one the message names, else its sender. Nil when
    /// the message carries no intake id.
    public var intakeIdIssuer: OrganisationNumber? { child.identifiers.intakeIdIssuer(sender: header.sender) }
}
