import Foundation
import StafettJournal

/// One thing an operator must follow up: an open rule item past its limit.
public struct FollowupItem: Sendable, Hashable, Codable {
    /// The rule's name.
    public var rule: String
    /// Why it matters (from the rule).
    public var why: String
    /// When the item's deadline started counting, ms since 1970: for case rules the event's time
    /// (when the child went missing, was registered) when the record that opened the item says,
    /// else when that record was written; for message rules when the record was written.
    public var sinceMillis: Int64
    /// When the record that opened the item was written to the journal, ms since 1970.
    public var recordedMillis: Int64
    /// The event's time on the record that opened the item (the case message's `Event/Time`),
    /// when it carries one, ms since 1970.
    public var eventMillis: Int64?
    /// How long past the rule's limit it is now, ms.
    public var overdueMillis: Int64
    /// The message, for message rules.
    public var messageId: String?
    /// The intake file (its name in the outbox), for rules on intake records.
    public var file: String? = nil
    /// The child's identifiers, for people: intake ids, dossier numbers, case references, and
    /// `pin:<8 hex>` for a personnummer key (never the number).
    public var identifiers: [String]
    /// Organisations involved (10-digit numbers).
    public var organisations: [String]
    /// The case's latest event type.
    public var lastEvent: String?
    /// When the case was last heard of, ms since 1970.
    public var lastMillis: Int64
    /// For message items, the reason of the record that opened or last kept the item: a rejected
    /// receipt's reason code and detail, an expired message's last delivery error.
    public var reason: String? = nil
}

/// Counts from a replay.
public struct FollowupStats: Sendable {
    /// Records replayed.
    public var records: UInt64 = 0
    /// Cases (children) found.
    public var cases = 0
    /// Items open (overdue or not).
    public var open = 0
}

/// The follow-up projection: a replay of the journal into per-case state under the rules.
/// Memory grows with cases and open message items, not with records. State lives in flat
/// arrays indexed by case node, so a record costs a few hash look-ups and no allocation.
public final class FollowupProjection {
    private var state: ProjectionState

    /// Counts so far.
    public var stats: FollowupStats { state.stats }

    /// Creates an empty projection. `organisation`: this node's organisation number (10 digits),
    /// the issuer of the intake ids on old intake records, which name no sender (see
    /// `CaseJoin.ownIntake`); nil to learn it from the journal as records come.
    public init(rules: [FollowupRule], organisation: String? = nil) {
        state = ProjectionState(rules: rules)
        if let o = organisation { state.ownOrganisation = LiteRecord.digits(Array(o.utf8).withUnsafeBytes { $0 }) }
    }

    /// Replays every record of a journal directory. `organisation` as for `init`; nil reads it
    /// from the journal's first records (`NodeOrganisation`).
    public static func replay(directory: String, rules: [FollowupRule], organisation: String? = nil) throws -> FollowupProjection {
        try replay(directory: directory, rules: rules, organisation: organisation, chunkSize: ParallelReplay.defaultChunkSize)
    }

    /// Replays with parsed chunks of `chunkSize` bytes (tests use small ones to recycle chunks often).
    static func replay(directory: String, rules: [FollowupRule], organisation: String? = nil,
                       chunkSize: Int) throws -> FollowupProjection {
        let p = FollowupProjection(rules: rules, organisation: organisation)
        if organisation == nil { p.state.ownOrganisation = try NodeOrganisation.infer(directory: directory) }
        try p.state.replay(directory: directory, chunkSize: chunkSize)
        return p
    }

    /// Applies one record.
    public func add(_ raw: RawRecord) { state.add(raw.payload) }

    /// What the replay holds that could grow with the journal (for tests): message slots ever
    /// made and those open, and identifiers kept for showing.
    var messageSlotsMade: Int { state.messageSlots.made }
    var openMessageSlots: Int { state.messageSlots.open }
    var shownIdentifiers: Int { state.shownIdentifiers }

    /// The items past their rule's limit by at least `overdueBy` at `now`, most overdue first.
    public func report(now: Int64, overdueBy: Int64 = 0) -> [FollowupItem] {
        state.report(now: now, overdueBy: overdueBy)
    }

    /// The same, made in blocks of `blockSize` cases or message slots (tests compare small blocks
    /// on every core with one block on the calling thread).
    func report(now: Int64, overdueBy: Int64 = 0, blockSize: Int) -> [FollowupItem] {
        state.report(now: now, overdueBy: overdueBy, blockSize: blockSize)
    }
}

