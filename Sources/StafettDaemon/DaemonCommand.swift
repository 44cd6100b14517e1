import Foundation
import CShims

/// The release both programs report with `--version`.
public enum StafettVersion {
    public static let string = "0.1.0"
}

/// `stafettd`'s command line. It lives in the library, not in the `stafettd` executable, so
/// that `stafett demo` and `stafett-bench` can run the daemon from their own binary: a fresh
/// `swift run stafett demo` builds only the `stafett` product, and a sibling `stafettd` need
/// not exist yet.
public enum DaemonCommand {
    /// The argument a program that links the daemon passes first to run as `stafettd`.
    public static let selfLaunchArgument = "--run-as-stafettd"

    /// For the `main` of a program that links the daemon (`stafett`, `stafett-bench`): runs
    /// as `stafettd` (and never returns) when `selfLaunchArgument` comes first, and otherwise
    /// records that this program can start daemons from its own binary. A test runner, which
    /// never calls this, starts the `stafettd` built beside it instead.
    public static func runIfSelfLaunched(_ arguments: [String]) {
        if arguments.first == selfLaunchArgument { main(Array(arguments.dropFirst())) }
        selfLaunchable.set()
    }

    /// Whether this process's `main` called `runIfSelfLaunched`.
    public static var canSelfLaunch: Bool { selfLaunchable.isSet }

    private static let selfLaunchable = OnceFlag()

    static let usage = """
        usage: stafettd --config FILE [--check] [--log-level LEVEL]
               stafettd --config FILE --reload [--pid PID]
               stafettd --version

        Runs Stafett for one organisation: watches the outbox, signs and delivers case messages over
        mutual TLS, receives peers' messages into the inbox, and journals every hand-off.
        --check     check the configuration, keys, certificates and directories as the calling user
                    (run it as the service user: sudo -u stafett stafettd --check), then exit; it
                    writes nothing and may run beside the daemon
        --reload    ask the running daemon to reload (SIGHUP) and wait for its answer: exits 0 when
                    it took the configuration, 1 with its error (file:line) when it kept the running
                    one; the unit's ExecReload, so `systemctl reload` fails when the reload did
        --pid PID   the daemon to reload (systemd's $MAINPID; default: the pid file)
        --log-level error, warning, notice, info (default) or debug
        --version   print the version and exit
        It refuses to run as root (exit status 77): files it wrote would strand the service user.
        For a throwaway test network only, STAFETT_ALLOW_ROOT=1 lets it (the log says so loudly);
        --check as root runs, with a warning. Private keys and the journal secret must be open to the
        service user only (mode 0600, or 0640 with the service's own group).
        Signals: SIGHUP reloads the configuration and peers, SIGTERM drains and exits.
        """

    /// Runs the daemon (or `--check`, `--help`, `--version`) and never returns.
    /// Call it before any thread starts: libdispatch must see every SIGTERM.
    public static func main(_ arguments: [String]) -> Never {
        Signals.block([SIGHUP, SIGTERM, SIGINT, SIGUSR1])
        Signals.ignoreSIGPIPE()
        var configPath = "/etc/stafett/stafett.conf"
        var check = false
        var reload = false
        var pid: Int32?
        var level = LogLevel.info
        var argv = arguments[...]
        func usageError(_ message: String) -> Never {
            FileHandle.standardError.write(Data("stafettd: \(message)\n\(usage)\n".utf8))
            exit(2)
        }
        while let arg = argv.popFirst() {
            switch arg {
            case "--config", "-c":
                guard let v = argv.popFirst() else { usageError("--config needs a file") }
                configPath = v
            case "--check": check = true
            case "--reload": reload = true
            case "--pid":
                guard let v = argv.popFirst(), let p = Int32(v), p > 0 else { usageError("--pid needs a process id") }
                pid = p
            case "--log-level":
                guard let v = argv.popFirst(), let l = LogLevel(name: v) else { usageError("bad --log-level") }
                level = l
            case "--help", "-h": print(usage); exit(0)
            case "--version", "-V": print("stafettd \(StafettVersion.string)"); exit(0)
            default: usageError("unknown argument \(arg)")
            }
        }
        if pid != nil && !reload { usageError("--pid goes with --reload") }
        if reload && check { usageError("--reload and --check are separate steps") }
        let log = Logger(minimumLevel: level)
        // A signal and a file to read: root may ask as well as the service user.
        if reload { requestReload(configPath: configPath, pid: pid) }
        switch ServiceUser.rootDecision(euid: geteuid(), check: check, environment: ProcessInfo.processInfo.environment) {
        case .run: break
        case .checkWithWarning(let text): log.warning("stafettd: \(text)")
        case .runAllowed(let text): log.warning("stafettd: \(text)")
        case .refuse(let text):
            log.error("stafettd: \(text)")
            exit(ServiceUser.refusedExitCode)
        }
        if check {
            do {
                for note in try Daemon.check(configPath: configPath) { log.warning(note) }
                print("stafettd: \(configPath): configuration, keys and certificates OK")
                exit(0)
            } catch {
                log.error("stafettd: \(error)")
                exit(1)
            }
        }
        limitMallocArenas()
        do {
            let daemon = try Daemon(configPath: configPath, log: log)
            daemon.installSignalHandlers()
            try daemon.start()
            withExtendedLifetime(daemon) { dispatchMain() }
        } catch {
            log.error("stafettd: cannot start: \(error)")
            exit(1)
        }
    }
}

extension DaemonCommand {
    /// glibc gives a process up to 8 malloc arenas per core, and a thread takes the first free
    /// one; each arena keeps what its threads freed for their next allocation. With a thread per
    /// connection, a burst from hundreds of peers spreads over all of them, and what the burst
    /// freed stays resident in each: at 300 peers the receiver peaked at 247 MB with the default
    /// and 167 MB with 2 arenas (`stafett-bench fanin --peers 300`). Two per core keep the
    /// threads of a 2-core node from queueing for one arena's lock; each thread's own cache
    /// (tcache) serves most of the small allocations without taking it at all.
    static func limitMallocArenas() {
        _ = stafett_set_malloc_arena_max(Int32(max(2, 2 * ProcessInfo.processInfo.activeProcessorCount)))
    }

    /// How long `--reload` waits for the daemon's answer: under systemd's default `TimeoutSec`
    /// for `ExecReload=` (90 s), so it is this command, with its message, that gives up.
    static let reloadTimeout: TimeInterval = 60

    /// `--reload`: the configuration file names the state directory where the daemon answers. A
    /// file that cannot be read is refused here, as the daemon would refuse it, without a signal.
    static func requestReload(configPath: String, pid: Int32?) -> Never {
        let fail = { (message: String) -> Never in
            FileHandle.standardError.write(Data("stafettd: reload refused, the running configuration is kept: \(message)\n".utf8))
            exit(1)
        }
        let config: StafettConfig
        do { config = try StafettConfig.load(path: configPath) } catch { fail("\(error)") }
        let answer: ReloadAnswer
        do { answer = try ReloadRequest.run(layout: config.paths.layout, pid: pid, timeout: reloadTimeout) } catch { fail("\(error)") }
        guard answer.state == .ok else { fail(answer.message) }
        print("stafettd: \(answer.message)")
        exit(0)
    }
}

/// A flag set once, read from any thread.
private final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
