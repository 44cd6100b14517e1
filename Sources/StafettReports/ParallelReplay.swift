import Foundation
import StafettJournal

/// A replay split over three threads: one reads segments, checks CRCs and parses payloads into
/// `LiteRecord`s (pointing into the mapped segments the chunk holds, or into bytes copied into
/// the chunk when a segment is read into a buffer, like the live one), a second
/// joins their identifiers into cases, and the caller's thread applies them in order. Bounded
/// queues of chunks keep memory flat.
final class ParsedChunk: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer
    /// Payload bytes of the chunk's records, whether copied into `bytes` or read in place.
    var used = 0
    /// The mapped segments the records point into.
    var maps: [SegmentMap] = []
    var records: [LiteRecord] = []
    /// Per record, its identifiers' table hashes (made with its set key; zeros without identifiers).
    var hashes: [CaseJoin.IdHashes] = []
    /// The case merges of these records (`LiteRecord.firstMerge` indexes it).
    var merges: [CaseJoin.Merge] = []

    init(capacity: Int) {
        bytes = .allocate(byteCount: capacity, alignment: 16)
        records.reserveCapacity(capacity / 200)
    }

    deinit { bytes.deallocate() }
}

/// A bounded hand-off between the parsing thread and the applying thread.
final class ChunkQueue: @unchecked Sendable {
    private let cond = NSCondition()
    private var items: [ParsedChunk] = []
    /// Chunks the applying thread is done with, for the parser to fill again: fresh 2 MiB
    /// buffers would cost a page fault and a page clear per 4 KiB, about a quarter of a replay's CPU.
    private var spare: [ParsedChunk] = []
    private var finished = false
    private var failure: Error?
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    func put(_ c: ParsedChunk) {
        cond.lock()
        while items.count >= limit { cond.wait() }
        items.append(c)
        cond.broadcast()
        cond.unlock()
    }

    func finish(_ error: Error?) {
        cond.lock()
        finished = true
        failure = error
        cond.broadcast()
        cond.unlock()
    }

    /// Hands a chunk back once its records have been applied (nothing may point into it after).
    func recycle(_ c: ParsedChunk) {
        c.used = 0
        c.maps.removeAll(keepingCapacity: true)
        c.records.removeAll(keepingCapacity: true)
        c.hashes.removeAll(keepingCapacity: true)
        c.merges.removeAll(keepingCapacity: true)
        cond.lock()
        if spare.count < limit + 1 { spare.append(c) }
        cond.unlock()
    }

    /// A recycled chunk of at least `capacity` bytes, or a new one.
    func emptyChunk(capacity: Int) -> ParsedChunk {
        cond.lock()
        let c = spare.popLast()
        cond.unlock()
        if let c, c.bytes.count >= capacity { return c }
        return ParsedChunk(capacity: capacity)
    }

    /// The next chunk, or nil at the end; rethrows the parser's error.
    func take() throws -> ParsedChunk? {
        cond.lock()
        defer { cond.unlock() }
        while items.isEmpty && !finished { cond.wait() }
        if !items.isEmpty {
            let c = items.removeFirst()
            cond.broadcast()
            return c
        }
        if let failure { throw failure }
        return nil
    }
}

/// The chunk the parsing thread fills. What each record adds is kept here until the chunk is
/// handed on: the chunk's own properties, a class's, cost an exclusivity check at each access
/// (perf: a handful per record, about a tenth of that thread's own time).
struct ChunkFiller {
    private var chunk: ParsedChunk
    /// Payload bytes in the chunk so far.
    private var used = 0
    /// The mapped segment the chunk's last record lies in.
    private var lastMap: SegmentMap?
    private var records: [LiteRecord] = []
    private var hashes: [CaseJoin.IdHashes] = []
    private let queue: ChunkQueue
    private let chunkSize: Int
    /// This node's organisation number, for `CaseJoin.ownIntake`.
    private let organisation: UInt64

    init(queue: ChunkQueue, chunkSize: Int, organisation: UInt64) {
        self.queue = queue
        self.chunkSize = chunkSize
        self.organisation = organisation
        chunk = queue.emptyChunk(capacity: chunkSize)
    }

    /// Parses a record into the chunk (`map`: the mapped segment its bytes lie in, else they are
    /// copied into the chunk), handing the chunk on first when it is full.
    @inline(__always)
    mutating func add(_ raw: RawRecord, in map: SegmentMap?, events: inout EventNames) {
        let n = raw.payload.count
        if used + n > chunk.bytes.count {
            handOn()
            chunk = queue.emptyChunk(capacity: max(chunkSize, n))
        }
        var payload = raw.payload
        if let map {
            if lastMap !== map {
                chunk.maps.append(map)
                lastMap = map
            }
        } else {
            let dst = chunk.bytes.baseAddress! + used
            dst.copyMemory(from: raw.payload.baseAddress!, byteCount: n)
            payload = UnsafeRawBufferPointer(start: dst, count: n)
        }
        used += n
        if var r = LiteRecord.parse(payload, events: &events), r.kind != .checkpoint {
            if let m = r.subject { r.messageHash = IdTable.hash(m, seed: 5) }
            hashes.append(ParallelReplay.keyed(&r, organisation: organisation))
            records.append(r)
        }
    }

    /// Hands the chunk on to the joining thread.
    mutating func handOn() {
        // The chunk's emptied arrays come back, their capacity with them.
        swap(&chunk.records, &records)
        swap(&chunk.hashes, &hashes)
        chunk.used = used
        queue.put(chunk)
        used = 0
        lastMap = nil
    }
}

enum ParallelReplay {
    /// Bytes of payload per parsed chunk: with two queues, 1 MiB keeps the chunks in flight
    /// (about nine, each with its records) below what two queues of 2 MiB chunks held.
    static let defaultChunkSize = 1 << 20

