import Foundation

/// A finished segment file mapped read-only: a replay parses its records where they lie, instead
/// of copying each byte twice (from the page cache into a read buffer, then into the chunk that
/// outlives that buffer). Records read from it stay valid as long as it is held.
///
/// Only a segment with a later one is mapped: the writer never shortens it again (it cuts a
/// segment only while that is the live one), and reading a mapping past a file's end, shortened
/// after it was mapped, would kill the process (SIGBUS) instead of reporting damage.
public final class SegmentMap: @unchecked Sendable {
    /// The file's bytes, as many as it had when mapped.
    let bytes: UnsafeRawBufferPointer

    /// Maps `size` bytes of the file open as `fd`; nil when it cannot be mapped (then it is read).
    init?(fd: Int32, size: Int) {
        guard size > 0 else { return nil }
        let p = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0)
        guard let p, p != MAP_FAILED else { return nil }
        // Read front to back once: the kernel fetches ahead (the journal may be cold) and may drop behind.
        _ = madvise(p, size, MADV_SEQUENTIAL)
        _ = madvise(p, size, MADV_WILLNEED)
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count) }
}
