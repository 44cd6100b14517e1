import Foundation
import StafettFuzzTargets

/// `stafett-fuzz`: the harnesses of StafettFuzzTargets behind a command line. A normal build
/// replays inputs (to reproduce a crash under a debugger, or without sanitizers); the build
/// scripts/fuzz.sh makes (-sanitize=fuzzer,address -DSTAFETT_LIBFUZZER) hands the process to
/// libFuzzer with the target named by STAFETT_FUZZ_TARGET.
@main
struct FuzzMain {
    static let usage = """
        usage: stafett-fuzz list
               stafett-fuzz run TARGET FILE|DIRECTORY...
               stafett-fuzz make-seeds EXAMPLES-DIRECTORY CORPUS-DIRECTORY
        built by scripts/fuzz.sh: STAFETT_FUZZ_TARGET=TARGET stafett-fuzz [libFuzzer flags] [CORPUS...]
        """

    static func main() {
        #if STAFETT_LIBFUZZER
        LibFuzzerDriver.run()
        #else
        let args = Array(CommandLine.arguments.dropFirst())
        switch (args.first, args.count) {
        case ("list", 1):
            for t in FuzzTargets.all { print("\(t.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(t.summary)") }
        case ("run", 3...):
            guard let target = FuzzTargets.named(args[1]) else { fail("no fuzz target \(args[1]); `stafett-fuzz list` names them") }
            Replay.run(target, paths: Array(args.dropFirst(2)))
        case ("make-seeds", 3):
            do {
                try SeedMaker.write(examples: URL(fileURLWithPath: args[1]), into: URL(fileURLWithPath: args[2]))
            } catch {
                fail("make-seeds: \(error)")
            }
        default:
            fail(usage)
        }
        #endif
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data((message + "\n").utf8))
        exit(2)
    }
}
