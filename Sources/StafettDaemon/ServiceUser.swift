import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Who the daemon runs as, and the rules that follow from it: never root, private keys shut to
/// everyone else, and a file it may not open named as a permission problem.
public enum ServiceUser {
    /// The environment variable that lets `stafettd` run as root, for throwaway networks only
    /// (`stafett demo`, `stafett-bench`, the tests on CI machines that run as root). The systemd
    /// unit never sets it.
    public static let allowRootVariable = "STAFETT_ALLOW_ROOT"

    /// `stafettd`'s exit status when it refuses to run as root (EX_NOPERM of sysexits.h).
    public static let refusedExitCode: Int32 = 77

    /// What `stafettd` does about the user it was started as.
    public enum RootDecision: Equatable, Sendable {
        /// Not root: run.
        case run
        /// Root, and `--check`: run, with this warning.
        case checkWithWarning(String)
        /// Root with `STAFETT_ALLOW_ROOT=1`: run, saying this loudly.
        case runAllowed(String)
        /// Root: refuse, with this message.
        case refuse(String)
    }

    /// The decision for effective user `euid`, `--check` or not, and the environment.
    public static func rootDecision(euid: uid_t, check: Bool, environment: [String: String]) -> RootDecision {
        guard euid == 0 else { return .run }
        if check {
            return .checkWithWarning("running --check as root proves nothing about what the service user may read: "
                + "run it as the service user: sudo -u stafett stafettd --check --config FILE")
        }
        if environment[allowRootVariable] == "1" {
            return .runAllowed("RUNNING AS ROOT because \(allowRootVariable)=1 is set: for a throwaway test network only. "
                + "Files written now belong to root, and a node run as the stafett user cannot use them")
        }
        return .refuse("refusing to run as root: spool, queue and journal files written as root would stop the service "
            + "(run as user stafett) from using them. Start it with: systemctl start stafettd, "
            + "or: sudo -u stafett stafettd --config FILE")
    }

    /// The name of the effective user (or its number when it has no name), for error messages.
    public static var currentUserName: String {
        let uid = geteuid()
        if let pw = getpwuid(uid), let name = pw.pointee.pw_name { return String(cString: name) }
        return "uid \(uid)"
    }

    /// Why `path` cannot be opened for reading by this process, or nil when it can.
    /// A permission problem (EACCES, EPERM: the file's mode, or a directory on the way that this
    /// user may not enter) is never reported as a missing file.
    public static func readProblem(_ path: String) -> FileProblem? {
        // O_NONBLOCK: a FIFO put where a key belongs must not hang the check.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        if fd >= 0 { close(fd); return nil }
        return FileProblem(path: path, errno: errno)
    }

    /// Why a private key (or the journal secret) at `path` is open to too many, or nil when it is
    /// not. As sshd does: no permission bit for others, and for the group at most read, and only
    /// when the file's group is this process's own group (`root:stafett 0640`, the Debian way
    /// for a key the administrator owns). Symbolic links are followed: the file counts.
    public static func exposure(ofPrivateFile path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }  // readProblem names that
        let mode = st.st_mode & 0o777
        let groupReadOfOwnGroup = st.st_gid == getegid() && mode & 0o070 == 0o040
        let tooOpen = mode & 0o007 != 0 || (mode & 0o070 != 0 && !groupReadOfOwnGroup)
        guard tooOpen else { return nil }
        return String(format: "is readable or writable by others (mode %04o)", mode)
    }
}

/// A file this process could not open, and why, in an operator's words.
public struct FileProblem: Sendable, Equatable, CustomStringConvertible {
    /// The path concerned.
    public var path: String
    /// The system's error number.
    public var errno: Int32

    /// A problem with `path`, from the system's error number.
    public init(path: String, errno: Int32) {
        self.path = path
        self.errno = errno
    }

    /// True for EACCES and EPERM.
    public var isPermission: Bool { errno == EACCES || errno == EPERM }
    /// True when the file (or a directory on its path) does not exist.
    public var isMissing: Bool { errno == ENOENT || errno == ENOTDIR }

    /// `permission denied: PATH (running as user X)`, `'PATH' does not exist`, or the system's words.
    public var description: String {
        if isPermission { return "permission denied: \(path) (running as user \(ServiceUser.currentUserName))" }
        if isMissing { return "'\(path)' does not exist" }
        return "'\(path)': \(String(cString: strerror(errno)))"
    }

    /// The description about a named file: `TLS key 'PATH' does not exist`, `TLS key: permission denied: …`.
    public func about(_ what: String) -> String {
        isPermission ? "\(what): \(description)" : "\(what) \(description)"
    }

    /// What to do about it.
    public var hint: String {
        if isPermission {
            return "let the service user read it and enter every directory above it (chown, chmod or chgrp), "
                + "and run --check as that user"
        }
        if isMissing { return "create it or correct the path" }
        return "check the file"
    }
}
