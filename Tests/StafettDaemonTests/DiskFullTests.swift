import Foundation
import XCTest
import StafettCrypto
import StafettJournal
import StafettModel
@testable import StafettDaemon

/// Issue 14, item 4: the spool and the journal on small file systems (a tmpfs each, so the test
/// needs root). While the receiver's disk is short it answers 503 and the sender retries; while
/// the sender's is short, intake leaves the file in the outbox; nothing half-written remains,
/// /metrics and the log say why, and once space is freed everything goes through: 0 lost, 0 duplicated.
final class DiskFullTests: XCTestCase {
    private var mounts: [String] = []
    private var root: URL?

    override func tearDown() {
        for m in mounts.reversed() { umount2(m, Int32(MNT_DETACH)) }
        if let root { try? FileManager.default.removeItem(at: root) }
    }

    /// A fresh tmpfs of `mebibytes` at a new directory.
    private func smallFileSystem(_ name: String, mebibytes: Int) throws -> URL {
        guard getuid() == 0 else { throw XCTSkip("mounting a small tmpfs needs root; run the tests as root to check a full disk") }
        let base = root ?? FileManager.default.temporaryDirectory.appendingPathComponent("stafett-diskfull-\(UUID().uuidString.prefix(8))")
        root = base
        let dir = base.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        guard mount("tmpfs", dir.path, "tmpfs", 0, "size=\(mebibytes)m,mode=0700") == 0 else {
            throw XCTSkip("cannot mount a tmpfs here (\(String(cString: strerror(errno)))): a full disk is not checked")
        }
        mounts.append(dir.path)
        return dir
    }

    /// Fills the file system of `dir` until `leaving` bytes are free; returns the filler.
    @discardableResult
    private func fill(_ dir: URL, leaving: Int) throws -> URL {
        let filler = dir.appendingPathComponent("filler")
        let free = try XCTUnwrap(DiskSpace.available(at: dir.path))
        XCTAssertTrue(FileManager.default.createFile(atPath: filler.path, contents: nil))
        let h = try FileHandle(forWritingTo: filler)
        defer { try? h.close() }
        let chunk = Data(repeating: 0x55, count: 64 << 10)
        var left = free - leaving
        while left > 0 {
            try h.write(contentsOf: chunk.prefix(left))
            left -= chunk.count
        }
        return filler
    }

    /// Temporary and staged files anywhere under `dir`: what a write cut short would leave.
    private func halfWritten(_ dir: URL) -> [String] {
        let all = (try? FileManager.default.subpathsOfDirectory(atPath: dir.path)) ?? []
        return all.filter { p in
            let name = (p as NSString).lastPathComponent
            return name.hasSuffix(".tmp") || name.hasSuffix(".stage")
        }
    }

    private func intakeFile(_ tag: String, records: Int, to recipient: TestNode) -> Data {
        var text = "Ärendenummer;Förnamn;Efternamn;Händelse;Händelsetid;Mottagare\r\n"
        for i in 0..<records {
            text += "DF-\(tag)-\(i);Amina;Åström;registrerad;2015-10-23 06:40;\(recipient.organisation.digits)\r\n"
        }
        return Data(text.utf8)
    }