    /// What the parsing thread owns during a replay: the state that depends only on the records
    /// themselves (event names, the join of identifiers into cases), so the applying thread,
    /// the replay's critical path, finds each record's case already resolved.
    struct Resolver {
        var events: EventNames
        var join: CaseJoin
        /// Keeps the optimiser from dropping the warming loads.
        var warmSink: UInt64 = 0

        /// Joins a chunk's records in order, in runs of 128: first touch the slots the run will
        /// look up (so their cache misses overlap), then join them. The parsing thread made the
        /// identifier-set keys (`keyed`).
        mutating func resolve(_ chunk: ParsedChunk) {
            // Appended to as a local, not as the chunk's: a class's property costs an exclusivity
            // check at each access.
            var merges: [CaseJoin.Merge] = []
            swap(&merges, &chunk.merges)
            defer { swap(&merges, &chunk.merges) }
            chunk.hashes.withUnsafeBufferPointer { hashes in
                chunk.records.withUnsafeMutableBufferPointer { rs in
                    var from = 0
                    while from < rs.count {
                        let to = min(from + 128, rs.count)
                        var sum: UInt64 = 0
                        // The loads alone, in a loop of their own: touched between the hashing of one
                        // record and the next, each waited for its miss (the reorder window held one
                        // record's hashing), and the touches were four fifths of this stage's own time (perf).
                        for k in from..<to { sum &+= join.touch(rs[k]) }
                        // A record whose set is new (a third of them) looks up each identifier: touch
                        // those slots too (perf: those look-ups were most of the stage's misses).
                        for k in from..<to where rs[k].hasIdentifier && !join.isKnown(rs[k].setKey!) {
                            sum &+= join.touchIds(rs[k], hashes[k])
                        }
                        warmSink &+= sum
                        for k in from..<to where rs[k].hasIdentifier {
                            join.resolve(&rs[k], hashes: hashes[k], merges: &merges)
                        }
                        from = to
                    }
                }
            }
        }
    }

    /// Gives a parsed record its identifier-set key and returns its identifiers' table hashes.
    /// Done while parsing, when the payload's bytes are in the cache: hashed on the joining
    /// thread, a chunk after they were read, the first load of each record's identifiers missed
    /// (perf: three fifths of the key's cost there, a fifth of that thread's time).
    /// `organisation`: this node's, as `CaseJoin.ownIntake` takes it.
    @inline(__always)
    static func keyed(_ r: inout LiteRecord, organisation: UInt64) -> CaseJoin.IdHashes {
        var h = CaseJoin.IdHashes()
        guard r.hasIdentifier else { return h }
        CaseJoin.ownIntake(&r, organisation: organisation)
        r.setKey = CaseJoin.setKey(r, hashes: &h)
        return h
    }

    /// Streams `directory`, parsing and joining on a second thread, and calls `apply` for each
    /// record in order with the merges its `firstMerge`/`mergeCount` index. `resolver` seeds the
    /// parser's event names and join; the final ones come back.
    static func run<State>(directory: String, resolver: Resolver, state: inout State,
                           chunkSize: Int = defaultChunkSize,
                           warm: (inout State, UnsafeBufferPointer<LiteRecord>) -> Void = { _, _ in },
                           apply: (inout State, LiteRecord, UnsafeBufferPointer<CaseJoin.Merge>) -> Void)
        throws -> Resolver {
        // Three stages rather than two: parsing and joining together cost about twice what applying
        // does, and with a stage each the scheduler can keep both cores busy (perf: the parsing
        // thread was the critical path at 62 % of samples once it joined, the applying one 37 %).
        let parsed = ChunkQueue(limit: 3), queue = ChunkQueue(limit: 3)
        let eventsBox = Box(resolver.events), joinBox = Box(resolver)
        let organisation = resolver.join.ownOrganisation
        let parser = Thread {
            var events = eventsBox.value
            var filler = ChunkFiller(queue: parsed, chunkSize: chunkSize, organisation: organisation)
            var failure: Error?
            do {
                try JournalStream(directory: directory, mapsFinishedSegments: true).readAvailable(keeping: { raw, map in
                    filler.add(raw, in: map, events: &events)
                })
                filler.handOn()
            } catch { failure = error }
            eventsBox.value = events
            parsed.finish(failure)
        }
        let joiner = Thread {
            var res = joinBox.value
            var failure: Error?
            do {
                while let chunk = try parsed.take() {
                    res.resolve(chunk)
                    queue.put(chunk)
                }
            } catch { failure = error }
            joinBox.value = res
            queue.finish(failure)
        }
        parser.stackSize = 1 << 20
        joiner.stackSize = 1 << 20
        parser.start()
        joiner.start()
        while let chunk = try queue.take() {
            chunk.merges.withUnsafeBufferPointer { ms in
                chunk.records.withUnsafeBufferPointer { rs in
                    // In runs of 128: first touch what the records will look up, then apply them.
                    var from = 0
                    while from < rs.count {
                        let to = min(from + 128, rs.count)
                        warm(&state, UnsafeBufferPointer(rebasing: rs[from..<to]))
                        for r in rs[from..<to] { apply(&state, r, ms) }
                        from = to
                    }
                }
            }
            parsed.recycle(chunk)
        }
        var done = joinBox.value
        done.events = eventsBox.value
        return done
    }

    /// Hands a value to a stage's thread and back (never used by two threads at the same time;
    /// the lock orders the hand-over).
    private final class Box<Value>: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: Value
        init(_ v: Value) { stored = v }
        var value: Value {
            get { lock.lock(); defer { lock.unlock() }; return stored }
            set { lock.lock(); stored = newValue; lock.unlock() }
        }
    }
}
