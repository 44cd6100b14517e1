import CShims
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Durable file operations for the spool: a file is either wholly there or not at all, and a
/// rename is on disk before anyone is told it happened.
public enum AtomicFile {
    /// The mode of every file the daemon makes in the spool: readable by the group of the
    /// directory it is in (a setgid directory of DESIGN's "Who may touch what" gives its files
    /// that group), never by others. Set explicitly, whatever the umask.
    public static let sharedFileMode: mode_t = 0o640
    /// The set-group-ID bit of a directory: what is made in it takes the directory's group.
    public static let setgidBit: mode_t = 0o2000

    /// Writes `data` to a temporary name in the target's directory, fsyncs it, renames it over
    /// `url` and fsyncs the directory. Missing parent directories are created (0700) durably.
    public static func write(_ data: Data, to url: URL, mode: mode_t = 0o600, inheritDirectoryMode: Bool = false) throws(SpoolError) {
        let dir = url.deletingLastPathComponent()
        try makeDirectories(dir, inheritMode: inheritDirectoryMode)
        // A name near NAME_MAX leaves no room for the temporary's additions: then a short one.
        let base = url.lastPathComponent.utf8.count > 200 ? "long-name" : url.lastPathComponent
        let tmp = dir.appendingPathComponent(".\(base).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
        let fd = open(tmp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .errno(tmp.path, "create") }
        // The daemon runs with umask 0077 (the unit): a wider mode asked for is set explicitly.
        if mode & 0o077 != 0 { _ = fchmod(fd, mode) }
        var ok = false
        defer {
            if !ok { unlink(tmp.path) }
        }
        do {
            defer { close(fd) }
            let failure = writeAll(fd, data)
            if failure != 0 { throw .errno(tmp.path, "write", failure) }
            guard fsync(fd) == 0 else { throw .errno(tmp.path, "fsync") }
        }
        guard rename(tmp.path, url.path) == 0 else { throw .errno(url.path, "rename") }
        ok = true
        try syncDirectory(dir)
    }

    /// Writes all of `data` to `fd` (retrying short writes and EINTR); returns 0, or the errno.
    public static func writeAll(_ fd: Int32, _ data: Data) -> Int32 {
        data.withUnsafeBytes { raw -> Int32 in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += n
            }
            return 0
        }
    }

    /// Writes `data` to a fresh temporary name in `directory` without syncing, for the file `name`
    /// there; a `CommitBatcher` round syncs it and renames it. A missing directory is created
    /// (durably). `name` must be a single safe file name (see `SpoolLayout.join`).
    public static func stage(_ data: Data, in directory: String, as name: String) throws(SpoolError) -> (temporary: String, final: String) {
        let tmp = SpoolLayout.join(directory, ".\(name).\(UInt64.random(in: 0...UInt64.max)).tmp")
        try writeNew(data, to: tmp, creatingDirectory: directory)
        return (tmp, SpoolLayout.join(directory, name))
    }

    /// Writes `data` (not synced) as `.<name>.stage` beside `name`: a fixed name, so a file staged
    /// before a crash can be found and finished or dropped at start (`SpoolLayout.recoverStagedInbox`).
    /// Callers serialise per name (the receiver does, per sender and message id).
    public static func stageForRecovery(_ data: Data, in directory: String, as name: String) throws(SpoolError) -> (temporary: String, final: String) {
        let staged = SpoolLayout.join(directory, ".\(name).stage")
        try writeNew(data, to: staged, creatingDirectory: directory)
        return (staged, SpoolLayout.join(directory, name))
    }

