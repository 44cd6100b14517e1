import Foundation

/// A host and port, as in `listen = 0.0.0.0:8443` or `address = [2001:db8::1]:8443`.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP literal, without brackets.
    public var host: String
    /// TCP port, 1-65535.
    public var port: UInt16

    /// Creates a host and port.
    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with brackets around IPv6 literals.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// True for 127.0.0.0/8, ::1 and localhost, the only places metrics may listen.
    public var isLoopback: Bool { host == "localhost" || host == "::1" || host.hasPrefix("127.") }
}

/// Parsers for the value syntaxes the configuration accepts. Each returns nil on a bad value;
/// the caller turns that into a `ConfigError` naming the expected form.
public enum ConfigValue {
    /// `yes/no/true/false/on/off/1/0`, case-insensitive.
    public static func bool(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "yes", "true", "on", "1": return true
        case "no", "false", "off", "0": return false
        default: return nil
        }
    }

    /// `250ms`, `30s`, `5m`, `1h`, `7d`, or combinations like `1h30m`; a bare number is seconds.
    public static func duration(_ text: String) -> Duration? {
        let t = text.lowercased().filter { $0 != " " }
        if t.isEmpty { return nil }
        if let n = Int64(t), n >= 0 { return .seconds(n) }
        var total: Duration = .zero
        var i = t.startIndex
        var sawPart = false
        while i < t.endIndex {
            let numStart = i
            while i < t.endIndex, t[i].isASCII, t[i].isNumber { i = t.index(after: i) }
            guard numStart < i, let n = Int64(t[numStart..<i]), n <= 1_000_000_000 else { return nil }
            let unitStart = i
            while i < t.endIndex, t[i].isLetter { i = t.index(after: i) }
            switch t[unitStart..<i] {
            case "ms": total += .milliseconds(n)
            case "s", "sec": total += .seconds(n)
            case "m", "min": total += .seconds(n * 60)
            case "h": total += .seconds(n * 3600)
            case "d": total += .seconds(n * 86_400)
            default: return nil
            }
            sawPart = true
        }
        return sawPart ? total : nil
    }

    /// The shortest exact rendering of a duration in the units `duration(_:)` reads.
    public static func render(_ d: Duration) -> String {
        let ms = d.milliseconds
        if ms == 0 { return "0s" }
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where ms % size == 0 {
            return "\(ms / size)\(unit)"
        }
        return "\(ms)ms"
    }

    /// `4MiB`, `512KiB`, `10MB`, `1GiB`, `100B` or a bare byte count. `k`, `M`, `G` alone are binary
    /// (as in git-config); `kB`, `MB`, `GB` are decimal.
    public static func size(_ text: String) -> Int? {
        let t = text.filter { $0 != " " }
        let digits = t.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let n = Int(digits) else { return nil }
        let factor: Int
        switch t.dropFirst(digits.count).lowercased() {
        case "", "b": factor = 1
        case "k", "kib": factor = 1 << 10
        case "m", "mib": factor = 1 << 20
        case "g", "gib": factor = 1 << 30
        case "kb": factor = 1000
        case "mb": factor = 1_000_000
        case "gb": factor = 1_000_000_000
        default: return nil
        }
        let (v, overflow) = n.multipliedReportingOverflow(by: factor)
        return overflow ? nil : v
    }

    /// The shortest exact binary rendering of a byte count (`4MiB`), falling back to bytes.
    public static func render(size: Int) -> String {
        for (unit, s) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where size != 0 && size % s == 0 {
            return "\(size / s)\(unit)"
        }
        return "\(size)"
    }

    /// `host:port`, `[v6]:port`, or an `https://host:port[/]` URL (port defaults to 443 for URLs).
    public static func hostPort(_ text: String) -> HostPort? {
        var t = Substring(text)
        var isURL = false
        if t.lowercased().hasPrefix("https://") {
            t = t.dropFirst(8)
            isURL = true
            if let slash = t.firstIndex(of: "/") {
                guard t[slash...] == "/" else { return nil }
                t = t[..<slash]
            }
        }
        let host: Substring
        var portText: Substring?
        if t.hasPrefix("[") {
            guard let close = t.firstIndex(of: "]") else { return nil }
            host = t[t.index(after: t.startIndex)..<close]
            let rest = t[t.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                portText = rest.dropFirst()
            }
        } else if let colon = t.lastIndex(of: ":") {
            host = t[..<colon]
            portText = t[t.index(after: colon)...]
            if host.contains(":") { return nil }
        } else {
            host = t
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" || $0 == "@" }) else { return nil }
        let port: UInt16
        if let portText {
            guard let p = UInt16(portText), p > 0 else { return nil }
            port = p
        } else {
            guard isURL else { return nil }
            port = 443
        }
        return HostPort(host: String(host), port: port)
    }

    /// A SHA-256 fingerprint as 64 hex digits, optionally colon-separated (as `openssl x509 -fingerprint` prints),
    /// optionally prefixed `sha256:`. Returned lower-case without separators.
    public static func sha256Pin(_ text: String) -> String? {
        var t = text.lowercased()
        if t.hasPrefix("sha256:") || t.hasPrefix("sha256/") { t.removeFirst(7) }
        t = t.filter { $0 != ":" }
        guard t.count == 64, t.allSatisfy({ $0.isHexDigit }) else { return nil }
        return t
    }

    /// `0.2` or `20%`, in 0...1.
    public static func fraction(_ text: String) -> Double? {
        var t = text.trimmingCharacters(in: .whitespaces)
        var scale = 1.0
        if t.hasSuffix("%") { t.removeLast(); scale = 100 }
        guard let v = Double(t), v.isFinite else { return nil }
        let f = v / scale
        return (0...1).contains(f) ? f : nil
    }

    /// A list value: items separated by commas or blanks, empty items dropped.
    public static func list(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }).map(String.init)
    }
}

extension Duration {
    /// Whole milliseconds (rounded down).
    public var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }

    /// Seconds as a `TimeInterval`, for Foundation and Dispatch APIs.
    public var timeInterval: TimeInterval {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
