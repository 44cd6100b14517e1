import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The peak resident memory of a child process, as the kernel counted it (`wait4`'s
/// `ru_maxrss`): what the memory bounds of issue 14 are measured with, by `stafett-bench
/// intake-memory` and the tests.
public enum PeakMemory {
    /// The child could not be started or waited for, or a signal ended it.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// Runs `program` with its output thrown away; returns the child's peak resident memory in bytes.
    public static func ofChild(_ program: String, _ arguments: [String]) throws -> Int {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, program, &actions, nil, argv, environ)
        guard rc == 0 else { throw PeakMemory.Failure("cannot start \(program): \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw PeakMemory.Failure("wait4: \(String(cString: strerror(errno)))") }
        }
        // Exit 1 is "invalid", which the pathological files are; a signal (the OOM killer) is not.
        guard status & 0x7F == 0 else { throw PeakMemory.Failure("\(program) \(arguments.joined(separator: " ")) was killed by signal \(status & 0x7F)") }
        return Int(usage.ru_maxrss) * 1024  // kibibytes on Linux
    }
}
