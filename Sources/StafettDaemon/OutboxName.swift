import Foundation
import StafettModel
#if canImport(Glibc)
import Glibc
#endif

/// The names people and programs give files in the outbox, and what the daemon makes of them.
///
/// A name is bytes to Linux. Swift strings (and so every path the daemon builds) are UTF-8, so a
/// name that is not (`Överföring.csv` saved in Latin-1 by an old Windows tool) is first given a
/// UTF-8 name in the same folder (`utf8Name`), then handled like any other file; its old name is
/// logged escaped. Control characters are legal in names but split a log line or a report line:
/// wherever a name is shown, it is `escaped`.
public enum OutboxName {
    /// Files office machines leave in shared folders (Windows Explorer, macOS Finder, Excel's
    /// lock files): never intake, never failed, never journaled. `.DS_Store` and other dot-files
    /// are ignored by the dot rule already.
    public static func isClutter(_ name: String) -> Bool {
        let lower = name.lowercased()
        return lower == "desktop.ini" || lower == "thumbs.db" || lower == "ehthumbs.db" || name.hasPrefix("~$")
    }

    /// The name as a log line, journal record or report may show it: control characters as `\n`,
    /// `\t`, `\r` or `\u{7F}`, a backslash as `\\`; printable text unchanged.
    public static func escaped(_ name: String) -> String {
        var out = ""
        for scalar in name.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                    out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// Raw name bytes, shown safely: valid UTF-8 as `escaped` shows it, every other byte as `\xNN`.
    public static func escaped(bytes: [UInt8]) -> String {
        var out = ""
        var i = 0
        while i < bytes.count {
            let length = utf8SequenceLength(bytes, at: i)
            if length > 0 {
                out += escaped(String(decoding: bytes[i..<i + length], as: UTF8.self))
                i += length
            } else {
                out += String(format: "\\x%02X", bytes[i])
                i += 1
            }
        }
        return out
    }

    /// The name as UTF-8, when it is.
    public static func utf8(_ bytes: [UInt8]) -> String? {
        String(validating: bytes, as: UTF8.self)
    }

    /// The UTF-8 name a non-UTF-8 name takes: its bytes read as Windows-1252, which is what the
    /// Swedish Windows that wrote it showed (`\xD6verf\xF6ring.csv` becomes `Överföring.csv`);
    /// control characters and '/' (from bytes 1252 leaves undefined) become `_`.
    public static func utf8Name(forRawName bytes: [UInt8]) -> String {
        let text = IntakeTextEncoding.windows1252String(bytes)
        return String(String.UnicodeScalarView(text.unicodeScalars.map { s in
            s.value < 0x20 || (0x7F...0x9F).contains(s.value) || s == "/" ? "_" : s
        }))
    }

    /// Bytes a valid UTF-8 sequence at `i` takes, or 0 when none starts there.
    private static func utf8SequenceLength(_ b: [UInt8], at i: Int) -> Int {
        let lead = b[i]
        let n: Int
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: n = 2
        case 0xE0...0xEF: n = 3
        case 0xF0...0xF4: n = 4
        default: return 0
        }
        guard i + n <= b.count else { return 0 }
        return utf8(Array(b[i..<i + n])) != nil ? n : 0
    }

    /// The names in directory `path`, as bytes (`.` and `..` left out), or nil when it cannot be read.
    /// `FileManager` would hand back strings, and a name that is not UTF-8 cannot be one.
    static func rawNames(in path: String) -> [[UInt8]]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            names.append(name)
        }
        return names
    }

    /// Gives the file named by the bytes `raw` in `directory` the UTF-8 name `utf8Name(forRawName:)`,
    /// or a numbered variant when that is taken. The file itself is not touched: a hard link under
    /// the new name, then the old name removed (a rename where hard links are refused), so it
    /// exists under one name or both at every instant. Returns the new path, or nil when no file
    /// has the old name any more.
    static func giveUTF8Name(directory: String, raw: [UInt8]) -> Result<String?, SpoolError> {
        let wanted = utf8Name(forRawName: raw)
        let old = Array(directory.utf8) + [0x2F] + raw + [0]
        let oldShown = directory + "/" + escaped(bytes: raw)
        for attempt in 1..<1000 {
            let name = attempt == 1 ? wanted : numbered(wanted, attempt)
            let target = SpoolLayout.join(directory, name)
            let linked = old.withUnsafeBufferPointer { p in
                p.withMemoryRebound(to: CChar.self) { link($0.baseAddress!, target) }
            }
            if linked == 0 {
                let removed = old.withUnsafeBufferPointer { p in p.withMemoryRebound(to: CChar.self) { unlink($0.baseAddress!) } }
                if removed != 0 { return .failure(.errno(oldShown, "unlink")) }
                return .success(target)
            }
            let code = errno
            if code == EEXIST { continue }
            if code == ENOENT { return .success(nil) }
            if code == EPERM || code == EOPNOTSUPP || code == EXDEV {
                var st = stat()
                if lstat(target, &st) == 0 { continue }
                let renamed = old.withUnsafeBufferPointer { p in
                    p.withMemoryRebound(to: CChar.self) { rename($0.baseAddress!, target) }
                }
                return renamed == 0 ? .success(target) : .failure(.errno(oldShown, "rename"))
            }
            return .failure(.errno(oldShown, "link", code))
        }
        return .failure(SpoolError(path: oldShown, operation: "rename", reason: "too many files of this name"))
    }

    /// `name-2.csv` for `name.csv`, as `AtomicFile` numbers a taken destination.
    private static func numbered(_ name: String, _ n: Int) -> String {
        let url = URL(fileURLWithPath: "/" + name)
        return AtomicFile.numbered(url, n).lastPathComponent
    }
}
