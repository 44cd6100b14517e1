import Foundation
import StafettDaemon
#if canImport(Glibc)
import Glibc
#endif

/// Where a command writes. The executable passes stdout and stderr; tests pass files or keep the
/// output in memory (`Console.memory()`).
///
/// Writes with write(2), not FileHandle: `stafett journal tail | head` closes the pipe early, and
/// a reader going away must end the output quietly, not crash the command.
public final class Console: @unchecked Sendable {
    private let outFD: Int32
    private let errFD: Int32
    private let lock = NSLock()
    private var closed: Set<Int32> = []
    /// Standard output held back inside `buffered`: a journal scan prints a line per record, and
    /// a system call per line would dominate it.
    private var pending: [UInt8] = []
    private var buffering = false
    /// What a memory console was given, by stream (its descriptors are negative).
    private var captured: [Int32: [UInt8]] = [:]

    /// Creates a console over two file descriptors.
    public init(out: Int32 = STDOUT_FILENO, err: Int32 = STDERR_FILENO) {
        outFD = out
        errFD = err
    }

    /// Creates a console over two file handles (tests use pipes or files).
    public convenience init(out: FileHandle, err: FileHandle) {
        self.init(out: out.fileDescriptor, err: err.fileDescriptor)
    }

    /// A console that keeps what is written, read back with `output` and `errors`.
    public static func memory() -> Console { Console(out: -1, err: -2) }

    /// Everything written to standard output so far, for a memory console.
    public var output: String { capturedText(outFD) }
    /// Everything written to standard error so far, for a memory console.
    public var errors: String { capturedText(errFD) }

    /// Writes a line to standard output.
    public func print(_ line: String) { write(line + "\n") }
    /// Writes text to standard output without a newline.
    public func write(_ text: String) { send(Array(text.utf8), to: outFD) }
    /// Writes raw bytes to standard output.
    public func write(_ data: Data) { send(Array(data), to: outFD) }
    /// Writes bytes to standard output, without a copy into `Data` and back (a report of most of a
    /// million rows hands over a megabyte at a time).
    public func write(_ bytes: [UInt8]) { send(bytes, to: outFD) }
    /// Writes a line to standard error.
    public func error(_ line: String) { send(Array((line + "\n").utf8), to: errFD) }

    /// Runs `body` with standard output buffered in large pieces, and writes what is left when it
    /// returns. Standard error is never held back; it first writes what output is pending, so the
    /// two keep their order on a terminal.
    public func buffered<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        let outer = buffering
        buffering = true
        lock.unlock()
        defer {
            lock.lock()
            buffering = outer
            if !outer { flushLocked() }
            lock.unlock()
        }
        return try body()
    }

    /// Writes the buffered output now (a follower does after each batch of new records).
    public func flush() {
        lock.lock()
        defer { lock.unlock() }
        flushLocked()
    }

    /// True when standard output is a terminal (a person reading), not a pipe or a file (a script).
    public var outputIsTerminal: Bool { isatty(outFD) == 1 }

    /// The columns a table may fill (`TextTable`): `$COLUMNS` when set, else the terminal's width;
    /// nil when standard output is a pipe or a file, which get whole lines. Tests set it.
    public var width: Int? {
        get {
            lock.lock()
            defer { lock.unlock() }
            if let widthOverride { return widthOverride }
            if let columns = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), columns > 0 { return columns }
            guard outFD >= 0, isatty(outFD) == 1 else { return nil }
            var size = winsize()
            guard ioctl(outFD, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
            return Int(size.ws_col)
        }
        set { lock.withLock { widthOverride = newValue } }
    }
    private var widthOverride: Int?

    /// Prints `table` fitted to `width`.
    func print(_ table: TextTable) {
        for line in table.lines(width: width) { print(line) }
    }

    /// False once the reader of standard output has gone away (EPIPE): followers should stop.
    public var outputIsOpen: Bool {
        lock.lock()
        defer { lock.unlock() }
        return !closed.contains(outFD)
    }

    private func send(_ bytes: [UInt8], to fd: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if fd == outFD, buffering {
            pending.append(contentsOf: bytes)
            if pending.count > 1 << 16 { flushLocked() }
            return
        }
        flushLocked()
        deliver(bytes, to: fd)
    }

    private func flushLocked() {
        guard !pending.isEmpty else { return }
        deliver(pending, to: outFD)
        pending.removeAll(keepingCapacity: true)
    }

    private func deliver(_ bytes: [UInt8], to fd: Int32) {
        if fd < 0 { captured[fd, default: []].append(contentsOf: bytes); return }
        guard !closed.contains(fd) else { return }
        // EPIPE or a closed descriptor: stop writing there.
        if AtomicFile.writeAll(fd, Data(bytes)) != 0 { closed.insert(fd) }
    }

    private func capturedText(_ fd: Int32) -> String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: (captured[fd] ?? []) + (fd == outFD ? pending : []), as: UTF8.self)
    }
}
