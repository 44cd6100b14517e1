import Foundation
import StafettJournal

/// Joins every identifier seen for a child (intake id, dossier number, case reference,
/// personnummer key) into one case, across messages from every organisation: a union-find over
/// identifiers, so a record that carries two identifiers joins their cases for good. Intake ids
/// are keyed by (issuer, id): two municipalities' `2015-17` are two children. Dossier numbers and
/// personnummer keys are national and join as they are.
struct CaseJoin {
    private(set) var parent: [Int32] = []
    /// This node's organisation number (0: unknown): the issuer of the intake ids on old intake
    /// records, which name no sender (see `ownIntake`).
    var ownOrganisation: UInt64 = 0
    private var intake = IdTable(seed: 1)
    private var dossier = IdTable(seed: 2)
    private var caseRef = IdTable(seed: 3)
    private var pin = IdTable(seed: 4)
    /// Identifier sets already joined, by a 128-bit hash of the whole set: most records of a
    /// child repeat a set seen before, and then one look-up replaces four.
    private var known = HashIndex(capacity: 1 << 16)   // key.a → (key.b to confirm, node)

    struct IdSetKey: Hashable {
        var a: UInt64
        var b: UInt64
    }

    /// Each identifier's hash in its `IdTable` (0 when absent): the set key is made of them, so
    /// a record whose set is new looks its identifiers up without hashing them again.
    struct IdHashes {
        var intake: UInt64 = 0, dossier: UInt64 = 0, caseRef: UInt64 = 0, pin: UInt64 = 0
    }

    static func setKey(_ r: LiteRecord) -> IdSetKey {
        var h = IdHashes()
        return setKey(r, hashes: &h)
    }

    /// The set key, and each identifier's table hash in `hashes` (the tags are the table seeds).
    static func setKey(_ r: LiteRecord, hashes: inout IdHashes) -> IdSetKey {
        var a: UInt64 = 0x9E37_79B9_7F4A_7C15, b: UInt64 = 0xC2B2_AE3D_27D4_EB4F
        @inline(__always) func mix(_ v: UnsafeRawBufferPointer?, _ tag: UInt64, _ qualifier: UInt64, _ out: inout UInt64) {
            guard let v else { return }
            let (ha0, hb0) = IdTable.hash(v, seeds: tag, tag &+ 0x5151)
            let ha = IdTable.qualified(ha0, qualifier), hb = IdTable.qualified(hb0, qualifier)
            out = ha
            a = (a ^ ha) &* 0xFF51_AFD7_ED55_8CCD
            a ^= a >> 31
            b = (b ^ hb) &* 0xC4CE_B9FE_1A85_EC53
            b ^= b >> 29
        }
        // The issuer is part of the key of the intake id and of the case reference (which is the
        // intake id, or a dossier number that the dossier table joins nationally anyway).
        let issuer = r.intakeId != nil || r.caseRef != nil ? r.intakeIdIssuer : 0
        mix(r.intakeId, 1, issuer, &hashes.intake)
        mix(r.dossierNumber, 2, 0, &hashes.dossier)
        mix(r.caseRef, 3, issuer, &hashes.caseRef)
        mix(r.personKey, 4, 0, &hashes.pin)
        return IdSetKey(a: a, b: b)
    }

    /// Gives an old intake record (`intake-accepted`/`intake-failed` written before records named
    /// the node as their sender) this node as its sender, so its intake ids are keyed by the node's
    /// own organisation, as the intake that wrote them meant. Call before the record's set key is made.
    @inline(__always)
    func ownIntake(_ r: inout LiteRecord) {
        if r.sender == 0, ownOrganisation != 0, r.kind == .intakeAccepted || r.kind == .intakeFailed {
            r.sender = ownOrganisation
        }
    }

    /// Whether a set of identifiers was joined before (then `caseOf` needs one look-up).
    func isKnown(_ key: IdSetKey) -> Bool { known.lookup(key.a)?.aux == key.b }

    /// Warms the identifier slots a record with a new set will look up (see `HashIndex.touch`).
    @inline(__always)
    func touchIds(_ r: LiteRecord, _ h: IdHashes) -> UInt64 {
        var sum: UInt64 = 0
        if r.intakeId != nil { sum &+= intake.touch(h.intake) }
        if r.dossierNumber != nil { sum &+= dossier.touch(h.dossier) }
        if r.caseRef != nil { sum &+= caseRef.touch(h.caseRef) }
        if r.personKey != nil { sum &+= pin.touch(h.pin) }
        return sum
    }

    /// The root of a node.
    mutating func find(_ x: Int32) -> Int32 {
        var r = x
        while parent[Int(r)] != r { r = parent[Int(r)] }
        var c = x
        while parent[Int(c)] != r { let n = parent[Int(c)]; parent[Int(c)] = r; c = n }
        return r
    }

    private mutating func unite(_ root: inout Int32, _ other: Int32?, _ merges: inout [(loser: Int32, winner: Int32)]) {
        guard let other else { return }
        let o = find(other)
        if root < 0 { root = o; return }
        if o != root {
            parent[Int(o)] = root
            merges.append((o, root))
        }
    }

    /// Two cases that became one: `loser`'s state moves into `winner`.
    struct Merge {
        var loser: Int32
        var winner: Int32
    }

