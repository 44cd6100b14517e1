import Foundation
import StafettCrypto

// Journal file format, version 1 (also in docs/journal-format.md).
//
// A journal is a directory (0700) of segment files (0600) named `journal-<first seq, 16 hex>.log`,
// in sequence order, plus `journal.lock` (the writer's flock). A new segment starts when the
// current one would exceed the size limit.
//
// Segment header, 52 bytes:
//   "STAFJNL1"            8 bytes magic
//   first sequence        u64 little-endian: the sequence number of the segment's first record
//   previous chain hash   32 bytes: the chain hash of the record before it (zeros for the first)
//   CRC-32C               u32 little-endian over the 48 bytes before it
// Then records, back to back:
//   length                u32 little-endian: payload length (1 ... 1 MiB)
//   CRC-32C               u32 little-endian over length ‖ payload ‖ chain hash
//   payload               compact JSON (EntryCodec), starting `{"seq":N,`; later versions add
//                         optional keys only (`et`, `iss`), so older records verify unchanged
//   chain hash            32 bytes: SHA-256(previous chain hash ‖ payload)
// The live (last) segment may end in zeros the writer wrote ahead of its records: a length field
// of 0 marks the end of the records, and only zeros may follow it. Finished segments are cut back
// to their last record.
// Sequence numbers start at 1 and grow by one per record across segments. A `checkpoint` record
// carries a signature over "stafett-journal-checkpoint/1 <seq> <hex chain hash>" of the record
// before it, made with the node key and checkable with the node certificate alone.

/// Constants and helpers of the on-disk format.
public enum JournalFormat {
    /// Segment header magic.
    static let magic: [UInt8] = Array("STAFJNL1".utf8)
    /// Bytes in a segment header.
    public static let headerSize = 52
    /// Bytes of framing around a payload (length, CRC, chain hash).
    public static let recordOverhead = 40
    /// The largest payload accepted.
    public static let maxPayload = 1 << 20

    /// The file name of the segment whose first record is `seq`.
    public static func segmentName(firstSequence seq: UInt64) -> String {
        let hex = String(seq, radix: 16)
        return "journal-" + String(repeating: "0", count: max(0, 16 - hex.count)) + hex + ".log"
    }

    /// The first sequence number encoded in a segment file name, or nil for other files.
    public static func firstSequence(ofSegmentNamed name: String) -> UInt64? {
        guard name.hasPrefix("journal-"), name.hasSuffix(".log"), name.utf8.count == 8 + 16 + 4 else { return nil }
        return UInt64(name.dropFirst(8).prefix(16), radix: 16)
    }

    /// Segment files of `directory`, in sequence order.
    public static func segments(in directory: String) throws(JournalError) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw .io(path: directory, operation: "list", errno: errno == 0 ? ENOENT : errno)
        }
        return names.compactMap { n in firstSequence(ofSegmentNamed: n).map { ($0, n) } }
            .sorted { $0.0 < $1.0 }
            .map { directory + "/" + $0.1 }
    }

    /// The 52 header bytes of a segment.
    static func header(firstSequence: UInt64, previousHash: [UInt8]) -> [UInt8] {
        var h = magic
        withUnsafeBytes(of: firstSequence.littleEndian) { h.append(contentsOf: $0) }
        h.append(contentsOf: previousHash)
        let crc = h.withUnsafeBytes { CRC32C.checksum($0) }
        withUnsafeBytes(of: crc.littleEndian) { h.append(contentsOf: $0) }
        return h
    }

    /// Parses a header: (first sequence, previous hash), or nil when it is not one.
    static func parseHeader(_ p: UnsafeRawBufferPointer) -> (UInt64, [UInt8])? {
        guard p.count >= headerSize, Array(p[0..<8]) == magic else { return nil }
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: p[0..<48]))
        guard crc == p.loadUnaligned(fromByteOffset: 48, as: UInt32.self).littleEndian else { return nil }
        return (p.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian, Array(p[16..<48]))
    }

    /// Appends one framed record to `out` and returns its chain hash.
    static func frame(payload: [UInt8], previousHash: [UInt8], hasher: StreamingSHA256,
                      into out: inout [UInt8]) -> [UInt8] {
        var hash = [UInt8](repeating: 0, count: 32)
        previousHash.withUnsafeBytes { prev in
            payload.withUnsafeBytes { pl in
                hash.withUnsafeMutableBytes { hasher.hash(prev, pl, into: $0.baseAddress!) }
            }
        }
        let len = UInt32(payload.count).littleEndian
        var crc = withUnsafeBytes(of: len) { CRC32C.checksum($0) }
        crc = payload.withUnsafeBytes { CRC32C.checksum($0, continuing: crc) }
        crc = hash.withUnsafeBytes { CRC32C.checksum($0, continuing: crc) }
        withUnsafeBytes(of: len) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: crc.littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: payload)
        out.append(contentsOf: hash)
        return hash
    }
}

