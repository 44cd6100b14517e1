import Foundation

// stafett-bench [pipeline|journal|e2e|all] [--seconds S] ...
// Prints figures as ratios against anchors measured in the same run.
signal(SIGPIPE, SIG_IGN)
let argv = Array(CommandLine.arguments.dropFirst())
let which = argv.first.map { $0.hasPrefix("-") ? "all" : $0 } ?? "all"
let args = argv.first.map { $0.hasPrefix("-") } == false ? Array(argv.dropFirst()) : argv
@MainActor func option(_ name: String, _ fallback: Double) -> Double {
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Double(args[i + 1]) else { return fallback }
    return v
}
if args.contains("--help") || !["pipeline", "journal", "e2e", "all"].contains(which) {
    print("""
        usage: stafett-bench [pipeline|journal|e2e|all] [--seconds S]
          pipeline  translate + validate + sign records/s beside the bare sign rate (issue 2)
        Build with -c release: swift run -c release stafett-bench
        """)
    exit(which == "all" || args.contains("--help") ? 0 : 2)
}
#if DEBUG
print("warning: this is a debug build; run `swift run -c release stafett-bench` for real figures")
#endif
do {
    if which == "pipeline" || which == "all" { try PipelineBenchmark.run(seconds: option("--seconds", 2)) }
} catch {
    FileHandle.standardError.write(Data("stafett-bench: \(error)\n".utf8))
    exit(1)
}