    /// Joins a record's identifiers and writes the outcome into it (`caseNode`, `isNewCase`,
    /// `newIds`, `firstMerge`/`mergeCount`): a replay does this on its parsing thread, since it
    /// depends only on the records, so the applying thread finds the case without a look-up.
    /// Cases that became one (rare) are appended to `merges`.
    @inline(__always)
    mutating func resolve(_ r: inout LiteRecord, hashes: IdHashes? = nil, merges: inout [Merge]) {
        guard let (node, isNew, newIds, m) = caseOf(r, hashes: hashes) else { return }
        r.caseNode = node
        r.isNewCase = isNew
        r.newIds = newIds
        if !m.isEmpty {
            r.firstMerge = Int32(merges.count)
            r.mergeCount = Int32(m.count)
            for x in m { merges.append(Merge(loser: x.loser, winner: x.winner)) }
        }
    }

    /// The case of a record (joining its identifiers), or nil when it carries none.
    /// `merges` lists cases that became one (rare); `newIds` has a bit per identifier seen for the
    /// first time (1 intake, 2 dossier, 4 case, 8 pin). `hashes`: the identifiers' table hashes,
    /// when `setKey(_:hashes:)` made the record's set key.
    mutating func caseOf(_ r: LiteRecord, hashes: IdHashes? = nil)
        -> (node: Int32, isNew: Bool, newIds: UInt8, merges: [(loser: Int32, winner: Int32)])? {
        guard r.hasIdentifier else { return nil }
        // Without the hashes, the key is made again to get them (record-by-record replay only).
        var h = hashes ?? IdHashes()
        let key: IdSetKey
        if hashes != nil, let k = r.setKey { key = k } else { key = CaseJoin.setKey(r, hashes: &h) }
        let seen = known.lookup(key.a)
        if let e = seen, e.aux == key.b { return (find(e.value), false, 0, []) }
        let issuer = r.intakeId != nil || r.caseRef != nil ? r.intakeIdIssuer : 0
        let i = r.intakeId.map { intake.get($0, qualifier: issuer, hash: h.intake) }, d = r.dossierNumber.map { dossier.get($0, hash: h.dossier) }
        let c = r.caseRef.map { caseRef.get($0, qualifier: issuer, hash: h.caseRef) }, p = r.personKey.map { pin.get($0, hash: h.pin) }
        var root: Int32 = -1
        var merges: [(loser: Int32, winner: Int32)] = []
        unite(&root, i ?? nil, &merges)
        unite(&root, d ?? nil, &merges)
        unite(&root, c ?? nil, &merges)
        unite(&root, p ?? nil, &merges)
        var isNew = false
        if root < 0 {
            root = Int32(parent.count)
            parent.append(root)
            isNew = true
        }
        // Remember identifiers seen for the first time (an Optional(nil) look-up result).
        var newIds: UInt8 = 0
        if let v = r.intakeId, i! == nil { intake.set(v, root, qualifier: issuer, hash: h.intake); newIds |= 1 }
        if let v = r.dossierNumber, d! == nil { dossier.set(v, root, hash: h.dossier); newIds |= 2 }
        if let v = r.caseRef, c! == nil { caseRef.set(v, root, qualifier: issuer, hash: h.caseRef); newIds |= 4 }
        if let v = r.personKey, p! == nil { pin.set(v, root, hash: h.pin); newIds |= 8 }
        // Only `known` answers for `key.a` and nothing above changed it: no second look-up.
        if seen == nil { known.insert(key.a, aux: key.b, value: root) }
        return (root, isNew, newIds, merges)
    }

    /// The case a record belongs to, without adding anything; nil when it carries no known identifier.
    mutating func rootOf(_ r: LiteRecord) -> Int32? {
        if let v = r.intakeId, let n = intake.get(v, qualifier: r.intakeIdIssuer) { return find(n) }
        if let v = r.dossierNumber, let n = dossier.get(v) { return find(n) }
        if let v = r.caseRef, let n = caseRef.get(v, qualifier: r.intakeIdIssuer) { return find(n) }
        if let v = r.personKey, let n = pin.get(v) { return find(n) }
        return nil
    }

    /// Warms the cache line a record's identifier-set look-up will need (see `HashIndex.touch`).
    @inline(__always)
    func touch(_ r: LiteRecord) -> UInt64 {
        guard let k = r.setKey else { return 0 }
        return known.touch(k.a)
    }

    /// The case an operator's reference names: an intake id or case reference of `issuer`, a
    /// dossier number, or a personnummer key (hex). Intake ids and case references are found only
    /// with their issuer: `CaseHistory` finds the issuers first.
    mutating func lookup(_ ref: String, issuer: UInt64?, personKey: String?) -> Int32? {
        if let k = personKey { return pin.get(k).map { find($0) } }
        let stored = CaseJoin.stored(ref)
        if let n = stored.withUnsafeBytes({ b in
            issuer.flatMap { intake.get(b, qualifier: $0) } ?? dossier.get(b) ?? issuer.flatMap { caseRef.get(b, qualifier: $0) }
        }) {
            return find(n)
        }
        return nil
    }

    /// An operator's identifier as the journal's payloads hold it: the join keeps identifiers as
    /// the payload holds them, escapes and all.
    static func stored(_ ref: String) -> [UInt8] {
        var quoted: [UInt8] = []
        EntryCodec.appendString(ref, &quoted)
        return Array(quoted.dropFirst().dropLast())
    }
}
