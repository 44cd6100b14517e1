import Foundation

/// How `systemctl reload` learns whether the daemon took the new configuration: SIGHUP alone
/// cannot answer, so the daemon writes the outcome of each reload to `reload-result` in its state
/// directory, and `stafettd --reload` (the unit's `ExecReload=`) sends SIGHUP, waits for the
/// answer to its own signal and exits non-zero, with the daemon's message, when it was refused.
public struct ReloadAnswer: Codable, Equatable, Sendable {
    public enum State: String, Codable, Sendable {
        /// Started (generation 0) or the configuration in force is the one just read.
        case ok
        /// A reload began and has not finished: its answer will have the next generation.
        case reloading
        /// The file was refused; the running configuration is kept.
        case failed
    }

    /// The daemon that wrote it: an answer left by an earlier run is not an answer to this signal.
    public var pid: Int32
    /// 0 at start, one more for each reload begun.
    public var generation: Int
    public var state: State
    /// The error (with `file:line` for a configuration mistake), or what was reloaded.
    public var message: String

    public init(pid: Int32, generation: Int, state: State, message: String) {
        self.pid = pid
        self.generation = generation
        self.state = state
        self.message = message
    }

    /// `reload-result` in the state directory.
    public static func file(in layout: SpoolLayout) -> URL { layout.state.appendingPathComponent("reload-result") }

    /// Replaces the answer on disk, readable by the operators who run the reload.
    public func write(to url: URL) throws {
        try AtomicFile.write(try JSONEncoder().encode(self), to: url, mode: 0o644)
    }

    /// The answer on disk, nil when there is none (or it cannot be read: the same to a waiter).
    public static func read(_ url: URL) -> ReloadAnswer? {
        (try? Data(contentsOf: url)).flatMap { try? JSONDecoder().decode(ReloadAnswer.self, from: $0) }
    }

    /// The answer with generation `before + 1` is the one to a SIGHUP sent now, unless a reload
    /// is under way: it may have read the file before the edit, and the signal sent now makes
    /// the daemon reload once more after it.
    static func generationAnswering(signalSentAfter before: ReloadAnswer?, pid: Int32) -> Int {
        guard let before, before.pid == pid else { return 1 }
        return before.generation + (before.state == .reloading ? 2 : 1)
    }
}

/// Why `stafettd --reload` could not get an answer.
public enum ReloadRequestError: Error, CustomStringConvertible {
    case noDaemon(pidFile: String, detail: String)
    case otherStateDirectory(pid: Int32, pidFile: String)
    case signalFailed(pid: Int32, errno: Int32)
    case noAnswer(pid: Int32, seconds: Int, file: String)

    public var description: String {
        switch self {
        case let .noDaemon(pidFile, detail):
            return "no running stafettd to reload: \(pidFile): \(detail)"
        case let .otherStateDirectory(pid, pidFile):
            return "stafettd (pid \(pid)) does not use \(pidFile): the configured state directory changed; restart it to apply"
        case let .signalFailed(pid, e):
            return "cannot signal stafettd (pid \(pid)): \(String(cString: strerror(e)))"
        case let .noAnswer(pid, seconds, file):
            return "stafettd (pid \(pid)) did not answer the reload in \(file) within \(seconds) s; see its log (journalctl -u stafettd)"
        }
    }
}

/// `stafettd --reload`: asks the running daemon to reload and waits for its answer.
public enum ReloadRequest {
    /// Sends SIGHUP to `pid` (default: the one in the pid file) and returns the daemon's answer to
    /// it; throws when there is no daemon or no answer within `timeout`.
    public static func run(layout: SpoolLayout, pid given: Int32?, timeout: TimeInterval) throws -> ReloadAnswer {
        let pidFile = layout.state.appendingPathComponent("stafettd.pid").path
        let recorded: Int32?
        do {
            recorded = Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            // systemd's $MAINPID without a pid file here: the daemon writes elsewhere.
            if let given { throw ReloadRequestError.otherStateDirectory(pid: given, pidFile: pidFile) }
            throw ReloadRequestError.noDaemon(pidFile: pidFile, detail: (error as NSError).localizedDescription)
        }
        guard let pid = given ?? recorded else { throw ReloadRequestError.noDaemon(pidFile: pidFile, detail: "holds no process id") }
        guard recorded == pid else { throw ReloadRequestError.otherStateDirectory(pid: pid, pidFile: pidFile) }
        let file = ReloadAnswer.file(in: layout)
        let wanted = ReloadAnswer.generationAnswering(signalSentAfter: ReloadAnswer.read(file), pid: pid)
        guard kill(pid, SIGHUP) == 0 else {
            if errno == ESRCH { throw ReloadRequestError.noDaemon(pidFile: pidFile, detail: "process \(pid) is not running") }
            throw ReloadRequestError.signalFailed(pid: pid, errno: errno)
        }
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if let answer = ReloadAnswer.read(file), answer.pid == pid, answer.generation >= wanted, answer.state != .reloading {
                return answer
            }
            usleep(50_000)
        } while Date() < deadline
        throw ReloadRequestError.noAnswer(pid: pid, seconds: Int(timeout), file: file.path)
    }
}
