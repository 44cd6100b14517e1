import Foundation
import StafettCLI

// The operator CLI; everything lives in StafettCLI so it can be tested.
signal(SIGPIPE, SIG_IGN)
exit(StafettTool.main(Array(CommandLine.arguments.dropFirst())))
