import Foundation
import StafettCrypto
import XCTest
@testable import StafettJournal

/// A temporary directory removed when the test ends.
func makeTempDirectory(_ tag: String = "j") throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-\(tag)-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// A node key and certificate made by the openssl CLI, shared by the tests of one run.
enum TestNode {
    static let paths: (key: String, cert: String) = {
        let dir = try! makeTempDirectory("node")
        let key = dir + "/node.key", cert = dir + "/node.pem"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                       "-keyout", key, "-out", cert, "-days", "2",
                       "-subj", "/C=SE/O=Trelleborgs kommun/organizationIdentifier=NTRSE-2120001124/CN=journal-test"]
        p.standardError = FileHandle.nullDevice
        try! p.run()
        p.waitUntilExit()
        return (key, cert)
    }()
    static var key: Key { try! Key.privateKey(path: paths.key) }
    static var certificate: Certificate { try! Certificate.load(path: paths.cert) }
}

/// A realistic sender-side entry.
func sampleEntry(_ i: Int, kind: JournalKind = .queued) -> JournalEntry {
    JournalEntry(kind: kind, messageId: "msg-\(i)", intakeId: "TRE-2015-\(i % 97)", eventType: "Registered",
                 sender: "2120001124", recipient: "2021005489", digest: String(repeating: "ab", count: 32))
}

/// Runs `body(0..<n)` on `n` threads of their own (blocking appenders, as the daemon has); the
/// group is left when all have finished.
func onThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) -> DispatchGroup {
    let group = DispatchGroup()
    for t in 0..<n {
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            body(t)
        }
    }
    return group
}

/// Sets the file-size limit (RLIMIT_FSIZE) `room` bytes past the current end of the journal in
/// `dir`, with SIGXFSZ ignored, so a write past it fails with EFBIG; the returned closure
/// restores both. (With `preallocationBytes: 0` every batch grows the file, so the limit stops one.)
func limitFileSize(journal dir: String, room: Int) throws -> () -> Void {
    let segment = try XCTUnwrap(JournalFormat.segments(in: dir).last)
    var st = stat()
    XCTAssertEqual(stat(segment, &st), 0)
    let oldHandler = signal(SIGXFSZ, SIG_IGN)
    var old = rlimit()
    getrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
    var limit = old
    limit.rlim_cur = rlim_t(st.st_size) + rlim_t(room)
    XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit), 0)
    return {
        setrlimit(Int32(RLIMIT_FSIZE.rawValue), &old)
        signal(SIGXFSZ, oldHandler)
    }
}