/// The projection's state as one value, so the replay loop runs without per-access
/// exclusivity checks on class properties.
struct ProjectionState {
    private struct CompiledRule {
        var startKinds: UInt32 = 0, stopKinds: UInt32 = 0
        var startEvents: UInt64 = 0, stopEvents: UInt64 = 0
    }

    private let rules: [FollowupRule]
    /// Per rule: whether its items are intake files (it starts only on intake records).
    private let aboutFiles: [Bool]
    private var compiled: [CompiledRule] = []
    private let caseRules: [Int]
    private let messageRules: [Int]
    private var events = EventNames()
    private var join = CaseJoin()
    /// What a record touches of its case, in one cache line.
    private struct CaseHot {
        var last: Int64 = 0
        var lastEvent: Int32 = 0
        var orgCount: Int32 = 0
        var orgs: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

        var orgList: [UInt64] {
            [orgs.0, orgs.1, orgs.2, orgs.3].prefix(Int(orgCount)).map { $0 }
        }

        mutating func addOrg(_ o: UInt64) {
            guard o != 0, o != orgs.0, o != orgs.1, o != orgs.2, o != orgs.3 else { return }
            switch orgCount {
            case 0: orgs.0 = o
            case 1: orgs.1 = o
            case 2: orgs.2 = o
            case 3: orgs.3 = o
            default: return
            }
            orgCount += 1
        }
    }

    // Per case node.
    /// Per case and case rule: when the record that opened the item was written (`closed` when the
    /// item is closed), and beside it that record's event time in whole seconds plus one (0: none),
    /// as `LiteRecord` keeps it. The deadline runs from the event's time, else the record's
    /// (`since`): 12 bytes an item rather than three times 8 (every child ever seen has them).
    private var caseRecorded: [Int64] = []
    private var caseEventSeconds: [UInt32] = []
    private static let closed = Int64.min
    private var hot: [CaseHot] = []
    // Open message items: their ids' slots, and per slot its case and open times.
    private var messages = MessageIds()
    private var msgOpen: [Int64] = []
    /// Per open slot and message rule, the event time of the record that opened it (-1: none).
    private var msgEvent: [Int64] = []
    /// Per open slot and message rule (like `msgOpen`), the reason of the record that opened or
    /// last kept it; nil whenever the item is closed, so a reused slot starts without one.
    private var msgReason: [String?] = []
    private var msgNode: [Int32] = []
    private(set) var stats = FollowupStats()
    /// Keeps the optimiser from dropping the warming loads.
    private var warmSink: UInt64 = 0

    var messageSlots: (made: Int, open: Int) { (messages.count, messages.open) }
    var shownIdentifiers: Int { join.shownCount }

    /// This node's organisation number (0: unknown), for `CaseJoin.ownIntake`.
    var ownOrganisation: UInt64 {
        get { join.ownOrganisation }
        set { join.ownOrganisation = newValue }
    }

    init(rules: [FollowupRule]) {
        self.rules = rules
        join.keepsIdentifiers = true
        aboutFiles = rules.map { r in
            r.start.allSatisfy { if case let .kind(k) = $0 { return k == .intakeFailed || k == .intakeAccepted }; return false }
        }
        caseRules = rules.indices.filter { rules[$0].scope == .case }
        messageRules = rules.indices.filter { rules[$0].scope == .message }
        for rule in rules {
            var c = CompiledRule()
            for m in rule.start { add(m, kinds: &c.startKinds, events: &c.startEvents) }
            for m in rule.stop { add(m, kinds: &c.stopKinds, events: &c.stopEvents) }
            compiled.append(c)
        }
    }

    private mutating func add(_ m: FollowupRule.Match, kinds: inout UInt32, events evs: inout UInt64) {
        switch m {
        case let .kind(k): kinds |= k.bit
        case let .event(e):
            let i = events.index(e)
            if i < 64 { evs |= 1 << UInt64(i) }
        }
    }

    mutating func replay(directory: String, chunkSize: Int = ParallelReplay.defaultChunkSize) throws {
        // A thread of the replay joins identifiers while this one applies: hand the join over and back.
        let resolver = ParallelReplay.Resolver(events: events, join: join)
        join = CaseJoin()
        let done = try ParallelReplay.run(directory: directory, resolver: resolver, state: &self, chunkSize: chunkSize,
                                          warm: { $0.warm($1) }, apply: { $0.apply($1, merges: $2) })
        events = done.events
        join = done.join
    }