/// One record as it lies in a segment; the buffers are valid only until the reader moves on.
public struct RawRecord {
    /// Sequence number (from the payload's leading `"seq"`), 0 when it cannot be read.
    public var sequence: UInt64
    /// The JSON payload.
    public var payload: UnsafeRawBufferPointer
    /// The stored chain hash (32 bytes).
    public var chainHash: UnsafeRawBufferPointer
    /// Offset of the record in its segment.
    public var offset: Int64
}

/// Reads one segment file from front to back with a large buffer; can be resumed at its end
/// when the file grows (following). A finished segment may be mapped instead (`map`), and then
/// its bytes are read in place. Confined to one thread.
final class SegmentReader {
    let path: String
    private let fd: Int32
    /// The read buffer, or a view of `map`'s bytes (never written then).
    private var buffer: UnsafeMutableRawBufferPointer
    /// The whole file mapped, when it is read in place: it neither grows nor shrinks any more.
    private(set) var map: SegmentMap?
    private var start = 0, end = 0
    /// File offset of `buffer[start]`.
    private(set) var offset: Int64 = 0
    private(set) var firstSequence: UInt64 = 0
    private(set) var previousHash: [UInt8] = []
    private(set) var headerRead = false
    /// How far ahead of the reads the kernel has been asked to fetch (see `fill`).
    private var advisedUpTo: Int64 = 0
    private static let readAhead: Int64 = 8 << 20

    /// What reading the next record found.
    enum Step {
        case record(RawRecord)
        /// End of the readable data; `pending` bytes of an incomplete record remain.
        case end(pending: Int)
        /// A zero length field: the writer's zero-filled space starts here (see `firstNonZero`).
        case zeroFill
        /// A record that cannot be valid at `offset`.
        case bad(JournalDamage.Kind, offset: Int64, detail: String)
    }

    /// `mapped`: read the file in place, as it is now (only for a segment the writer has finished,
    /// see `SegmentMap`); it is read into a buffer when it cannot be mapped.
    init(path: String, bufferSize: Int = 1 << 20, mapped: Bool = false) throws(JournalError) {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
        var st = stat()
        let size = fstat(fd, &st) == 0 ? Int(st.st_size) : bufferSize
        if mapped, let m = SegmentMap(fd: fd, size: size) {
            map = m
            buffer = UnsafeMutableRawBufferPointer(mutating: m.bytes)
            end = m.bytes.count
        } else {
            buffer = .allocate(byteCount: max(4096, min(bufferSize, size + 1)), alignment: 16)
        }
    }

    deinit {
        close(fd)
        if map == nil { buffer.deallocate() }
    }

