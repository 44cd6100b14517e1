import Foundation

/// A replay split over two threads: this one reads segments, checks CRCs and parses payloads
/// into `LiteRecord`s (with their bytes copied into a chunk that outlives the read buffer);
/// the caller's thread applies them in order. A bounded queue of chunks keeps memory flat.
final class ParsedChunk: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer
    var used = 0
    var records: [LiteRecord] = []

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
        c.records.removeAll(keepingCapacity: true)
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

enum ParallelReplay {
    /// Bytes of payload per parsed chunk.
    static let defaultChunkSize = 1 << 21

    /// Streams `directory`, parsing on a second thread, and calls `apply` for each record in order.
    /// `events` seeds the parser's event names; the final names come back.
    static func run<State>(directory: String, events: EventNames, state: inout State,
                           chunkSize: Int = defaultChunkSize,
                           warm: (inout State, UnsafeBufferPointer<LiteRecord>) -> Void = { _, _ in },
                           apply: (inout State, LiteRecord) -> Void) throws -> EventNames {
        let queue = ChunkQueue(limit: 4)
        let box = EventBox(events)
        let parser = Thread {
            var names = box.value
            var chunk = queue.emptyChunk(capacity: chunkSize)
            do {
                try JournalStream(directory: directory).readAvailable { raw in
                    let n = raw.payload.count
                    if chunk.used + n > chunk.bytes.count {
                        queue.put(chunk)
                        chunk = queue.emptyChunk(capacity: max(chunkSize, n))
                    }
                    let dst = chunk.bytes.baseAddress! + chunk.used
                    dst.copyMemory(from: raw.payload.baseAddress!, byteCount: n)
                    chunk.used += n
                    if var r = LiteRecord.parse(UnsafeRawBufferPointer(start: dst, count: n), events: &names),
                       r.kind != .checkpoint {
                        if r.hasIdentifier { r.setKey = CaseJoin.setKey(r) }
                        if let m = r.messageId { r.messageHash = IdTable.hash(m, seed: 5) }
                        chunk.records.append(r)
                    }
                }
                queue.put(chunk)
                box.value = names
                queue.finish(nil)
            } catch {
                box.value = names
                queue.finish(error)
            }
        }
        parser.stackSize = 1 << 20
        parser.start()
        while let chunk = try queue.take() {
            chunk.records.withUnsafeBufferPointer { rs in
                // In runs of 128: first touch what the records will look up, then apply them.
                var from = 0
                while from < rs.count {
                    let to = min(from + 128, rs.count)
                    warm(&state, UnsafeBufferPointer(rebasing: rs[from..<to]))
                    for r in rs[from..<to] { apply(&state, r) }
                    from = to
                }
            }
            queue.recycle(chunk)
        }
        return box.value
    }

    private final class EventBox: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: EventNames
        init(_ v: EventNames) { stored = v }
        var value: EventNames {
            get { lock.lock(); defer { lock.unlock() }; return stored }
            set { lock.lock(); stored = newValue; lock.unlock() }
        }
    }
}
