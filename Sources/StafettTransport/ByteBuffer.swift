import Foundation

/// A growable read buffer: bytes arrive at the end, are consumed from the front, and the
/// unconsumed rest is moved down only when room is needed.
struct ByteBuffer {
    private(set) var storage: [UInt8]
    private(set) var start = 0
    private(set) var end = 0
    let initialCapacity: Int

    init(capacity: Int) {
        initialCapacity = capacity
        storage = [UInt8](repeating: 0, count: capacity)
    }

    var readable: Int { end - start }
    var isEmpty: Bool { start == end }

    /// Reads once from `channel` into free space, making at least `atLeast` bytes of room.
    mutating func fill(from channel: Channel, atLeast: Int = 4096, until deadline: Deadline, wakeFD: Int32 = -1) throws(IOFailure) {
        if storage.count - end < atLeast {
            if start > 0 {
                storage.withUnsafeMutableBytes { raw in
                    _ = memmove(raw.baseAddress!, raw.baseAddress! + start, end - start)
                }
                end -= start
                start = 0
            }
            if storage.count - end < atLeast {
                storage.append(contentsOf: repeatElement(0, count: max(atLeast, storage.count) - (storage.count - end)))
            }
        }
        let e = end
        let result: Result<Int, IOFailure> = storage.withUnsafeMutableBytes { raw in
            let free = UnsafeMutableRawBufferPointer(rebasing: raw[e...])
            do throws(IOFailure) { return .success(try channel.read(into: free, until: deadline, wakeFD: wakeFD)) } catch {
                return .failure(error)
            }
        }
        end += try result.get()
    }

    /// Runs `body` over the unconsumed bytes.
    func withReadableBytes<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        storage.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start..<end])) }
    }

    mutating func consume(_ n: Int) {
        start += n
        if start == end { reset() }
    }

    /// Removes and returns the first `n` bytes.
    mutating func take(_ n: Int) -> Data {
        guard n > 0 else { return Data() }
        let d = Data(storage[start..<(start + n)])
        consume(n)
        return d
    }

    /// Empties the buffer; a buffer grown for a large body shrinks back.
    mutating func reset() {
        start = 0
        end = 0
        if storage.count > 4 * initialCapacity { storage = [UInt8](repeating: 0, count: initialCapacity) }
    }
}
