import Foundation
import StafettDaemon
#if canImport(Glibc)
import Glibc
#endif

/// A journal, queue or archive the operator may not read: names the directory that refuses and
/// the group that would let them in, where "does not exist" (what a refused `stat` looks like
/// to most code) would send them looking for a missing installation.
struct PermissionDeniedError: Error, CustomStringConvertible {
    /// What the command was to read.
    var path: String
    /// The first directory (or the file) on the way that refuses this user.
    var refusing: String
    /// The group that gives read access to `refusing`, when its mode grants one.
    var group: String?

    var description: String {
        var text = "permission denied reading \(path)"
        if refusing != path { text += " (\(refusing) refuses you)" }
        guard let group else {
            return text + ": no group may read it; ask the administrator to share it with the operators group "
                + "(stafett-operators, [access] operators-group in stafett.conf), or run the command as the stafett user (sudo -u stafett)"
        }
        return text + ": add yourself to the group \(group) (sudo adduser $USER \(group)), then log in again"
    }

    /// The error for `path` when this user may not read it (a directory: list and enter it);
    /// nil when they may, or when it fails for another reason (missing), which callers report as before.
    static func check(_ path: String) -> PermissionDeniedError? {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        var prefix = ""
        var components = absolute.split(separator: "/").map(String.init)
        let last = components.popLast()
        for c in components {
            prefix += "/" + c
            if let refused = refusal(prefix, need: X_OK, path: absolute) { return refused }
        }
        guard let last else { return nil }
        prefix += "/" + last
        var st = stat()
        let isDirectory = stat(prefix, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
        return refusal(prefix, need: isDirectory ? R_OK | X_OK : R_OK, path: absolute)
    }

    private static func refusal(_ candidate: String, need: Int32, path: String) -> PermissionDeniedError? {
        guard access(candidate, need) != 0, errno == EACCES else { return nil }
        var st = stat()
        guard stat(candidate, &st) == 0 else { return PermissionDeniedError(path: path, refusing: candidate, group: nil) }
        // The group's bits must grant what is needed: read (and enter, for a directory).
        let isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
        let groupNeeds: mode_t = need == X_OK ? 0o010 : isDirectory ? 0o050 : 0o040
        let grants = st.st_mode & groupNeeds == groupNeeds && st.st_gid != 0
        return PermissionDeniedError(path: path, refusing: candidate, group: grants ? SystemGroup.name(of: st.st_gid) : nil)
    }
}
