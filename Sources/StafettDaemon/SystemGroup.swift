import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A group of the system's group database, looked up by name.
public struct SystemGroup: Sendable, Equatable {
    /// The group's name.
    public let name: String
    /// Its id.
    public let id: gid_t

    /// The group called `name`, or nil when the database has none (a development machine
    /// without Stafett's groups) or cannot be read.
    public init?(named name: String) {
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16 << 10)
        let found = buffer.withUnsafeMutableBufferPointer { buf in
            getgrnam_r(name, &group, buf.baseAddress, buf.count, &result) == 0 && result != nil
        }
        guard found else { return nil }
        self.name = name
        self.id = group.gr_gid
    }

    /// The name of group `id`, or its number when the database does not know it.
    public static func name(of id: gid_t) -> String {
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16 << 10)
        let name = buffer.withUnsafeMutableBufferPointer { buf -> String? in
            guard getgrgid_r(id, &group, buf.baseAddress, buf.count, &result) == 0, result != nil, let n = group.gr_name else { return nil }
            return String(cString: n)
        }
        return name ?? String(id)
    }
}
