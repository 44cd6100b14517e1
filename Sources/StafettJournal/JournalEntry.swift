import Foundation
import StafettCrypto
import StafettModel

/// What a journal record reports. The raw values are what the journal stores and what
/// `stafett journal tail --kind` takes.
public enum JournalKind: String, Sendable, Codable, Hashable, CaseIterable {
    /// A message accepted from the outbox into the delivery queue (sender side).
    case queued
    /// A message handed to the peer; its receipt is still outstanding (sender side).
    case sent
    /// A positive receipt accepted at the sender: the peer holds the message durably.
    case delivered
    /// A negative receipt accepted at the sender: the peer refused the message (permanent).
    case rejected
    /// A message that outlived its maximum lifetime without a receipt (sender side).
    case expired
    /// A message accepted and stored in the inbox (receiver side).
    case received
    /// A message refused by this node with a rejected receipt (receiver side).
    case refused
    /// An intake file moved to `failed/`.
    case intakeFailed = "intake-failed"
    /// An intake file moved to `accepted/`.
    case intakeAccepted = "intake-accepted"
    /// A file the daemon removed from `accepted/`, `failed/` or `archive/` at the end of its
    /// retention period: `file` is its path below the spool, `digest` its SHA-256.
    case removed
    /// A signed checkpoint sealing the chain so far; written by the journal itself.
    case checkpoint
    /// A queued message an operator took out of the queue before delivery (`stafett queue
    /// delete`); `reason` holds the operator's reason code, never their free text.
    case withdrawn
}

/// The signed seal a checkpoint record carries: the node key's signature over the sequence
/// number and chain hash of the record before it (see `CheckpointSeal.signedBytes`).
public struct CheckpointSeal: Sendable, Codable, Hashable {
    /// The last record the seal covers (the checkpoint's own sequence number minus one).
    public var upTo: UInt64
    /// The chain hash of record `upTo`, lowercase hex (64 characters).
    public var chainHash: String
    /// The signature algorithm (`SignatureAlgorithm.rawValue`).
    public var algorithm: String
    /// The signature, base64.
    public var signature: String

    /// Creates a seal.
    public init(upTo: UInt64, chainHash: String, algorithm: String, signature: String) {
        self.upTo = upTo
        self.chainHash = chainHash
        self.algorithm = algorithm
        self.signature = signature
    }

    /// The exact bytes that are signed: `stafett-journal-checkpoint/1 <upTo> <chainHash>`.
    public static func signedBytes(upTo: UInt64, chainHash: String) -> Data {
        Data("stafett-journal-checkpoint/1 \(upTo) \(chainHash)".utf8)
    }
}