    /// Touches the hash slots a run of records will use, so their cache misses overlap.
    mutating func warm(_ records: UnsafeBufferPointer<LiteRecord>) {
        var sum: UInt64 = 0
        let n = caseRules.count
        hot.withUnsafeBufferPointer { hot in
            caseRecorded.withUnsafeBufferPointer { open in
                for r in records {
                    // A new case's node is appended when its record is applied.
                    if r.caseNode >= 0, Int(r.caseNode) < hot.count {
                        sum &+= UInt64(bitPattern: hot[Int(r.caseNode)].last)
                        if n > 0 { sum &+= UInt64(bitPattern: open[Int(r.caseNode) * n]) }
                    }
                    // And the id's bytes in the payload, which finding its slot compares and a
                    // new slot copies (perf: those misses were most of this thread's `memcmp`).
                    if r.messageHash != 0, let m = r.subject { sum &+= messages.touch(r.messageHash) &+ CaseJoin.touch(m) }
                }
            }
        }
        warmSink = sum
    }

    mutating func add(_ payload: UnsafeRawBufferPointer) {
        guard var r = LiteRecord.parse(payload, events: &events), r.kind != .checkpoint else { return }
        join.ownIntake(&r)
        var merges: [CaseJoin.Merge] = []
        join.resolve(&r, merges: &merges)
        merges.withUnsafeBufferPointer { apply(r, merges: $0) }
    }

    /// Applies a record whose case `CaseJoin.resolve` found (`merges` holds the merges it indexes).
    mutating func apply(_ r: LiteRecord, merges: UnsafeBufferPointer<CaseJoin.Merge>) {
        stats.records += 1
        let kindBit = r.kind.bit
        // An event enters the journal once per direction: when we queue it and when we receive it.
        let eventBit: UInt64 = (r.kind == .queued || r.kind == .received) && r.event > 0 && r.event < 64
            ? 1 << UInt64(r.event) : 0
        let node = r.caseNode
        if node >= 0 {
            let i = Int(node)
            if r.isNewCase {
                caseRecorded.append(contentsOf: repeatElement(ProjectionState.closed, count: caseRules.count))
                caseEventSeconds.append(contentsOf: repeatElement(0, count: caseRules.count))
                hot.append(CaseHot())
            }
            for m in merges[Int(r.firstMerge)..<Int(r.firstMerge + r.mergeCount)] { merge(m.loser, into: m.winner) }
            if r.time >= hot[i].last {
                hot[i].last = r.time
                if r.event > 0 { hot[i].lastEvent = Int32(r.event) }
            }
            hot[i].addOrg(r.sender)
            hot[i].addOrg(r.recipient)
            let base = i * caseRules.count
            for (slot, ri) in caseRules.enumerated() {
                let c = compiled[ri]
                if c.stopKinds & kindBit != 0 || c.stopEvents & eventBit != 0 { caseRecorded[base + slot] = ProjectionState.closed }
                else if c.startKinds & kindBit != 0 || c.startEvents & eventBit != 0, caseRecorded[base + slot] == ProjectionState.closed {
                    // A case's deadline runs from the event (a child missing since the 26th is
                    // overdue since the 26th, whenever the message was sent).
                    let event = r.eventTime
                    // A deadline before 1970 (a record's time, never an event's) has always
                    // counted as closed: the item stays closed.
                    if event != nil || r.time >= 0 {
                        caseRecorded[base + slot] = r.time
                        caseEventSeconds[base + slot] = event.map { UInt32($0 / 1000 + 1) } ?? 0
                    }
                }
            }
        }
        guard !messageRules.isEmpty, let msg = r.subject else { return }
        var starts = false, stops = false
        for ri in messageRules {
            let c = compiled[ri]
            if c.startKinds & kindBit != 0 || c.startEvents & eventBit != 0 { starts = true }
            if c.stopKinds & kindBit != 0 || c.stopEvents & eventBit != 0 { stops = true }
        }
        guard starts || stops else { return }
        let h = r.messageHash != 0 ? r.messageHash : IdTable.hash(msg, seed: 5)
        var slotIndex = messages.slot(of: msg, hash: h)
        if slotIndex == nil {
            guard starts else { return }
            let s = messages.add(msg, hash: h)
            if Int(s) == msgNode.count {
                msgNode.append(-1)
                msgOpen.append(contentsOf: repeatElement(-1, count: messageRules.count))
                msgEvent.append(contentsOf: repeatElement(-1, count: messageRules.count))
                msgReason.append(contentsOf: repeatElement(nil, count: messageRules.count))
            }
            msgNode[Int(s)] = node
            for k in 0..<messageRules.count { msgOpen[Int(s) * messageRules.count + k] = -1 }
            slotIndex = s
        }
        let s = Int(slotIndex!), base = s * messageRules.count
        if msgNode[s] < 0 { msgNode[s] = node }
        var anyOpen = false
        for (slot, ri) in messageRules.enumerated() {
            let c = compiled[ri], k = base + slot
            if c.stopKinds & kindBit != 0 || c.stopEvents & eventBit != 0 {
                msgOpen[k] = -1
                if msgReason[k] != nil { msgReason[k] = nil }
            } else if c.startKinds & kindBit != 0 || c.startEvents & eventBit != 0 {
                // A message's own journey (no receipt within the hour) counts from its records.
                if msgOpen[k] < 0 { msgOpen[k] = r.time; msgEvent[k] = r.eventTime ?? -1 }
                // A String only for the few records that carry a reason (rejected, expired), not per record.
                if let v = r.reason { msgReason[k] = LiteRecord.text(v) }
            }
            if msgOpen[k] >= 0 { anyOpen = true }
        }
        if !anyOpen {
            messages.remove(Int32(s), hash: h)
        }
    }