    func testAFullDiskHoldsWorkBackAndEverythingGoesThroughOnceSpaceReturns() throws {
        // Room for the reserve and half as much again.
        let size = (3 * DiskSpace.reserve / 2) >> 20
        let diskA = try smallFileSystem("trelleborg", mebibytes: size)
        let diskB = try smallFileSystem("migrationsverket", mebibytes: size)
        let ca = try CertificateAuthority.create(commonName: "Stafett test CA", organisationName: "Stafett test")
        let a = try TestNode(name: "trelleborg", organisation: try OrganisationNumber("2120001165"), directory: diskA, ca: ca)
        let b = try TestNode(name: "migrationsverket", organisation: try OrganisationNumber("2021002163"), directory: diskB, ca: ca)
        defer { a.shutdown(); b.shutdown() }
        let reserve = DiskSpace.reserve
        for (node, other) in [(a, b), (b, a)] {
            node.config.peers = [StafettConfig.Peer(name: other.name, organisation: other.organisation,
                                                    address: HostPort(host: "127.0.0.1", port: other.port),
                                                    signingCerts: [other.signingCertPath])]
        }
        try b.startReceiver()
        a.config.peers[0].address.port = b.port
        try a.startSender()
        var intake = IntakeProcessor(runtime: try a.runtime(), layout: a.layout, store: try XCTUnwrap(a.store), batcher: a.batcher)
        intake.metrics = a.metrics
        func take(_ file: URL) throws {
            let (outcome, queued) = try intake.process(file)
            guard case .accepted = outcome else { return XCTFail("\(file.lastPathComponent): \(outcome)") }
            a.scheduler?.add(queued)
        }

        // The receiver's disk is short: every message is answered 503, and retried.
        let fillerB = try fill(diskB, leaving: reserve / 2)
        let first = a.layout.outbox.appendingPathComponent("first.csv")
        try AtomicFile.write(intakeFile("1", records: 5, to: b), to: first)
        try take(first)
        let store = try XCTUnwrap(a.store)
        XCTAssertTrue(waitUntil(20) {
            store.loadAll().contains { $0.attempts >= 2 && $0.lastError?.hasPrefix("HTTP 503") == true }
        }, "no 503 retried: \(store.loadAll().map { $0.lastError ?? "-" })")
        XCTAssertEqual(b.metrics.value("stafett_disk_space_low"), 1)
        XCTAssertTrue(b.logs.text.contains("answering 503 to every message: the file system of"), b.logs.text)
        XCTAssertEqual(b.inbox(), [])

        // The sender's disk is short too: the next file stays in the outbox, untouched.
        let fillerA = try fill(diskA, leaving: reserve / 2)
        let second = a.layout.outbox.appendingPathComponent("second.csv")
        try AtomicFile.write(intakeFile("2", records: 5, to: b), to: second)
        XCTAssertThrowsError(try intake.process(second)) { error in
            XCTAssertTrue("\(error)".contains("left in the outbox until there is space"), "\(error)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: second.path))
        XCTAssertEqual(a.metrics.value("stafett_disk_space_low"), 1)
        XCTAssertTrue(a.metrics.render().contains("stafett_disk_space_low 1"), a.metrics.render())
        XCTAssertEqual(halfWritten(diskA), [])
        XCTAssertEqual(halfWritten(diskB), [])

        // Space returns: the file is taken, and every message arrives once.
        try FileManager.default.removeItem(at: fillerA)
        try FileManager.default.removeItem(at: fillerB)
        try take(second)
        XCTAssertFalse(FileManager.default.fileExists(atPath: second.path))
        XCTAssertEqual(a.metrics.value("stafett_disk_space_low"), 0)
        let delivered = { try a.journalEntries().filter { $0.kind == .delivered }.compactMap(\.messageId) }
        let all = try waitUntil(30) { try delivered().count >= 10 }
        XCTAssertTrue(all, "delivered: \((try? delivered().count) ?? 0) of 10")
        let received = try b.journalEntries().filter { $0.kind == .received }.compactMap(\.messageId)
        XCTAssertEqual(try delivered().count, 10, "duplicated at the sender")
        XCTAssertEqual(Set(try delivered()).count, 10, "lost or duplicated at the sender")
        XCTAssertEqual(received.count, 10, "duplicated at the receiver")
        XCTAssertEqual(Set(received), Set(try delivered()))
        XCTAssertEqual(b.inbox().count, 10)
        XCTAssertEqual(b.metrics.value("stafett_disk_space_low"), 0)
        XCTAssertEqual(halfWritten(diskA), [])
        XCTAssertEqual(halfWritten(diskB), [])
    }
}
