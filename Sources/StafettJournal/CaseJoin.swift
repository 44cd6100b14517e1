import Foundation

/// Joins every identifier seen for a child (intake id, dossier number, case reference,
/// personnummer key) into one case, across messages from every organisation: a union-find over
/// identifiers, so a record that carries two identifiers joins their cases for good.
struct CaseJoin {
    private(set) var parent: [Int32] = []
    private var intake: [String: Int32] = [:]
    private var dossier: [String: Int32] = [:]
    private var caseRef: [String: Int32] = [:]
    private var pin: [PersonKeyBits: Int32] = [:]

    /// The root of a node.
    mutating func find(_ x: Int32) -> Int32 {
        var r = x
        while parent[Int(r)] != r { r = parent[Int(r)] }
        var c = x
        while parent[Int(c)] != r { let n = parent[Int(c)]; parent[Int(c)] = r; c = n }
        return r
    }

    private mutating func unite(_ root: inout Int32, _ other: Int32?, merged: (Int32, Int32) -> Void) {
        guard let other else { return }
        let o = find(other)
        if root < 0 { root = o; return }
        if o != root {
            parent[Int(o)] = root
            merged(o, root)
        }
    }

    /// The case of a record (joining its identifiers), or nil when it carries none.
    /// `merged(loser, winner)` is called when two existing cases become one.
    mutating func caseOf(_ r: LiteRecord, merged: (Int32, Int32) -> Void) -> (node: Int32, isNew: Bool, newIds: UInt8)? {
        let i = r.intakeId.map { intake[$0] }, d = r.dossierNumber.map { dossier[$0] }
        let c = r.caseRef.map { caseRef[$0] }, p = r.personKey.map { pin[$0] }
        guard i != nil || d != nil || c != nil || p != nil else { return nil }
        var root: Int32 = -1
        unite(&root, i ?? nil, merged: merged)
        unite(&root, d ?? nil, merged: merged)
        unite(&root, c ?? nil, merged: merged)
        unite(&root, p ?? nil, merged: merged)
        var isNew = false
        if root < 0 {
            root = Int32(parent.count)
            parent.append(root)
            isNew = true
        }
        // Remember identifiers seen for the first time (an Optional(nil) lookup result).
        var newIds: UInt8 = 0
        if let v = r.intakeId, i! == nil { intake[v] = root; newIds |= 1 }
        if let v = r.dossierNumber, d! == nil { dossier[v] = root; newIds |= 2 }
        if let v = r.caseRef, c! == nil { caseRef[v] = root; newIds |= 4 }
        if let v = r.personKey, p! == nil { pin[v] = root; newIds |= 8 }
        return (root, isNew, newIds)
    }

    /// The case a record belongs to, without adding anything; nil when it carries no known identifier.
    mutating func rootOf(_ r: LiteRecord) -> Int32? {
        if let v = r.intakeId, let n = intake[v] { return find(n) }
        if let v = r.dossierNumber, let n = dossier[v] { return find(n) }
        if let v = r.caseRef, let n = caseRef[v] { return find(n) }
        if let v = r.personKey, let n = pin[v] { return find(n) }
        return nil
    }

    /// The case an operator's reference names: an intake id, dossier number or case reference,
    /// or a personnummer key (hex).
    mutating func lookup(_ ref: String, personKey: String?) -> Int32? {
        if let n = intake[ref] ?? dossier[ref] ?? caseRef[ref] { return find(n) }
        if let k = personKey.flatMap({ PersonKeyBits(hex: $0) }), let n = pin[k] { return find(n) }
        return nil
    }
}