/// One journal record's content. Metadata and digests only: names, health details and free
/// text never enter the journal, and a personnummer/samordningsnummer only as `personKey`
/// (HMAC-SHA-256 with the node secret, see `PersonKeyer`).
public struct JournalEntry: Sendable, Codable, Hashable {
    /// Monotonic sequence number, assigned by `Journal` on append (any value given is replaced).
    public var sequence: UInt64
    /// When the record was written, milliseconds since 1970 UTC (stored as ISO 8601 with ms).
    public var timeMillis: Int64
    /// What happened.
    public var kind: JournalKind
    /// The message id, for everything about one message.
    public var messageId: String?
    /// The sender's case reference, when the message carries one.
    public var caseRef: String?
    /// A municipality's intake id, stored as it is. It is unique only within its issuer: join it
    /// by (`intakeIdIssuerOrSender`, `intakeId`).
    public var intakeId: String?
    /// The organisation number (10 digits) of the organisation that issued `intakeId`, when that
    /// is not `sender` (the record then says so); nil means the sender issued it. Records written
    /// before this field existed never have it, and their ids are their sender's.
    public var intakeIdIssuer: String?
    /// Migrationsverket's dossier number, stored as it is.
    public var dossierNumber: String?
    /// HMAC-SHA-256 (hex) of the child's personnummer/samordningsnummer; never the number itself.
    public var personKey: String?
    /// The case event type (`EventType.rawValue`), e.g. `Registered`.
    public var eventType: String?
    /// When the event happened (the case message's `Event/Time`: when the child was registered,
    /// went missing, was found), milliseconds since 1970 UTC; follow-up deadlines count from it.
    /// Nil on records about no case event, and on records written before this field existed.
    public var eventTimeMillis: Int64?
    /// Sending organisation number (10 digits).
    public var sender: String?
    /// Receiving organisation number (10 digits).
    public var recipient: String?
    /// SHA-256 hex of the signed message (or of the intake file).
    public var digest: String?
    /// A short machine status (e.g. an HTTP status or receipt status).
    public var status: String?
    /// Why, for rejections, refusals, failures and expiry: a fixed reason code or daemon text,
    /// never free text copied from a message or a receipt (a peer's rejection gives its reason
    /// code here; its free-text detail stays in the archived receipt).
    public var reason: String?
    /// For intake records: the file's name under `accepted/` or `failed/`.
    public var file: String?
    /// SHA-256 (lowercase hex) of the peer's signed receipt as received, on `delivered` and
    /// `rejected` records at the sender: binds the receipt kept in `archive/` beside the signed
    /// message (a peer's receipt may carry free text, which never enters the journal). For a
    /// message sent or received in a batch, the one signed batch receipt that covers the whole
    /// batch, archived once as `archive/receipts/<digest>.xml` (`BatchReceiptArchive`).
    public var receiptDigest: String?
    /// A signed receipt (XML) held whole: on `received` records, the one this node issued (sent
    /// again for a duplicate); on `delivered` and `rejected` records written before receipts went
    /// to the archive, the peer's. New sender-side records bind the peer's by `receiptDigest` instead.
    public var receipt: String?
    /// Present only on `checkpoint` records.
    public var checkpoint: CheckpointSeal?

    /// Creates an entry; `sequence` is assigned when it is appended.
    /// An `intakeIdIssuer` equal to `sender` is left out: absent already means the sender.
    public init(kind: JournalKind, time: Date = Date(), messageId: String? = nil, caseRef: String? = nil,
                intakeId: String? = nil, intakeIdIssuer: String? = nil, dossierNumber: String? = nil, personKey: String? = nil,
                eventType: String? = nil, eventTime: Date? = nil, sender: String? = nil, recipient: String? = nil,
                digest: String? = nil, status: String? = nil, reason: String? = nil, file: String? = nil,
                checkpoint: CheckpointSeal? = nil, sequence: UInt64 = 0) {
        self.sequence = sequence
        self.timeMillis = JournalEntry.millis(time)
        self.kind = kind
        self.messageId = messageId
        self.caseRef = caseRef
        self.intakeId = intakeId
        self.intakeIdIssuer = intakeIdIssuer == sender ? nil : intakeIdIssuer
        self.dossierNumber = dossierNumber
        self.personKey = personKey
        self.eventType = eventType
        self.eventTimeMillis = eventTime.map(JournalEntry.millis)
        self.sender = sender
        self.recipient = recipient
        self.digest = digest
        self.status = status
        self.reason = reason
        self.file = file
        self.checkpoint = checkpoint
    }

    /// When the record was written.
    public var time: Date { Date(timeIntervalSince1970: Double(timeMillis) / 1000) }

    /// When the event happened, when the record says.
    public var eventTime: Date? { eventTimeMillis.map { Date(timeIntervalSince1970: Double($0) / 1000) } }

    /// Who issued `intakeId`: the named issuer, else the sender (also for records written before
    /// issuers were journaled). Nil without an intake id, or when neither is known.
    public var intakeIdIssuerOrSender: String? { intakeId == nil ? nil : intakeIdIssuer ?? sender }

    /// A time as the journal stores it: milliseconds since 1970, rounded.
    static func millis(_ time: Date) -> Int64 { Int64((time.timeIntervalSince1970 * 1000).rounded()) }

