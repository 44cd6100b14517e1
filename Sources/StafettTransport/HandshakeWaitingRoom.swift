import Foundation

/// Connections the accept loop has taken but not yet given a thread: those whose first TLS
/// record (the ClientHello) has not all arrived. They sit in the accept loop's own poll set, so a
/// flood of silent connections costs the server an accept, a poll entry and a close each, not a
/// thread each; a thread, and with it the TLS handshake, starts only once there is a ClientHello
/// to answer. A real client sends its whole ClientHello with, or right after, its TCP handshake,
/// so it usually leaves the room at once, often before its first poll.
///
/// Not thread-safe: only the accept loop uses it.
struct HandshakeWaitingRoom {
    /// What a held connection has come to.
    enum Verdict: Equatable {
        /// Its first record is all in (or is not a TLS handshake record at all, which the
        /// handshake will refuse with a proper reason): give it a thread.
        case ready
        /// It closed or failed before sending a whole first record.
        case closed
        /// Its time to send the first record ran out; `spoke` tells whether any bytes came.
        case expired(spoke: Bool)
    }

    struct Held {
        /// When its whole first record is due.
        var firstRecordBy: Deadline
        /// When its handshake must be done, counted from its arrival.
        var handshakeBy: Deadline
    }

    private var due: [Int32: Held] = [:]
    /// Held connections with some bytes in but not a whole record. They are peeked again on a
    /// short timer rather than polled: poll(2) would report them readable at once, forever, and
    /// turn one dribbling client into a busy accept loop.
    private var partial: Set<Int32> = []
    private var scratch = [UInt8](repeating: 0, count: HandshakeWaitingRoom.largestRecord)

    /// A TLS record's header and its largest body (RFC 8446, 5.1: 2^14 bytes of plaintext; a
    /// ClientHello is sent in the clear, so this is the bound a whole first record stays within).
    static let largestRecord = 5 + (1 << 14)
    /// How often connections holding part of a record are looked at again.
    static let partialRecheck: Duration = .milliseconds(20)

    var count: Int { due.count }
    var held: Dictionary<Int32, Held>.Keys { due.keys }
    func contains(_ fd: Int32) -> Bool { due[fd] != nil }

    /// Looks at a new connection: `.ready` when its first record is in already (it needs no room),
    /// otherwise holds it and returns nil (or `.closed` when it has gone).
    mutating func admit(_ fd: Int32, _ held: Held) -> Verdict? {
        switch look(at: fd) {
        case .whole: return .ready
        case .gone: return .closed
        case .nothing: due[fd] = held
        case .part:
            due[fd] = held
            partial.insert(fd)
        }
        return nil
    }

    /// Lets go of `fd` (evicted, or handed on); says whether it was held.
    @discardableResult
    mutating func release(_ fd: Int32) -> Bool {
        partial.remove(fd)
        return due.removeValue(forKey: fd) != nil
    }

    /// Waits until `listenFD` has a connection to accept, a held connection has something to
    /// show, one's time runs out, or `deadline`; throws `.stopped` when `wakeFD` fires. Returns
    /// whether to accept, and the held connections that left the room, with their verdicts and
    /// handshake deadlines.
    mutating func wait(listenFD: Int32, wakeFD: Int32, until deadline: Deadline) throws(IOFailure)
        -> (accept: Bool, left: [(fd: Int32, verdict: Verdict, handshakeBy: Deadline)]) {
        var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        fds.reserveCapacity(2 + due.count)
        var wakeAt = deadline
        for (fd, held) in due {
            if held.firstRecordBy < wakeAt { wakeAt = held.firstRecordBy }
            if !partial.contains(fd) { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
        }
        if !partial.isEmpty { wakeAt = min(wakeAt, .after(Self.partialRecheck)) }
        let r = poll(&fds, nfds_t(fds.count), wakeAt.remainingMilliseconds)
        if r < 0, errno != EINTR { throw .system(errno) }
        if fds[1].revents != 0 { throw .stopped }

        var left: [(Int32, Verdict)] = []
        for p in fds.dropFirst(2) where p.revents != 0 {
            switch look(at: p.fd) {
            case .nothing: break
            case .part: partial.insert(p.fd)
            case .whole: left.append((p.fd, .ready))
            case .gone: left.append((p.fd, .closed))
            }
        }
        for fd in partial where !left.contains(where: { $0.0 == fd }) {
            switch look(at: fd) {
            case .nothing, .part: break
            case .whole: left.append((fd, .ready))
            case .gone: left.append((fd, .closed))
            }
        }
        let now = Deadline.now()
        for (fd, held) in due where held.firstRecordBy <= now && !left.contains(where: { $0.0 == fd }) {
            left.append((fd, .expired(spoke: partial.contains(fd))))
        }
        let leaving = left.map { (fd: $0.0, verdict: $0.1, handshakeBy: due[$0.0]!.handshakeBy) }
        for (fd, _) in left { release(fd) }
        return (fds[0].revents != 0, leaving)
    }

    private enum Sight { case nothing, part, whole, gone }

    /// Peeks at what `fd` has sent, without taking it from the socket (the handshake reads it).
    private mutating func look(at fd: Int32) -> Sight {
        let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
        if n == 0 { return .gone }
        if n < 0 { return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? .nothing : .gone }
        // 22 is the handshake content type. Anything else is no ClientHello: the handshake says so.
        guard scratch[0] == 22 else { return .whole }
        guard n >= 5 else { return .part }
        let length = Int(scratch[3]) << 8 | Int(scratch[4])
        return n >= 5 + length || 5 + length > scratch.count ? .whole : .part
    }
}