    private mutating func merge(_ loser: Int32, into winner: Int32) {
        let l = Int(loser), w = Int(winner)
        for o in hot[l].orgList { hot[w].addOrg(o) }
        if hot[l].last > hot[w].last { hot[w].last = hot[l].last; hot[w].lastEvent = hot[l].lastEvent }
        let n = caseRules.count
        for k in 0..<n where caseRecorded[l * n + k] != ProjectionState.closed {
            if caseRecorded[w * n + k] == ProjectionState.closed || since(l * n + k) < since(w * n + k) {
                caseRecorded[w * n + k] = caseRecorded[l * n + k]
                caseEventSeconds[w * n + k] = caseEventSeconds[l * n + k]
            }
        }
    }

    /// When an open case item's deadline started: the event's time, else the record's.
    @inline(__always)
    private func since(_ k: Int) -> Int64 {
        caseEventSeconds[k] != 0 ? (Int64(caseEventSeconds[k]) - 1) * 1000 : caseRecorded[k]
    }

    /// The event time of a case item, ms (nil: none).
    private func eventMillis(_ k: Int) -> Int64? {
        caseEventSeconds[k] != 0 ? (Int64(caseEventSeconds[k]) - 1) * 1000 : nil
    }

    private func orgText(_ list: [UInt64]) -> [String] {
        list.map { let s = String($0); return String(repeating: "0", count: max(0, 10 - s.count)) + s }
    }

    mutating func report(now: Int64, overdueBy: Int64 = 0, blockSize: Int = OrderedBlocks.defaultBlockSize) -> [FollowupItem] {
        // Made on every core, a block of cases or message slots at a time, from a copy of the
        // state that the blocks only read; the items come back in the order one loop made them.
        let state = self
        // Room up front for every item that could be reported (each open item, counted on every
        // node, so never too few), so the list is never moved: grown by doubling as the blocks
        // came, it was copied into fresh pages at each step, twice the pages it kept (perf: a
        // seventh of the page faults of a 10 M-record follow-up). Pages reserved and never filled
        // are never touched.
        var items: [FollowupItem] = []
        items.reserveCapacity(caseRecorded.reduce(0) { $1 != ProjectionState.closed ? $0 + 1 : $0 }
                              + msgOpen.reduce(0) { $1 >= 0 ? $0 + 1 : $0 })
        var roots = 0, open = 0
        func take(_ block: ReportBlock) {
            items.append(contentsOf: block.items)
            roots += block.roots
            open += block.open
        }
        OrderedBlocks.run(count: hot.count, blockSize: blockSize,
                          make: { state.caseItems($0, now: now, overdueBy: overdueBy) }, take: take)
        OrderedBlocks.run(count: msgNode.count, blockSize: blockSize,
                          make: { state.messageItems($0, now: now, overdueBy: overdueBy) }, take: take)
        stats.cases = roots
        stats.open = open
        // Sorted through their keys, with the same comparisons in the same algorithm, so in the
        // same order: moving the items themselves cost a retain and a release per field and move.
        let keys = items.map { (over: $0.overdueMillis, name: $0.messageId ?? $0.file ?? "") }
        let order = keys.indices.sorted { keys[$0].over != keys[$1].over ? keys[$0].over > keys[$1].over : keys[$0].name < keys[$1].name }
        ProjectionState.permute(&items, into: order)
        return items
    }

