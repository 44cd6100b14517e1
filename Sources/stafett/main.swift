import Foundation
import StafettCLI
import StafettDaemon

// The operator CLI; everything lives in StafettCLI so it can be tested. `stafett demo` starts
// its daemons from this same binary (DaemonLauncher.forThisProgram), which then runs as stafettd.
let argv = Array(CommandLine.arguments.dropFirst())
DaemonCommand.runIfSelfLaunched(argv)
signal(SIGPIPE, SIG_IGN)
exit(StafettTool.main(argv))
