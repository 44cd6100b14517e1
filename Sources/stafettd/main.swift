import Foundation
import StafettDaemon

// stafettd --config FILE [--check]: the daemon. Everything lives in StafettDaemon.
let usage = """
    usage: stafettd --config FILE [--check] [--log-level LEVEL]

    Runs Stafett for one organisation: watches the outbox, signs and delivers case messages over
    mutual TLS, receives peers' messages into the inbox, and journals every hand-off.
    --check     check the configuration, keys, certificates and directories as the calling user
                (run it as the service user: sudo -u stafett stafettd --check), then exit; it
                writes nothing and may run beside the daemon
    --log-level error, warning, notice, info (default) or debug
    Signals: SIGHUP reloads the configuration and peers, SIGTERM drains and exits.
    """
// Signals must be blocked before any thread starts, so libdispatch sees every SIGTERM.
Signals.block([SIGHUP, SIGTERM, SIGINT, SIGUSR1])
Signals.ignoreSIGPIPE()
var configPath = "/etc/stafett/stafett.conf"
var check = false
var level = LogLevel.info
var argv = CommandLine.arguments.dropFirst()
while let arg = argv.popFirst() {
    switch arg {
    case "--config", "-c":
        guard let v = argv.popFirst() else { FileHandle.standardError.write(Data("stafettd: --config needs a file\n".utf8)); exit(2) }
        configPath = v
    case "--check": check = true
    case "--log-level":
        guard let v = argv.popFirst(), let l = LogLevel(name: v) else { FileHandle.standardError.write(Data("stafettd: bad --log-level\n".utf8)); exit(2) }
        level = l
    case "--help", "-h": print(usage); exit(0)
    default: FileHandle.standardError.write(Data("stafettd: unknown argument \(arg)\n\(usage)\n".utf8)); exit(2)
    }
}
let log = Logger(minimumLevel: level)
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
do {
    let daemon = try Daemon(configPath: configPath, log: log)
    daemon.installSignalHandlers()
    try daemon.start()
    withExtendedLifetime(daemon) { dispatchMain() }
} catch {
    log.error("stafettd: cannot start: \(error)")
    exit(1)
}
