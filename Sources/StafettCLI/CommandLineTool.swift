import Foundation
import StafettDaemon
import StafettModel

/// One `stafett` sub-command.
public struct Subcommand: Sendable {
    /// The word after `stafett`.
    public var name: String
    /// One line for `stafett --help`.
    public var summary: String
    /// Runs the command with the arguments after its name; returns the exit code.
    public var run: @Sendable ([String], Console) -> Int32

    /// Creates a sub-command.
    public init(name: String, summary: String, run: @escaping @Sendable ([String], Console) -> Int32) {
        self.name = name
        self.summary = summary
        self.run = run
    }
}

/// The operator CLI: dispatches `stafett <command> ...`.
public enum StafettTool {
    /// Every command, in the order `stafett --help` lists them.
    public static let commands: [Subcommand] = [
        IntakeCommands.validate, IntakeCommands.translate,
        SignatureCommands.sign, SignatureCommands.verify,
        journal, followup, caseHistory, ReceiptCommand.command,
        QueueCommand.command,
        DemoCommand.command,
    ]

    static let journal = Subcommand(name: "journal", summary: "tail or verify the journal (journal tail -f, journal verify)") { argv, console in
        JournalCommand.run(JournalCLIContext.withDefaultConfig(argv),
                           context: JournalCLIContext(outputIsTerminal: console.outputIsTerminal), console: console)
    }
    static let followup = Subcommand(name: "followup", summary: "children whose hand-off was never confirmed, or missing and not found") { argv, console in
        FollowupCommand.run(JournalCLIContext.withDefaultConfig(argv), context: JournalCLIContext(), console: console)
    }
    static let caseHistory = Subcommand(name: "case", summary: "the whole history of one child, by any identifier") { argv, console in
        CaseCommand.run(JournalCLIContext.withDefaultConfig(argv), context: JournalCLIContext(), console: console)
    }

    /// Runs the tool on `argv` (without the program name) and returns the exit code.
    public static func main(_ argv: [String], console: Console = Console()) -> Int32 {
        guard let name = argv.first, name != "--help", name != "-h", name != "help" else {
            console.print(usage)
            return argv.isEmpty ? ExitCode.usage : ExitCode.ok
        }
        if name == "--version" { console.print("stafett \(version)"); return ExitCode.ok }
        guard let command = commands.first(where: { $0.name == name }) else {
            let hint = commands.min { editDistance($0.name, name) < editDistance($1.name, name) }
                .flatMap { editDistance($0.name, name) <= 2 ? " (did you mean \($0.name)?)" : nil } ?? ""
            console.error("stafett: unknown command \(name)\(hint); see stafett --help")
            return ExitCode.usage
        }
        return command.run(Array(argv.dropFirst()), console)
    }

    /// The version string.
    public static let version = StafettVersion.string

    static var usage: String {
        var lines = ["usage: stafett <command> [options]", "", "commands:"]
        let width = commands.map(\.name.count).max() ?? 0
        for c in commands { lines.append("  " + c.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + c.summary) }
        lines += ["", "Every command takes --help.",
                  "Exit codes: 0 ok, 1 something checked was invalid (followup --check: something is overdue),",
                  "2 usage error, 3 operational failure (journal verify: a torn tail), 4 nothing found (case, receipt),",
                  "5 the journal could not be read (journal, followup, case, receipt)."]
        return lines.joined(separator: "\n")
    }

    /// Parses arguments for a command, printing usage for `--help` or a usage error.
    /// Returns nil when the caller should exit with `exitCode`.
    static func parse(_ argv: [String], usage: String, console: Console, options: Set<String> = [],
                      flags: Set<String> = [], aliases: [String: String] = [:],
                      exitCode: inout Int32) -> Arguments? {
        do {
            let args = try Arguments(argv, options: options, flags: flags, aliases: aliases)
            if args.wantsHelp { console.print(usage); exitCode = ExitCode.ok; return nil }
            return args
        } catch {
            console.error("stafett: \(error.message)\n\(usage)")
            exitCode = ExitCode.usage
            return nil
        }
    }
}
