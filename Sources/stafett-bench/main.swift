import Foundation
import StafettCrypto
import StafettCLI
import StafettDaemon

// stafett-bench [pipeline|journal|e2e|all] [--seconds S] ...
// Prints figures as ratios against anchors measured in the same run.
// `e2e` starts its daemons from this binary (DaemonLauncher.forThisProgram), which then runs as stafettd.
DaemonCommand.runIfSelfLaunched(Array(CommandLine.arguments.dropFirst()))
// `growth` measures the operator commands in children of this same binary.
if CommandLine.arguments.dropFirst().first == GrowthBenchmark.runAsCLIArgument {
    exit(StafettTool.main(Array(CommandLine.arguments.dropFirst(2))))
}
signal(SIGPIPE, SIG_IGN)
let argv = Array(CommandLine.arguments.dropFirst())
let which = argv.first.map { $0.hasPrefix("-") ? "all" : $0 } ?? "all"
let args = argv.first.map { $0.hasPrefix("-") } == false ? Array(argv.dropFirst()) : argv
@MainActor func option(_ name: String, _ fallback: Double) -> Double {
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Double(args[i + 1]) else { return fallback }
    return v
}
if args.contains("--help") || !["pipeline", "checks", "journal", "e2e", "flood", "intake-memory", "soak", "fanin", "growth", "all"].contains(which) {
    print("""
        usage: stafett-bench [pipeline|checks|journal|e2e|flood|intake-memory|soak|fanin|growth|all] [--seconds S]
          pipeline  translate + validate + sign records/s beside the bare sign rate (issue 2)
          checks    µs of CPU per document for the receiver's and the sender's checks beside a bare verify (issue 4's breakdown)
                    STAFETT_BENCH_CALLS=N calls each stage exactly N times (for callgrind)
          journal   durable appends/s (1, 8, 64 appender threads; 64, 256 async tasks) beside raw fdatasync/s; followup and verify
                    over a generated journal of --records N (default 1000000) (issue 3);
                    STAFETT_BENCH_JOURNAL=DIR keeps and reuses that journal, STAFETT_BENCH_ONLY=threads64,tasks64,batch,followup,verify
                    runs only those phases (threads1, threads8, tasks256 too)
          e2e       outbox-to-receipt records/s and latency p50/p99 between two stafettd on loopback;
                    --messages N (default 5000), --rate R (default 100), --postfix for the anchor (issue 4);
                    STAFETT_BENCH_CONNECTIONS=N connections per peer (16), STAFETT_BENCH_KEEP=1 keeps the run's files
                    STAFETT_BENCH_BATCH=N messages per request between the daemons (default [delivery] batch; 1 = none)
                    --rate drops by rename without fsyncs, as a case system does; STAFETT_BENCH_DROP_SYNC=1 fsyncs each drop
          flood     a configured peer's submissions (each on a new connection) while --connections N (2000) silent connections
                    from --addresses A (200) loopback addresses flood the receiver; --rate R (50) for --seconds S (10) (issue 14)
          intake-memory  peak resident memory of `stafett validate` (a child per file) for a 50 MiB single line a;a;a…, a 64 MiB
                    well-formed export and 64 MiB of Windows-1252 €, beside each file's size and the bound 4× + fixed (issue 14)
          soak      --records N (10000) dropped at --rate R (50) records/s while --kills K (20) random SIGKILLs hit either
                    daemon; prints lost/duplicated and both journals' verify; exit 1 if any is bad or after --timeout S (1800)
                    (--seed X repeats a run's files and kills; issue 14, scripts/soak.sh)
          fanin     --peers N (300) organisations, each its own certificate and --connections C (2) keep-alive connections,
                    against one stafettd: connect all at once, --seconds S (30) at 1 record/s per peer, a --burst B (100)
                    records from every peer at once, SIGHUP reload, restart; receiver threads, descriptors, peak RSS;
                    a refused attempt is retried after --backoff SECONDS (30, the daemon's initial-backoff) (issue 15)
          growth    stafettd launch to serving, followup, case and journal verify (time, peak memory of a child) over
                    generated journals of --sizes N,M (1000000,10000000) records spanning --span-days D (90);
                    STAFETT_BENCH_JOURNAL=DIR keeps and reuses them in DIR/records-N (issue 15)
        e2e, soak, fanin and growth run their daemons from this binary (the daemon code of the same build).
        Build with -c release: swift run -c release stafett-bench
        """)
    exit(which == "all" || args.contains("--help") ? 0 : 2)
}
#if DEBUG
print("warning: this is a debug build; run `swift run -c release stafett-bench` for real figures")
#endif
do {
    if which == "pipeline" || which == "all" { try PipelineBenchmark.run(seconds: option("--seconds", 2), keys: args.contains("--ecdsa") ? "ecdsa" : args.contains("--rsa") ? "rsa" : "all",
                              breakdown: !args.contains("--no-breakdown")) }
    if which == "checks" || which == "all" { try ChecksBenchmark.run(seconds: option("--seconds", 2) / 4) }
    if which == "journal" || which == "all" {
        print("== journal")
        try JournalBenchmark.run(scratch: FileManager.default.temporaryDirectory.path, records: Int(option("--records", 1_000_000)),
                                 signingKey: try Key.generate(), seconds: option("--seconds", 2))
    }
    if which == "e2e" || which == "all" {
        try EndToEndBenchmark.run(messages: Int(option("--messages", 5000)), rate: option("--rate", 100),
                                  latencySeconds: option("--latency-seconds", 10), postfix: args.contains("--postfix"))
    }
    if which == "intake-memory" { try IntakeMemoryBenchmark.run() }
    if which == "soak" {
        exit(try SoakBenchmark.run(.init(records: Int(option("--records", 10000)), kills: Int(option("--kills", 20)), rate: option("--rate", 50),
                                         timeout: option("--timeout", 1800), seed: UInt64(option("--seed", Double(UInt32.random(in: 1...UInt32.max)))))) ? 0 : 1)
    }
    if which == "fanin" {
        try FanInBenchmark.run(.init(peers: Int(option("--peers", 300)), seconds: Int(option("--seconds", 30)),
                                     burst: Int(option("--burst", 100)), connections: Int(option("--connections", 2)),
                                     backoff: option("--backoff", 30)))
    }
    if which == "growth" {
        let sizes = args.firstIndex(of: "--sizes").flatMap { i in i + 1 < args.count ? args[i + 1] : nil }
            .map { $0.split(separator: ",").compactMap { Int($0) } } ?? [1_000_000, 10_000_000]
        try GrowthBenchmark.run(sizes: sizes, spanDays: option("--span-days", 90))
    }
    if which == "flood" {
        try FloodBenchmark.run(connections: Int(option("--connections", 2000)), addresses: Int(option("--addresses", 200)),
                               seconds: option("--seconds", 10), rate: option("--rate", 50))
    }
} catch {
    FileHandle.standardError.write(Data("stafett-bench: \(error)\n".utf8))
    exit(1)
}