    /// Writes a new file without syncing, exclusively (O_EXCL): a stale temporary of the same name
    /// is replaced. With `directory`, a missing directory is created (durably) and the write tried
    /// again: the failed open tells that the directory is missing, so the common case, where it
    /// exists, costs no check.
    static func writeNew(_ data: Data, to path: String, creatingDirectory directory: String? = nil) throws(SpoolError) {
        var unlinked = false, created = false
        var fd: Int32
        while true {
            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, sharedFileMode)
            if fd >= 0 {
                // The unit's umask would take the group's read away.
                _ = fchmod(fd, sharedFileMode)
                break
            }
            let code = errno
            if code == EINTR { continue }
            if code == EEXIST && !unlinked {
                unlink(path)
                unlinked = true
                continue
            }
            if code == ENOENT, let directory, !created {
                try makeDirectories(URL(fileURLWithPath: directory, isDirectory: true))
                created = true
                continue
            }
            throw .errno(path, "create", code)
        }
        defer { close(fd) }
        let failure = writeAll(fd, data)
        if failure != 0 { unlink(path); throw .errno(path, "write", failure) }
    }

    /// Moves a file to `destination` (creating its sub-folders durably), never replacing another
    /// file there: if the name is taken, `-2`, `-3`, ... is added before the extension. Both
    /// directories are fsynced before returning. Returns where the file ended up.
    ///
    /// The move is a hard link then an unlink, so at every instant the file exists under at least
    /// one name; a crash in between leaves it under both, and a repeated move notices (same inode)
    /// and only removes the source.
    @discardableResult
    public static func move(from source: URL, to destination: URL, inheritDirectoryMode: Bool = false) throws(SpoolError) -> URL {
        try moveAll([(source, destination)], inheritDirectoryMode: inheritDirectoryMode)[0].get()
    }

    /// Gives `source` a second name: `destination`, or its first free numbered variant, or the
    /// name that already holds `source` itself (a move a crash interrupted). On file systems
    /// without hard links it is renamed there instead (`renamed`: the source name is gone already).
    /// Nothing is synced.
    private static func linkUnderFreeName(_ source: URL, _ destination: URL) throws(SpoolError) -> (target: URL, renamed: Bool) {
        var target = destination
        var attempt = 1
        while true {
            if link(source.path, target.path) == 0 { return (target, false) }
            let code = errno
            if code == EEXIST {
                if sameFile(source.path, target.path) { return (target, false) }
                attempt += 1
                guard attempt < 10_000 else { throw .errno(target.path, "link", code) }
                target = numbered(destination, attempt)
                continue
            }
            if code == EPERM || code == EOPNOTSUPP {
                // File systems without hard links: a plain rename after an existence check.
                if FileManager.default.fileExists(atPath: target.path) {
                    attempt += 1
                    target = numbered(destination, attempt)
                    continue
                }
                guard rename(source.path, target.path) == 0 else { throw .errno(target.path, "rename") }
                return (target, true)
            }
            throw .errno(target.path, "link", code)
        }
    }

    /// `move` for files that were taken in together, sharing the flushes: one `syncfs` per file
    /// system for the files' data, the links, one fsync per destination directory, the unlinks,
    /// one fsync per source directory. Alone, each file would pay a flush for its data and one for
    /// each of its two directories. Each file's outcome is its own: one that cannot move stays
    /// where it is and the others still move.
    ///
    /// `dataFlushedOn`: a file system whose `syncfs` began after every source on it was last
    /// written (intake reads its inputs in full, and its round's commit flushes the spool's file
    /// system after that: `CommitBatcher.commitReportingFlush`); the data of sources there is
    /// durable already and is not flushed again.
    public static func moveAll(_ moves: [(source: URL, destination: URL)], inheritDirectoryMode: Bool = false,
                               dataFlushedOn flushedDevice: UInt64? = nil) -> [Result<URL, SpoolError>] {
        var results = [Result<URL, SpoolError>?](repeating: nil, count: moves.count)
        switch flushData(of: moves.map(\.source), except: flushedDevice) {
        case .failure(let error): return moves.map { _ in .failure(error) }
        case .success(let missing): for (i, error) in missing { results[i] = .failure(error) }
        }
        // Each distinct folder is made (or found) once, and folders are worked out as paths: a
        // round's inputs mostly share theirs, and every URL step re-validates the whole path.
        let sourceDirectories = moves.map { CommitBatcher.parentDirectory(of: $0.source.path) }
        let targetDirectories = moves.map { CommitBatcher.parentDirectory(of: $0.destination.path) }
        var made: Set<String> = [], notMade: [String: SpoolError] = [:]
        var linked: [(index: Int, target: URL, renamed: Bool)] = []
        for (i, m) in moves.enumerated() where results[i] == nil {
            do throws(SpoolError) {
                let dir = targetDirectories[i]
                if let error = notMade[dir] { throw error }
                if !made.contains(dir) {
                    do throws(SpoolError) {
                        try makeDirectories(URL(fileURLWithPath: dir, isDirectory: true), inheritMode: inheritDirectoryMode)
                    } catch {
                        notMade[dir] = error
                        throw error
                    }
                    made.insert(dir)
                }
                let (target, renamed) = try linkUnderFreeName(m.source, m.destination)
                linked.append((i, target, renamed))
            } catch {
                results[i] = .failure(error)
            }
        }
        // The new names must be durable before the old ones go. A numbered name is in its
        // destination's folder.
        let targetSynced = syncDirectories(linked.map { targetDirectories[$0.index] })
        var unlinked: [Int] = []
        for l in linked {
            if let error = targetSynced[targetDirectories[l.index]] { results[l.index] = .failure(error); continue }
            if !l.renamed && unlink(moves[l.index].source.path) != 0 {
                results[l.index] = .failure(.errno(moves[l.index].source.path, "unlink"))
                continue
            }
            unlinked.append(l.index)
            results[l.index] = .success(l.target)
        }
        let sourceSynced = syncDirectories(unlinked.map { sourceDirectories[$0] })
        for i in unlinked {
            if let error = sourceSynced[sourceDirectories[i]] { results[i] = .failure(error) }
        }
        return results.map { $0! }
    }

    /// Makes the data of the regular files among `sources` durable: an fsync for one file, one
    /// `syncfs` per file system for several (through a descriptor of one of them, opened before
    /// the flush, so that it hears of a write-back error). A symbolic link or a FIFO that was
    /// refused has no data and is never opened (opening a FIFO would wait for a writer); a file we
    /// may not open (refused for that) we also never read, and it moves as it is. Returns the
    /// sources that cannot be moved (gone, or not openable), or the error of a flush that failed:
    /// which file's data did not reach the disk is then unknown, and none may move. Regular files
    /// on `flushedDevice` are durable already (see `moveAll`) and are left alone.
    private static func flushData(of sources: [URL], except flushedDevice: UInt64?) -> Result<[Int: SpoolError], SpoolError> {
        var missing: [Int: SpoolError] = [:]
        var regular: [(index: Int, device: UInt64)] = []
        for (i, source) in sources.enumerated() {
            var st = stat()
            guard lstat(source.path, &st) == 0 else { missing[i] = .errno(source.path, "open"); continue }
            if st.st_mode & S_IFMT == S_IFREG, UInt64(st.st_dev) != flushedDevice { regular.append((i, UInt64(st.st_dev))) }
        }
        var flushed: Set<UInt64> = []
        for r in regular where !flushed.contains(r.device) {
            let path = sources[r.index].path
            let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
            if fd < 0 {
                if errno != EACCES && errno != EPERM { missing[r.index] = .errno(path, "open") }
                continue
            }
            let synced = regular.count == 1 ? fsync(fd) : stafett_syncfs(fd)
            let syncErr = errno
            close(fd)
            guard synced == 0 else { return .failure(.errno(path, regular.count == 1 ? "fsync" : "syncfs", syncErr)) }
            flushed.insert(r.device)
        }
        return .success(missing)
    }

    /// fsyncs each distinct directory once; returns the error of each that failed.
    private static func syncDirectories(_ dirs: [String]) -> [String: SpoolError] {
        var failed: [String: SpoolError] = [:]
        for dir in Set(dirs) {
            do throws(SpoolError) { try syncDirectory(dir) } catch { failed[dir] = error }
        }
        return failed
    }

    /// `destination`, or the first free numbered variant of it (`name-2.csv`, ...); or the name
    /// that already holds `source` itself (a move a crash interrupted between its link and its
    /// unlink), so that finishing it does not give the file a second name.
    public static func uniqueDestination(_ destination: URL, for source: URL? = nil) throws(SpoolError) -> URL {
        var target = destination
        var attempt = 1
        while FileManager.default.fileExists(atPath: target.path) {
            if let source, sameFile(source.path, target.path) { return target }
            attempt += 1
            guard attempt < 10_000 else { throw SpoolError(path: destination.path, operation: "choose name", reason: "too many files of this name") }
            target = numbered(destination, attempt)
        }
        return target
    }

    /// Writes `<file>.errors.txt` beside where `file` is (or will be), atomically. Returns its URL.
    /// It is for whoever dropped `input`: readable by the group of `failed/` (the intake group,
    /// through its setgid bit), and by others only when the input was; a missing sub-folder
    /// gets the mode of the folder it is made in.
    @discardableResult
    public static func writeErrorsFile(_ report: String, for file: URL, readableLike input: URL? = nil) throws(SpoolError) -> URL {
        let url = file.deletingLastPathComponent().appendingPathComponent(SpoolLayout.reportName(for: file.lastPathComponent))
        var text = report
        if !text.hasSuffix("\n") { text += "\n" }
        var mode = sharedFileMode
        var st = stat()
        // A symbolic link's own mode is always 0777: only a regular file's says who may read.
        if let input, lstat(input.path, &st) == 0, st.st_mode & S_IFMT == S_IFREG { mode |= st.st_mode & 0o004 }
        try write(Data(text.utf8), to: url, mode: mode, inheritDirectoryMode: input != nil)
        return url
    }

    /// Creates `dir` and any missing parents with mode 0700, or with `inheritMode` the mode of the
    /// directory each is made in (an outbox the operator shares with a group keeps its mode in the
    /// sub-folders of `accepted/` and `failed/`), fsyncing each parent after a creation. A folder
    /// made in a setgid directory (shared with a group, see `SpoolLayout.sharedDirectories`) is
    /// always shared like it: `archive/<peer>/` stays readable by the operators.
    /// Returns the directories it created, parents first.
    @discardableResult
    public static func makeDirectories(_ dir: URL, inheritMode: Bool = false) throws(SpoolError) -> [URL] {
        var missing: [URL] = []
        var cur = dir.standardizedFileURL
        while !isDirectory(cur.path) {
            missing.append(cur)
            let parent = cur.deletingLastPathComponent()
            if parent.path == cur.path { break }
            cur = parent
        }
        var created: [URL] = []
        for d in missing.reversed() {
            if mkdir(d.path, 0o700) != 0 {
                if errno == EEXIST, isDirectory(d.path) { continue }
                throw .errno(d.path, "mkdir")
            }
            var parent = stat()
            if stat(d.deletingLastPathComponent().path, &parent) == 0 {
                if inheritMode {
                    _ = chmod(d.path, parent.st_mode & 0o7777)
                } else if parent.st_mode & setgidBit != 0 {
                    _ = chmod(d.path, parent.st_mode & 0o2770)
                }
            }
            created.append(d)
            try syncDirectory(d.deletingLastPathComponent())
        }
        return created
    }

    /// fsync on a directory, which makes the names in it (creations, renames, unlinks) durable.
    public static func syncDirectory(_ dir: URL) throws(SpoolError) {
        try syncDirectory(dir.path)
    }

    /// `syncDirectory(_:)` on a path.
    public static func syncDirectory(_ dir: String) throws(SpoolError) {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .errno(dir, "open directory") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .errno(dir, "fsync directory") }
    }

    /// One flush for everything on the file system holding `dir` (Linux `syncfs`): data and
    /// metadata of every file written there, whoever wrote it.
    static func syncFileSystem(_ dir: String) throws(SpoolError) {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .errno(dir, "open directory") }
        defer { close(fd) }
        guard stafett_syncfs(fd) == 0 else { throw .errno(dir, "syncfs") }
    }

    /// The whole content of the file at `path`, or nil when there is no such file. One open tells
    /// both, where `FileManager` would stat first; the read follows the file to its end, so a file
    /// that grows meanwhile is still read whole.
    public static func readIfPresent(_ path: String) throws(SpoolError) -> Data? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw .errno(path, "open")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .errno(path, "stat") }
        // One byte more than the size, so end of file shows without growing the buffer.
        var data = Data(count: max(Int(st.st_size), 0) + 1)
        var used = 0
        while true {
            if used == data.count { data.count += max(data.count, 4096) }
            let n = data.withUnsafeMutableBytes { raw in Glibc.read(fd, raw.baseAddress! + used, raw.count - used) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .errno(path, "read")
            }
            if n == 0 { break }
            used += n
        }
        data.count = used
        return data
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    static func numbered(_ url: URL, _ n: Int) -> URL {
        let name = url.lastPathComponent
        let dir = url.deletingLastPathComponent()
        // Keep the extension so Excel still opens failed/intake-2.csv.
        if let dot = name.lastIndex(of: "."), dot != name.startIndex {
            return dir.appendingPathComponent("\(name[..<dot])-\(n)\(name[dot...])")
        }
        return dir.appendingPathComponent("\(name)-\(n)")
    }
}