    /// Makes at least `need` bytes available from `start` if the file has them; false otherwise.
    private func fill(_ need: Int) throws(JournalError) -> Bool {
        if end - start >= need { return true }
        // A mapped segment holds all it will ever hold.
        if map != nil { return false }
        if need > buffer.count - start {
            if start > 0 {
                let n = end - start
                if n > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: n) }
                start = 0
                end = n
            }
            if need > buffer.count {
                let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: need * 2, alignment: 16)
                bigger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: end)
                buffer.deallocate()
                buffer = bigger
            }
        }
        // A replay reads a whole journal front to back, often cold (the kernel drops pages of a
        // journal nobody read for a while): asking for the next megabytes before they are needed
        // keeps the disk busy while the records already read are parsed, where the default
        // readahead of a few hundred kilobytes left the replay waiting on each read.
        let position = offset + Int64(end - start)
        if position + SegmentReader.readAhead / 2 > advisedUpTo {
            let from = max(advisedUpTo, position)
            _ = posix_fadvise(fd, off_t(from), off_t(SegmentReader.readAhead), POSIX_FADV_WILLNEED)
            advisedUpTo = from + SegmentReader.readAhead
        }
        while end - start < need {
            let n = pread(fd, buffer.baseAddress! + end, buffer.count - end, Int(offset) + end - start)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "read", errno: errno)
            }
            if n == 0 { return false }
            end += n
        }
        return true
    }

    /// Reads the segment header; false when it is not (yet) complete.
    func readHeader() throws(JournalError) -> Bool {
        guard try fill(JournalFormat.headerSize) else { return false }
        guard let (seq, prev) = JournalFormat.parseHeader(
            UnsafeRawBufferPointer(start: buffer.baseAddress! + start, count: JournalFormat.headerSize)) else {
            throw .damaged(directory: path, damage: [JournalDamage(kind: .badHeader, segment: path, offset: 0,
                sequence: JournalFormat.firstSequence(ofSegmentNamed: (path as NSString).lastPathComponent) ?? 0,
                detail: "not a journal segment header (magic or CRC wrong)")])
        }
        firstSequence = seq
        previousHash = prev
        start += JournalFormat.headerSize
        offset += Int64(JournalFormat.headerSize)
        headerRead = true
        return true
    }

    /// The next record, checked for length and CRC (not for the chain).
    func next() throws(JournalError) -> Step {
        guard try fill(8) else { return .end(pending: end - start) }
        let base = buffer.baseAddress! + start
        let len = Int(base.loadUnaligned(as: UInt32.self).littleEndian)
        if len == 0 {
            // Forget the buffered zeros so the next call reads what a writer put there since.
            dropBuffered()
            return .zeroFill
        }
        guard len >= 8, len <= JournalFormat.maxPayload else {
            return .bad(.badLength, offset: offset, detail: "length field says \(len) bytes")
        }
        let total = len + JournalFormat.recordOverhead
        guard try fill(total) else { return .end(pending: end - start) }
        let rec = UnsafeRawBufferPointer(start: buffer.baseAddress! + start, count: total)
        let stored = rec.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
        var crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: rec[0..<4]))
        crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: rec[8..<total]), continuing: crc)
        guard crc == stored else {
            return .bad(.badCRC, offset: offset, detail: String(format: "CRC-32C stored %08x, computed %08x", stored, crc))
        }
        let payload = UnsafeRawBufferPointer(rebasing: rec[8..<(8 + len)])
        let r = RawRecord(sequence: EntryCodec.fastSequence(payload) ?? 0, payload: payload,
                          chainHash: UnsafeRawBufferPointer(rebasing: rec[(8 + len)..<total]), offset: offset)
        start += total
        offset += Int64(total)
        return .record(r)
    }

    /// True when a valid record (plausible length, `{"seq":` and a matching CRC) starts anywhere
    /// after `from`: tells damage in the middle from a torn tail. Reads the rest of the file in
    /// windows that overlap by the largest record, so memory stays bounded whatever the file's
    /// size says (a damaged or hostile file may claim any).
    func validRecordExists(after from: Int64) throws(JournalError) -> Bool {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(path: path, operation: "stat", errno: errno) }
        let fileEnd = Int64(st.st_size)
        let overlap = JournalFormat.maxPayload + JournalFormat.recordOverhead + 8
        let window = overlap + (4 << 20)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: window, alignment: 16)
        defer { buffer.deallocate() }
        var start = from + 1
        while start + Int64(JournalFormat.recordOverhead) < fileEnd {
            var got = 0
            let want = Int(min(Int64(window), fileEnd - start))
            while got < want {
                let n = pread(fd, buffer.baseAddress! + got, want - got, off_t(start) + off_t(got))
                if n < 0 { if errno == EINTR { continue }; throw .io(path: path, operation: "read", errno: errno) }
                if n == 0 { break }
                got += n
            }
            let t = UnsafeRawBufferPointer(rebasing: buffer[0..<got])
            // Candidates start in this window's first part; the overlap lets the last of them be whole.
            let last = start + Int64(got) >= fileEnd ? got : got - overlap
            var i = 0
            while i < last, i + JournalFormat.recordOverhead + 8 <= got {
                if t[i + 8] == 0x7B, t[i + 9] == 0x22, t[i + 10] == 0x73 {
                    let len = Int(t.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian)
                    let total = len + JournalFormat.recordOverhead
                    if len >= 8, len <= JournalFormat.maxPayload, i + total <= got {
                        var crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: t[i..<(i + 4)]))
                        crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: t[(i + 8)..<(i + total)]), continuing: crc)
                        if crc == t.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self).littleEndian { return true }
                    }
                }
                i += 1
            }
            guard got > overlap, start + Int64(got) < fileEnd else { break }
            start += Int64(last)
        }
        return false
    }

    /// Offset of the first non-zero byte at or after `from`, or nil when only zeros follow:
    /// what `verify` checks of the zero-filled space after the last record.
    func firstNonZero(from: Int64) throws(JournalError) -> Int64? {
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { chunk.deallocate() }
        var at = from
        while true {
            let n = pread(fd, chunk.baseAddress!, chunk.count, Int(at))
            if n < 0 { if errno == EINTR { continue }; throw .io(path: path, operation: "read", errno: errno) }
            if n == 0 { return nil }
            let words = n / 8
            let w = chunk.baseAddress!.assumingMemoryBound(to: UInt64.self)
            var i = 0
            while i < words && w[i] == 0 { i += 1 }
            var b = i * 8
            while b < n && chunk[b] == 0 { b += 1 }
            if b < n { return at + Int64(b) }
            at += Int64(n)
        }
    }

    /// Forgets buffered bytes past the current record, so the next read sees the file as it is
    /// now (a writer may have cut a torn tail and written new records there). A mapped segment is
    /// finished: it already shows the file as it is.
    func dropBuffered() {
        if map == nil { end = start }
    }

    /// The last `count` bytes of the file, or nil when it is shorter.
    func lastBytes(_ count: Int) throws(JournalError) -> [UInt8]? {
        let fileEnd = size()
        guard fileEnd >= Int64(count) else { return nil }
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, count - got, off_t(fileEnd) - off_t(count - got)) }
            if n < 0 { if errno == EINTR { continue }; throw .io(path: path, operation: "read", errno: errno) }
            if n == 0 { return nil }
            got += n
        }
        return bytes
    }

    /// The file's current size.
    func size() -> Int64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int64(st.st_size) : -1
    }
}
