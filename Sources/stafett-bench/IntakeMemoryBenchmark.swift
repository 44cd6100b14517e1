import Foundation
import StafettCLI
import StafettDaemon

/// Issue 14's memory figure: the peak resident memory of reading one intake file, beside the
/// file's size. Each case runs `stafett validate` (built beside this program) in a child process
/// of its own, whose peak comes from the kernel (`wait4`'s `ru_maxrss`), so nothing this process
/// holds counts. The bound is 4× the file plus the fixed amount a tiny file costs.
enum IntakeMemoryBenchmark {
    /// One file to measure: its name, what it is, and how to write it.
    struct Case {
        var name: String
        var what: String
        var write: (FileHandle) throws -> Void
    }

    static let mebibyte = 1 << 20

    static func run() throws {
        print("== intake memory: peak resident memory of `stafett validate FILE`, one child process per file")
        let validator = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("stafett").path
        guard FileManager.default.isExecutableFile(atPath: validator) else {
            throw StartupError("\(validator) is missing: build the stafett product too (swift build)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-intake-memory-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        let cases = [
            Case(name: "tiny.csv", what: "one record (the fixed amount)") { try $0.write(contentsOf: wellFormed(records: 1, noteBytes: 40)) },
            Case(name: "one-line.csv", what: "50 MiB single line a;a;a…") { h in
                try writeRepeated(Array("a;".utf8), total: 50 * mebibyte, to: h)
            },
            Case(name: "export.csv", what: "64 MiB well-formed export, 100 000 records") { h in
                // The largest file the default limits take: 100 000 records (`maxRecords`) with notes
                // long enough to fill 64 MiB (`maxIntakeFile`).
                let row = wellFormedRow(0, noteBytes: 0).count
                try h.write(contentsOf: wellFormed(records: 100_000, noteBytes: (64 * mebibyte - 1024) / 100_000 - row))
            },
            Case(name: "euro.csv", what: "64 MiB Windows-1252 € (UTF-8 is 3× the file)") { h in
                try h.write(contentsOf: Data("Anteckning\r\n".utf8))
                try writeRepeated([0x80], total: 64 * mebibyte - 64, to: h)
            },
        ]
        var fixed = 0
        print("  file" + String(repeating: " ", count: 45) + "size MiB   peak MiB   peak/size   bound MiB (4×size + fixed)")
        for c in cases {
            let path = dir.appendingPathComponent(c.name).path
            guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
                throw StartupError("cannot write \(path)")
            }
            try c.write(h)
            try h.close()
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0
            let peak = try PeakMemory.ofChild(validator, ["validate", path])
            try FileManager.default.removeItem(atPath: path)
            if fixed == 0 { fixed = peak }
            let bound = 4 * size + fixed
            let ratio = c.name == "tiny.csv" ? "-" : String(format: "%.1f×", Double(peak) / Double(size))
            print("  " + c.what.padding(toLength: 48, withPad: " ", startingAt: 0)
                + String(format: " %9.1f %10.1f", mib(size), mib(peak)) + ratio.leftPadded(12)
                + String(format: " %12.1f  ", mib(bound)) + (peak <= bound ? "ok" : "OVER"))
        }
        try daemonTakesTheExport(in: dir, fixed: fixed)
    }

    /// The daemon's own peak while it takes the 64 MiB export from its outbox: the file's records,
    /// a window of signed messages at a time, and the scheduler's index of the queued messages.
    /// Its peer is not running, so the figure is intake's (and the queue's) alone. The peak comes from /proc (VmHWM) once the file has
    /// reached its final place.
    static func daemonTakesTheExport(in dir: URL, fixed: Int) throws {
        let net = try DemoNetwork.create(in: dir.appendingPathComponent("net"),
                                         members: [("kommun", "Trelleborgs kommun", "2120001124"), ("verket", "Migrationsverket", "2021005489")])
        let node = net.nodes[0]
        let daemon = try DaemonProcess(launcher: DaemonLauncher.forThisProgram, config: node.configPath,
                                       logPath: dir.appendingPathComponent("stafettd.log").path)
        defer { daemon.stop() }
        guard daemon.waitForPort(node.port) else { throw StartupError("stafettd did not start; see \(daemon.logPath)") }
        let baseline = ProcessSampler.status(daemon.process.processIdentifier, "VmHWM") * 1024
        let file = wellFormed(records: 100_000, noteBytes: (64 * mebibyte - 1024) / 100_000 - wellFormedRow(0, noteBytes: 0).count)
        let started = Date()
        try AtomicFile.write(file, to: node.layout.outbox.appendingPathComponent("export.csv"))
        let accepted = node.layout.outbox.appendingPathComponent("accepted/export.csv").path
        let failed = node.layout.outbox.appendingPathComponent("failed/export.csv").path
        while !FileManager.default.fileExists(atPath: accepted), !FileManager.default.fileExists(atPath: failed) {
            guard daemon.isRunning, Date().timeIntervalSince(started) < 600 else {
                throw StartupError("stafettd did not finish the export within 600 s; see \(daemon.logPath)")
            }
            usleep(100_000)
        }
        let peak = ProcessSampler.status(daemon.process.processIdentifier, "VmHWM") * 1024
        let bound = 4 * file.count + fixed
        print(String(format: "  stafettd taking the 64 MiB export (%@ in %.1f s): idle %.1f MiB, peak %.1f MiB (%.1f× the file), bound %.1f MiB  %@",
                     FileManager.default.fileExists(atPath: accepted) ? "queued" : "REFUSED", Date().timeIntervalSince(started),
                     mib(baseline), mib(peak), Double(peak) / Double(file.count), mib(bound), peak <= bound ? "ok" : "OVER"))
    }

    static func mib(_ bytes: Int) -> Double { Double(bytes) / Double(mebibyte) }

    /// Writes `unit` over and over, `total` bytes in all, a mebibyte at a time.
    static func writeRepeated(_ unit: [UInt8], total: Int, to h: FileHandle) throws {
        let chunk = Data((0..<(mebibyte / unit.count)).flatMap { _ in unit })
        var left = total
        while left > 0 {
            let part = chunk.prefix(left)
            try h.write(contentsOf: part)
            left -= part.count
        }
    }

    static let header = "Ärendenummer;Förnamn;Efternamn;Födelsedatum;Kön;Medborgarskap;Språk;Händelse;Händelsetid;Plats;Placering;Placeringens namn;Anteckning\r\n"

    static func wellFormedRow(_ i: Int, noteBytes: Int) -> Data {
        let note = String(repeating: "Reser ensam och talar dari. ", count: noteBytes / 28 + 1).prefix(noteBytes)
        return Data("TBG-2015-\(String(format: "%06d", i));Ahmad;Rahimi;2001-03-17;pojke;AF;prs;registrerad;2015-10-23 06:40;Trelleborgs hamn;HVB;Ankomstboendet Öresund;\(note)\r\n".utf8)
    }

    static func wellFormed(records: Int, noteBytes: Int) -> Data {
        var data = Data([0xEF, 0xBB, 0xBF]) + Data(header.utf8)
        for i in 0..<records { data.append(wellFormedRow(i, noteBytes: noteBytes)) }
        return data
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
