import StafettDaemon

// stafettd: the daemon. Its command line lives in StafettDaemon (DaemonCommand).
DaemonCommand.main(Array(CommandLine.arguments.dropFirst()))