    /// Sets the identifier fields from a child's identifiers, keying the personnummer. Set
    /// `sender` first: an intake id issuer equal to it is left out.
    public mutating func setIdentifiers(_ ids: ChildIdentifiers, keyer: PersonKeyer?) {
        intakeId = ids.intakeId
        intakeIdIssuer = ids.intakeId == nil ? nil : ids.intakeIdIssuer.map(\.digits).flatMap { $0 == sender ? nil : $0 }
        dossierNumber = ids.dossierNumber
        if let pin = ids.personalIdentityNumber, let keyer { personKey = keyer.key(pin) }
    }

    /// A record describing a case message (for `queued`, `sent`, `delivered`, `received`, ...),
    /// carrying only what the journal may hold, with the event's time and the intake id's issuer.
    public static func about(_ message: CaseMessage, kind: JournalKind, digest: String?, keyer: PersonKeyer?,
                             caseRef: String? = nil, status: String? = nil, reason: String? = nil,
                             time: Date = Date()) -> JournalEntry {
        var e = JournalEntry(kind: kind, time: time, messageId: message.header.messageId.rawValue, caseRef: caseRef,
                             eventType: message.event.type.rawValue, eventTime: message.event.time,
                             sender: message.header.sender.digits,
                             recipient: message.header.recipient.digits, digest: digest,
                             status: status, reason: reason)
        e.setIdentifiers(message.child.identifiers, keyer: keyer)
        return e
    }
}

extension JournalEntry {
    /// A record of an intake file's final move: `intake-accepted` (to `accepted/`) or
    /// `intake-failed` (to `failed/`, with `reason` naming why, in the daemon's own words).
    /// `file` is the name under `accepted/` or `failed/`; `digest` the SHA-256 hex of its bytes.
    /// `sender` is the node whose outbox held the file: the issuer of its intake ids unless they name another.
    public static func intake(accepted: Bool, file: String, digest: String, identifiers: ChildIdentifiers? = nil,
                              keyer: PersonKeyer?, eventType: EventType? = nil, reason: String? = nil,
                              sender: OrganisationNumber? = nil, time: Date = Date()) -> JournalEntry {
        var e = JournalEntry(kind: accepted ? .intakeAccepted : .intakeFailed, time: time,
                             eventType: eventType?.rawValue, sender: sender?.digits, digest: digest, reason: reason, file: file)
        if let identifiers { e.setIdentifiers(identifiers, keyer: keyer) }
        return e
    }

    /// A receipt outcome at the sender (`delivered`, `rejected`, or `expired`) for a message
    /// journaled before, carrying its identifiers so follow-up and `case` join it to the child.
    public static func outcome(_ kind: JournalKind, of message: CaseMessage, keyer: PersonKeyer?,
                               status: String? = nil, reason: String? = nil, time: Date = Date()) -> JournalEntry {
        about(message, kind: kind, digest: nil, keyer: keyer, status: status, reason: reason, time: time)
    }
}

/// Keys personnummer and samordningsnummer with the node secret (HMAC-SHA-256, hex), so joins
/// and look-ups by personnummer work while the journal never holds the number itself.
public struct PersonKeyer: Sendable {
    private let hmac: HMACSHA256

    /// Creates a keyer from the node secret (at least 16 bytes; 32 random bytes recommended).
    public init(secret: Data) throws(JournalError) {
        guard secret.count >= 16 else { throw .badSecret(path: "<memory>", reason: "the secret must be at least 16 bytes") }
        hmac = HMACSHA256(secret: secret)
    }

    /// Reads the node secret from a file (raw bytes; surrounding whitespace of a text secret is kept).
    public init(secretFile path: String) throws(JournalError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .badSecret(path: path, reason: "cannot read the secret file")
        }
        guard data.count >= 16 else { throw .badSecret(path: path, reason: "the secret must be at least 16 bytes") }
        hmac = HMACSHA256(secret: data)
    }

    /// The key (64 hex characters) of a personnummer or samordningsnummer, over its 12 digits.
    public func key(_ pin: PersonalIdentityNumber) -> String {
        hmac.authenticate(Data(pin.digits.utf8)).hexString
    }
}
