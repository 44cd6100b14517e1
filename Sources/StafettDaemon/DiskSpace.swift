import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The free space on the file systems of the spool and the journal, against a reserve kept free
/// (`reserve`, 64 MiB).
///
/// Why a reserve rather than handling ENOSPC where it happens: a journal write that fails leaves
/// the journal refusing every append until it is reopened (what reached the disk is unknown), so
/// the daemon stops taking new work while the journal still has room for the records of the work
/// already under way (receipts, expiries): intake leaves files in the outbox and the receiver
/// answers 503, which senders retry. Once space is freed, both simply go on.
public struct DiskSpace: Sendable {
    /// The directories whose file systems are watched: the spool and the journal.
    public var directories: [String]
    /// Bytes that must stay free on each: room for the journal to grow by whole preallocation
    /// steps (1 MiB) for the records of work under way, and for the queue files of an intake file
    /// taken just before the check.
    public static let reserve = 64 << 20

    /// For a node's spool and journal.
    public init(layout: SpoolLayout) {
        directories = [layout.spool.path, layout.journal.path]
    }

    /// Bytes available to the daemon on the file system holding `path` (nil when it cannot be asked).
    public static func available(at path: String) -> Int? {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return nil }
        return Int(st.f_bavail) * Int(st.f_frsize)
    }

    /// Nil while every file system has more than the reserve free; else why not, for the log,
    /// a refusal and `stafett queue`. Sets the `stafett_disk_space_low` gauge either way.
    public func shortage(metrics: Metrics? = nil) -> String? {
        var why: String?
        for dir in directories {
            guard let free = DiskSpace.available(at: dir), free < DiskSpace.reserve else { continue }
            why = "the file system of \(dir) has \(free >> 10) KiB free, less than the \(DiskSpace.reserve >> 20) MiB kept free: "
                + "free some space there"
            break
        }
        metrics?.set("stafett_disk_space_low", why == nil ? 0 : 1)
        return why
    }
}
