#if STAFETT_LIBFUZZER
import CLibFuzzer
import Foundation
import StafettFuzzTargets

/// Hands the process to libFuzzer with one harness. Only in scripts/fuzz.sh's build, where
/// -sanitize=fuzzer links libFuzzer (whose own `main` SwiftPM's entry point replaces).
enum LibFuzzerDriver {
    /// The harness libFuzzer calls; set once before the driver starts, read only after.
    nonisolated(unsafe) static var target: FuzzTarget?

    static func run() -> Never {
        guard let name = ProcessInfo.processInfo.environment["STAFETT_FUZZ_TARGET"], let t = FuzzTargets.named(name) else {
            FuzzMain.fail("set STAFETT_FUZZ_TARGET to one of: " + FuzzTargets.all.map(\.name).joined(separator: ", "))
        }
        // One input before libFuzzer counts allocations per input: state a harness makes once on
        // first use (the xmldsig key, say) would otherwise look like a leak of the first input.
        t.run([])
        target = t
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            LibFuzzerDriver.target?.run(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        })
    }
}
#endif
