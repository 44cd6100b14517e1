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
    /// Identifier sets joined lately, by a 128-bit hash of the whole set: most records of a child
    /// repeat a set seen before, and then one look-up replaces four. A cache of fixed size, not a
    /// table of every set: a set it has forgotten is joined through its identifiers, to the same
    /// case (they were all stored when the set was first seen, and joins are never undone).
    private var known = SetCache()
    /// Whether to keep each case's identifiers for reports (`identifiers(of:)`): the follow-up
    /// report shows them; a case history reads them from the records instead.
    var keepsIdentifiers = false
    /// Per case node, its first shown identifier (-1: none); the rest follow through `Shown.next`.
    private var shownHead: [Int32] = []
    private var shown: [Shown] = []
    /// The bytes of shown identifiers that their table keeps in its overflow (astronomically rare).
    private var shownSpilled: [Int32: [UInt8]] = [:]

    /// An identifier a report shows for its case: where its table keeps its bytes, and the next one
    /// of the case. 12 bytes, not a `String` per identifier in an array per case (those were a
    /// tenth of a 10 M-record replay's memory); the text is made for the report only.
    private struct Shown {
        var offset: UInt32
        /// 0 intake, 1 dossier, 2 case reference, 3 personnummer key; `spilled`: the bytes are in
        /// `shownSpilled`; `plain`: the text is printable ASCII without escapes (see `sameText`).
        var table: UInt8
        /// For a plain text, a hash of it: most texts differ in it, and compare without their bytes.
        var fingerprint: UInt16 = 0
        var next: Int32 = -1
        static let spilled: UInt8 = 0x80
        static let plain: UInt8 = 0x40
        static let tableBits: UInt8 = 0x03
    }

    /// At most this many identifiers are shown per case.
    static let shownLimit = 8

    /// Identifiers kept for showing (what a replay holds per identifier, for tests).
    var shownCount: Int { shown.count }

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
    func ownIntake(_ r: inout LiteRecord) { CaseJoin.ownIntake(&r, organisation: ownOrganisation) }

    /// The same, with this node's organisation number given (0: unknown).
    @inline(__always)
    static func ownIntake(_ r: inout LiteRecord, organisation: UInt64) {
        if r.sender == 0, organisation != 0, r.kind == .intakeAccepted || r.kind == .intakeFailed {
            r.sender = organisation
        }
    }

    /// Whether a set of identifiers was joined before (then `caseOf` needs one look-up).
    func isKnown(_ key: IdSetKey) -> Bool { known.node(key) != nil }

    /// Warms the identifier slots a record with a new set will look up (see `HashIndex.homeValue`).
    @inline(__always)
    func touchIds(_ r: LiteRecord, _ h: IdHashes) -> UInt64 {
        var sum: UInt64 = 0
        if let v = r.intakeId { sum &+= intake.touch(h.intake) &+ CaseJoin.touch(v) }
        if let v = r.dossierNumber { sum &+= dossier.touch(h.dossier) &+ CaseJoin.touch(v) }
        if let v = r.caseRef { sum &+= caseRef.touch(h.caseRef) &+ CaseJoin.touch(v) }
        if let v = r.personKey { sum &+= pin.touch(h.pin) &+ CaseJoin.touch(v) }
        return sum
    }

    /// Reads the first and last byte of an identifier in its payload: the look-up compares those
    /// bytes and a new identifier copies them, a chunk after the parsing thread read them (perf:
    /// those misses were a third of the joining thread's `memcmp` and `memmove`).
    @inline(__always)
    static func touch(_ v: UnsafeRawBufferPointer) -> UInt64 {
        guard let b = v.baseAddress, v.count > 0 else { return 0 }
        return UInt64(b.load(as: UInt8.self)) &+ UInt64(b.load(fromByteOffset: v.count - 1, as: UInt8.self))
    }

    /// The root of a node.
    mutating func find(_ x: Int32) -> Int32 {
        let r = root(of: x)
        var c = x
        while parent[Int(c)] != r { let n = parent[Int(c)]; parent[Int(c)] = r; c = n }
        return r
    }

    /// The root of a node, without shortening the path there (so readers on several threads may
    /// share the join).
    func root(of x: Int32) -> Int32 {
        var r = x
        while parent[Int(r)] != r { r = parent[Int(r)] }
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

    /// A direct-mapped cache of identifier sets: the slot is fixed by the key, and a new set takes
    /// the slot of whatever was there. 2^17 slots of 24 bytes (3 MiB) hold the sets of the children
    /// in progress many times over; the table of every set it replaces was a fifth of a 10 M-record
    /// replay's memory, growing with every child ever seen.
    struct SetCache {
        private struct Slot {
            var a: UInt64 = 0, b: UInt64 = 0
            var node: Int32 = -1
        }

        private static let slots = 1 << 17
        private var table = [Slot](repeating: Slot(), count: SetCache.slots)

        /// The node stored with this set, if it is still here.
        @inline(__always)
        func node(_ key: IdSetKey) -> Int32? {
            table.withUnsafeBufferPointer { t in
                let s = t[Int(truncatingIfNeeded: key.a) & (SetCache.slots - 1)]
                return s.node >= 0 && s.a == key.a && s.b == key.b ? s.node : nil
            }
        }

        @inline(__always)
        mutating func remember(_ key: IdSetKey, _ node: Int32) {
            table[Int(truncatingIfNeeded: key.a) & (SetCache.slots - 1)] = Slot(a: key.a, b: key.b, node: node)
        }

        /// Reads the slot of a key (see `HashIndex.homeValue`).
        @inline(__always)
        func touch(_ key: IdSetKey) -> UInt64 {
            table.withUnsafeBufferPointer { $0[Int(truncatingIfNeeded: key.a) & (SetCache.slots - 1)].a }
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
        if let n = known.node(key) { return (find(n), false, 0, []) }
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
            if keepsIdentifiers { shownHead.append(-1) }
            isNew = true
        }
        if keepsIdentifiers { for m in merges { moveShown(from: m.loser, to: m.winner) } }
        // Remember identifiers seen for the first time (an Optional(nil) look-up result).
        var newIds: UInt8 = 0
        if let v = r.intakeId, i! == nil { show(v, table: 0, at: intake.set(v, root, qualifier: issuer, hash: h.intake), in: root); newIds |= 1 }
        if let v = r.dossierNumber, d! == nil { show(v, table: 1, at: dossier.set(v, root, hash: h.dossier), in: root); newIds |= 2 }
        if let v = r.caseRef, c! == nil { show(v, table: 2, at: caseRef.set(v, root, qualifier: issuer, hash: h.caseRef), in: root); newIds |= 4 }
        if let v = r.personKey, p! == nil { show(v, table: 3, at: pin.set(v, root, hash: h.pin), in: root); newIds |= 8 }
        known.remember(key, root)
        return (root, isNew, newIds, merges)
    }

    /// The identifiers shown for a case: in the order first seen, those of a case joined into it
    /// after its own, no text twice, at most `shownLimit`; a personnummer key as `pin:` and its
    /// first 8 characters (never the number).
    func identifiers(of node: Int32) -> [String] {
        var out: [String] = []
        var k = Int(node) < shownHead.count ? shownHead[Int(node)] : -1
        while k >= 0 { out.append(shownText(k)); k = shown[Int(k)].next }
        return out
    }

    /// Adds an identifier seen for the first time (its bytes `v`, kept by its table at `at`) to
    /// the identifiers shown for case `c`, when they are kept.
    private mutating func show(_ v: UnsafeRawBufferPointer, table: UInt8, at: Int?, in c: Int32) {
        guard keepsIdentifiers else { return }
        let n = Int32(shown.count)
        var s = Shown(offset: UInt32(at ?? 0), table: table)
        if at == nil {
            s.table |= Shown.spilled
            shownSpilled[n] = Array(v)
        }
        if CaseJoin.plain(v) {
            s.table |= Shown.plain
            var h = table == 3 ? IdTable.hash(UnsafeRawBufferPointer(rebasing: v.prefix(8)), seed: 9) : IdTable.hash(v, seed: 9)
            // A personnummer key shows as `pin:` and its first 8 characters, so it is hashed by those,
            // and another identifier that reads `pin:` and up to 8 more by what follows `pin:`: equal
            // texts always have equal hashes.
            if table != 3, v.count <= 12, v.starts(with: "pin:".utf8) {
                h = IdTable.hash(UnsafeRawBufferPointer(rebasing: v[4...]), seed: 9)
            }
            s.fingerprint = UInt16(truncatingIfNeeded: h)
        }
        shown.append(s)
        if !link(n, to: c) {
            shown.removeLast()
            shownSpilled[n] = nil
        }
    }

    /// Two cases became one: the loser's shown identifiers follow the winner's, as far as there is room.
    private mutating func moveShown(from loser: Int32, to winner: Int32) {
        var k = shownHead[Int(loser)]
        shownHead[Int(loser)] = -1
        while k >= 0 {
            let next = shown[Int(k)].next
            _ = link(k, to: winner)
            k = next
        }
    }

    /// Appends shown identifier `n` to case `c`'s, unless the case shows `shownLimit` already or one
    /// with the same text; false when it does not.
    private mutating func link(_ n: Int32, to c: Int32) -> Bool {
        var count = 0, last: Int32 = -1, k = shownHead[Int(c)]
        while k >= 0 {
            if sameText(k, n) { return false }
            count += 1
            last = k
            k = shown[Int(k)].next
        }
        guard count < CaseJoin.shownLimit else { return false }
        shown[Int(n)].next = -1
        if last < 0 { shownHead[Int(c)] = n } else { shown[Int(last)].next = n }
        return true
    }

    // Inlined into `link`, which mutates: called from there, these copied the whole join first
    // (perf: a retain and a release of each of its tables per identifier compared, a tenth of the
    // joining thread's time).
    @inline(__always)
    private func withShownBytes<R>(_ k: Int32, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let s = shown[Int(k)]
        if s.table & Shown.spilled != 0 { return (shownSpilled[k] ?? []).withUnsafeBytes(body) }
        switch s.table & Shown.tableBits {
        case 0: return intake.withBytes(at: Int(s.offset), body)
        case 1: return dossier.withBytes(at: Int(s.offset), body)
        case 2: return caseRef.withBytes(at: Int(s.offset), body)
        default: return pin.withBytes(at: Int(s.offset), body)
        }
    }

    private func isPin(_ k: Int32) -> Bool { shown[Int(k)].table & Shown.tableBits == 3 }

    /// Printable ASCII without escapes: the text is the bytes, one character each.
    private static func plain(_ b: UnsafeRawBufferPointer) -> Bool { b.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != 0x5C } }

    /// A shown identifier's text, as the report prints it.
    private func shownText(_ k: Int32) -> String {
        // Of a plain key (every key Stafett writes) the first 8 characters are its first 8 bytes:
        // the whole key made into text first was a String allocated and freed per item.
        if isPin(k), shown[Int(k)].table & Shown.plain != 0 {
            return withShownBytes(k) { "pin:" + String(decoding: UnsafeRawBufferPointer(rebasing: $0.prefix(8)), as: UTF8.self) }
        }
        let t = withShownBytes(k) { LiteRecord.text($0) }
        return isPin(k) ? "pin:" + t.prefix(8) : t
    }

    /// Whether two shown identifiers have the same text. Printable ASCII without escapes (every
    /// identifier Stafett writes) is its own text, one byte a character, and compares byte for
    /// byte; anything else compares as the `String`s the report shows.
    @inline(__always)
    private func sameText(_ x: Int32, _ y: Int32) -> Bool {
        let sx = shown[Int(x)], sy = shown[Int(y)]
        guard sx.table & sy.table & Shown.plain != 0 else { return shownText(x) == shownText(y) }
        if sx.fingerprint != sy.fingerprint { return false }
        let px = isPin(x), py = isPin(y)
        return withShownBytes(x) { bx in
            withShownBytes(y) { by in
                /// Whether `t` reads `pin:` and the first 8 bytes of `key`.
                func isPinText(_ t: UnsafeRawBufferPointer, _ key: UnsafeRawBufferPointer) -> Bool {
                    t.count == 4 + min(8, key.count) && t.prefix(4).elementsEqual("pin:".utf8) && t.dropFirst(4).elementsEqual(key.prefix(8))
                }
                switch (px, py) {
                case (false, false): return bx.elementsEqual(by)
                case (true, true): return bx.prefix(8).elementsEqual(by.prefix(8))
                case (true, false): return isPinText(by, bx)
                case (false, true): return isPinText(bx, by)
                }
            }
        }
    }

    /// The case a record belongs to, without adding anything; nil when it carries no known identifier.
    mutating func rootOf(_ r: LiteRecord) -> Int32? {
        if let v = r.intakeId, let n = intake.get(v, qualifier: r.intakeIdIssuer) { return find(n) }
        if let v = r.dossierNumber, let n = dossier.get(v) { return find(n) }
        if let v = r.caseRef, let n = caseRef.get(v, qualifier: r.intakeIdIssuer) { return find(n) }
        if let v = r.personKey, let n = pin.get(v) { return find(n) }
        return nil
    }

    /// Warms the cache line a record's identifier-set look-up will need (see `HashIndex.homeValue`).
    @inline(__always)
    func touch(_ r: LiteRecord) -> UInt64 {
        guard let k = r.setKey else { return 0 }
        return known.touch(k)
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
