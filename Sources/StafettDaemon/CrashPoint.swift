import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Named steps where a crash-window test kills the daemon, as a SIGKILL arriving exactly there
/// would: `STAFETT_CRASH_AT=<name>` in the daemon's environment makes `reach(<name>)` kill it.
/// Unset, as in every real deployment, a step costs one comparison of a string read at start.
enum CrashPoint {
    /// After a delivery's outcome is journaled, before its message leaves the queue.
    static let afterOutcomeJournaled = "after-outcome-journaled"

    private static let armed = ProcessInfo.processInfo.environment["STAFETT_CRASH_AT"]

    /// Kills this process when the environment names `step`.
    static func reach(_ step: String) {
        if armed == step { kill(getpid(), SIGKILL) }
    }
}
