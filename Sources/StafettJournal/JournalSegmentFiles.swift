import Foundation

/// The journal's segment files: recovery at open, creating a segment, and the write and sync
/// helpers the flusher uses. Kept apart from `Journal.swift`, which is about appending.
extension Journal {
    /// Walks the journal and cuts a torn tail back to the last whole record.
    static func recover(directory: String, options: JournalOptions) throws
        -> (JournalWalkResult, JournalTail?, Int64) {
        var walker = JournalWalker(directory: directory, checkChain: true, checkpointKey: options.signingKey)
        walker.lastSegmentOnly = !options.verifyAllAtOpen
        var walk = try walker.walk()
        if let damage = walk.damage { throw JournalError.damaged(directory: directory, damage: [damage]) }
        guard case let .torn(segment, _, _, _) = walk.tail else { return (walk, nil, 0) }
        let tail = walk.tail
        if walk.lastSegmentValidEnd < Int64(JournalFormat.headerSize) {
            // A crash while starting a segment: drop it; the previous segment holds the chain state.
            var st = stat()
            let size = stat(segment, &st) == 0 ? Int64(st.st_size) : 0
            guard unlink(segment) == 0 else { throw JournalError.io(path: segment, operation: "unlink", errno: errno) }
            try fsyncDirectory(directory)
            walk = try walker.walk()
            if let damage = walk.damage { throw JournalError.damaged(directory: directory, damage: [damage]) }
            return (walk, tail, size)
        }
        let f = open(segment, O_WRONLY | O_CLOEXEC)
        guard f >= 0 else { throw JournalError.io(path: segment, operation: "open", errno: errno) }
        defer { Glibc.close(f) }
        var st = stat()
        fstat(f, &st)
        let cut = Int64(st.st_size) - walk.lastSegmentValidEnd
        guard ftruncate(f, off_t(walk.lastSegmentValidEnd)) == 0, fsync(f) == 0 else {
            throw JournalError.io(path: segment, operation: "truncate", errno: errno)
        }
        walk.tail = .clean
        return (walk, tail, cut)
    }

    /// A segment's mode: the daemon writes, the journal directory's group reads, others nothing.
    static let segmentMode: mode_t = 0o640

    static func createSegment(path: String, directory: String, header: [UInt8]) throws(JournalError) -> Int32 {
        let f = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, segmentMode)
        guard f >= 0 else { throw .io(path: path, operation: "create", errno: errno) }
        // Operators read the journal through the group of its (setgid) directory; a umask must not
        // take that away.
        _ = fchmod(f, segmentMode)
        guard header.withUnsafeBytes({ pwriteAll(f, $0, at: 0) }), fdatasync(f) == 0 else {
            let e = errno
            Glibc.close(f)
            throw .io(path: path, operation: "write", errno: e)
        }
        try fsyncDirectory(directory)
        return f
    }

    static func fsyncDirectory(_ directory: String) throws(JournalError) {
        let d = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard d >= 0 else { throw .io(path: directory, operation: "open", errno: errno) }
        defer { Glibc.close(d) }
        guard fsync(d) == 0 else { throw .io(path: directory, operation: "fsync", errno: errno) }
    }

    static let zeroPage = [UInt8](repeating: 0, count: 1 << 16)

    /// Fills `from..<to` of `f` with zeros.
    static func writeZeros(_ f: Int32, from: Int64, to: Int64) -> Bool {
        var at = from
        return zeroPage.withUnsafeBytes { zeros in
            while at < to {
                let n = Int(min(Int64(zeros.count), to - at))
                guard pwriteAll(f, UnsafeRawBufferPointer(rebasing: zeros[0..<n]), at: at) else { return false }
                at += Int64(n)
            }
            return true
        }
    }

    static func pwriteAll(_ f: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = pwrite(f, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 { if errno == EINTR { continue }; return false }
            done += n
        }
        return true
    }
}
