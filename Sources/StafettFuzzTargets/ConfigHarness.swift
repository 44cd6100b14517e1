import StafettDaemon

/// Configuration text as `stafett check-config` and the daemon read it (`StafettConfig.parse`,
/// which also runs the file-less validation).
enum ConfigHarness {
    /// Anchors relative paths in a directory that does not exist, so nothing is read from disk.
    static let file = "/nonexistent/stafett-fuzz/stafett.conf"

    static let config = FuzzTarget(name: "config", summary: "configuration files (StafettConfig.parse)") { bytes in
        // As `load`: text that is not UTF-8 is refused before the parser.
        guard let text = String(validating: bytes, as: UTF8.self) else { return }
        guard !includesAFile(text) else { return }
        _ = try? StafettConfig.parse(text: text, file: file)
    }

    /// Whether a line reads as `include = PATH`, which makes the lexer read PATH: a mutation naming
    /// /dev/zero or /proc would fuzz the file system, not the parser. Includes are covered by
    /// ConfigTests. Errs towards skipping: any line whose key could normalise to `include`.
    static func includesAFile(_ text: String) -> Bool {
        text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }).contains { line in
            guard let eq = line.firstIndex(of: "=") else { return false }
            let key = line[..<eq].filter { !$0.isWhitespace && $0 != "\u{FEFF}" }.lowercased()
            return key.replacingOccurrences(of: "_", with: "-") == "include"
        }
    }
}