    /// Puts `items[order[k]]` at `k` for every `k` (`order` a permutation of the indices), moving
    /// each item once along the permutation's cycles: a sorted copy of most of a million items
    /// retained and released each field and held the list twice, and `swapAt` copies too.
    static func permute<T>(_ items: inout [T], into order: [Int]) {
        precondition(order.count == items.count)
        var placed = [Bool](repeating: false, count: items.count)
        items.withUnsafeMutableBufferPointer { b in
            guard let base = b.baseAddress else { return }
            for start in b.indices where !placed[start] {
                // The cycle through `start`: each position takes the item at the position `order`
                // names, and the last one the item that was at `start`.
                let first = (base + start).move()
                var k = start
                while true {
                    placed[k] = true
                    let from = order[k]
                    if from == start { (base + k).initialize(to: first); break }
                    (base + k).moveInitialize(from: base + from, count: 1)
                    k = from
                }
            }
        }
    }

    /// A block's items, and the cases and open items it counted.
    struct ReportBlock {
        var items: [FollowupItem] = []
        var roots = 0
        var open = 0
    }

    /// The texts every item of a block shares (rule names and reasons, event names), as the
    /// block's own copies: one shared string's reference count, bumped per item from both cores,
    /// would bounce its cache line between them.
    private struct SharedTexts {
        var names: [String], whys: [String], events: [String]

        init(_ rules: [FollowupRule], _ events: EventNames) {
            names = rules.map { SharedTexts.own($0.name) }
            whys = rules.map { SharedTexts.own($0.why) }
            self.events = events.names.map(SharedTexts.own)
        }

        private static func own(_ s: String) -> String { String(decoding: Array(s.utf8), as: UTF8.self) }
    }

    /// The items of the case nodes in `nodes` (each case counted at its root node).
    func caseItems(_ nodes: Range<Int>, now: Int64, overdueBy: Int64) -> ReportBlock {
        var block = ReportBlock()
        let texts = SharedTexts(rules, events)
        let n = caseRules.count
        for i in nodes where join.parent[i] == Int32(i) {
            block.roots += 1
            for (slot, ri) in caseRules.enumerated() where caseRecorded[i * n + slot] != ProjectionState.closed {
                block.open += 1
                let since = since(i * n + slot)
                let over = now - since - rules[ri].afterMillis
                if over >= overdueBy {
                    block.items.append(FollowupItem(rule: texts.names[ri], why: texts.whys[ri], sinceMillis: since,
                                                    recordedMillis: caseRecorded[i * n + slot], eventMillis: eventMillis(i * n + slot),
                                                    overdueMillis: over, messageId: nil, identifiers: join.identifiers(of: Int32(i)),
                                                    organisations: orgText(hot[i].orgList),
                                                    lastEvent: hot[i].lastEvent > 0 ? texts.events[Int(hot[i].lastEvent)] : nil,
                                                    lastMillis: hot[i].last))
                }
            }
        }
        return block
    }

    /// The items of the message slots in `slots`.
    func messageItems(_ slots: Range<Int>, now: Int64, overdueBy: Int64) -> ReportBlock {
        var block = ReportBlock()
        let texts = SharedTexts(rules, events)
        let m = messageRules.count
        for s in slots {
            guard let id = messages.text(Int32(s)) else { continue }
            let c: Int? = msgNode[s] >= 0 ? Int(join.root(of: msgNode[s])) : nil
            for (slot, ri) in messageRules.enumerated() where msgOpen[s * m + slot] >= 0 {
                block.open += 1
                let since = msgOpen[s * m + slot]
                let over = now - since - rules[ri].afterMillis
                if over >= overdueBy {
                    let event = msgEvent[s * m + slot], isFile = aboutFiles[ri]
                    block.items.append(FollowupItem(rule: texts.names[ri], why: texts.whys[ri], sinceMillis: since,
                        recordedMillis: since, eventMillis: event >= 0 ? event : nil,
                        overdueMillis: over, messageId: isFile ? nil : id, file: isFile ? id : nil,
                        identifiers: c.map { join.identifiers(of: Int32($0)) } ?? [],
                        organisations: c.map { orgText(hot[$0].orgList) } ?? [],
                        lastEvent: c.flatMap { hot[$0].lastEvent > 0 ? texts.events[Int(hot[$0].lastEvent)] : nil },
                        lastMillis: c.map { hot[$0].last } ?? since, reason: msgReason[s * m + slot]))
                }
            }
        }
        return block
    }
}

extension JournalKind {
    /// A bit per kind, for rule masks.
    var bit: UInt32 {
        switch self {
        case .queued: return 1
        case .sent: return 2
        case .delivered: return 4
        case .rejected: return 8
        case .expired: return 16
        case .received: return 32
        case .refused: return 64
        case .intakeFailed: return 128
        case .intakeAccepted: return 256
        case .checkpoint: return 512
        case .removed: return 1024
        case .withdrawn: return 2048
        }
    }
}
