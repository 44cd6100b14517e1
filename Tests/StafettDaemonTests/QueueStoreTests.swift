import XCTest
import StafettModel
@testable import StafettDaemon

final class QueueStoreTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("stafett-queue-\(UUID())")
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func entry(_ id: String, peer: String = "migrationsverket") throws -> QueueEntry {
        QueueEntry(messageId: try MessageID(id), peer: peer, recipient: try OrganisationNumber("2021002163"),
                   eventType: .registered, caseRef: "TBG-1", queuedAt: Date(timeIntervalSince1970: 1_445_558_400),
                   expiresAt: Date(timeIntervalSince1970: 1_445_558_400 + 3600), digest: "abc=")
    }

    func testBatchIsDurableIdempotentAndSurvivesReopen() throws {
        let q = try QueueStore(directory: dir.appendingPathComponent("queue"))
        let a = try entry("a-0"), b = try entry("a-1"), c = try entry("a-0", peer: "polisen")
        let written = try q.enqueue([(a, Data("<a/>".utf8)), (b, Data("<b/>".utf8)), (c, Data("<c/>".utf8))])
        XCTAssertEqual(written.count, 3)
        // Re-reading the same intake file yields the same ids: nothing is queued twice.
        XCTAssertEqual(try q.enqueue([(a, Data("<a/>".utf8))]).count, 0)
        let reopened = try QueueStore(directory: dir.appendingPathComponent("queue"))
        XCTAssertEqual(Set(reopened.loadAll().map { "\($0.peer)/\($0.messageId)" }),
                       ["migrationsverket/a-0", "migrationsverket/a-1", "polisen/a-0"])
        XCTAssertEqual(try reopened.signedMessage(of: b), Data("<b/>".utf8))
        // No temporary files are left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("queue/migrationsverket").path)
        XCTAssertFalse(names.contains { $0.hasPrefix(".") }, "\(names)")
    }

    func testUpdateKeepsRetryStateAndRemoveArchivesTheMessage() throws {
        let q = try QueueStore(directory: dir.appendingPathComponent("queue"))
        var a = try entry("m-1")
        try q.enqueue([(a, Data("<signed/>".utf8))])
        a.attempts = 3
        a.lastError = "connect: connection refused"
        try q.update(a)
        XCTAssertEqual(q.loadAll().first?.attempts, 3)
        XCTAssertEqual(q.loadAll().first?.lastError, "connect: connection refused")
        let archive = dir.appendingPathComponent("archive")
        try q.remove(a, archivingTo: archive)
        XCTAssertTrue(q.loadAll().isEmpty)
        XCTAssertEqual(try Data(contentsOf: archive.appendingPathComponent("migrationsverket/m-1.xml")), Data("<signed/>".utf8))
    }

    func testMessageWithoutMetaIsNotAnEntry() throws {
        let q = try QueueStore(directory: dir.appendingPathComponent("queue"))
        let peerDir = dir.appendingPathComponent("queue/migrationsverket")
        try FileManager.default.createDirectory(at: peerDir, withIntermediateDirectories: true)
        try Data("<half/>".utf8).write(to: peerDir.appendingPathComponent("x-1.xml"))
        try Data("garbage".utf8).write(to: peerDir.appendingPathComponent("x-2.meta"))
        var errors: [String] = []
        XCTAssertTrue(q.loadAll(onError: { errors.append($0) }).isEmpty)
        XCTAssertEqual(errors.count, 1)
        XCTAssertTrue(errors[0].contains("x-2.meta"))
    }
}
