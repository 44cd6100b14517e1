import Foundation
import StafettCrypto
import XCTest
@testable import StafettJournal

/// Not a test on its own: it runs in a child process spawned by `CrashRecoveryTests` (which sets
/// `STAFETT_CRASH_DIR`) and appends until it is killed, printing `ack <seq> <message id>` only after
/// each append has returned (so after it is durable). Run directly, it skips.
final class CrashWriterHelper: XCTestCase {
    func testWriterLoop() throws {
        let (dir, keyPath) = try crashWriterSetting(parent: "CrashRecoveryTests")
        let opts = JournalOptions(maxSegmentBytes: 32_768, checkpointEveryRecords: 64,
                                  signingKey: try Key.privateKey(path: keyPath))
        let journal = try Journal(directory: dir, options: opts)
        let tag = UUID().uuidString.prefix(8)
        let threads = 4
        let done = DispatchSemaphore(value: 0)
        for t in 0..<threads {
            Thread.detachNewThread {
                var i = 0
                while true {
                    i += 1
                    let line: String
                    if i % 7 == 0 {
                        let batch = (0..<25).map { k in sampleEntry(k, kind: .sent).with(messageId: "\(tag)-\(t)-\(i)-b\(k)") }
                        guard let seqs = try? journal.appendBatch(batch) else { break }
                        line = zip(seqs, batch).map { "ack \($0) \($1.messageId!)\n" }.joined()
                    } else {
                        let id = "\(tag)-\(t)-\(i)"
                        guard let seq = try? journal.append(sampleEntry(i).with(messageId: id)) else { break }
                        line = "ack \(seq) \(id)\n"
                    }
                    let bytes = Array(line.utf8)
                    _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
                }
                done.signal()
            }
        }
        for _ in 0..<threads { done.wait() }
    }
}

extension JournalEntry {
    func with(messageId: String) -> JournalEntry {
        var e = self
        e.messageId = messageId
        return e
    }
}

final class CrashRecoveryTests: XCTestCase {
    /// Kills a real writer process with SIGKILL at random moments, many times over; every
    /// acknowledged append must survive recovery, and the journal must verify.
    func testSIGKILLMidAppendLosesNothingAcknowledged() throws {
        try killWriterRepeatedly(helper: "StafettJournalTests.CrashWriterHelper/testWriterLoop", rounds: 20)
    }
}

extension XCTestCase {
    /// The journal directory and signing key a crash-writer helper appends with, which the parent
    /// test passes in the environment; run on its own, the helper skips (it has nothing to check).
    func crashWriterSetting(parent: String) throws -> (dir: String, keyPath: String) {
        let env = ProcessInfo.processInfo.environment
        guard let dir = env["STAFETT_CRASH_DIR"], let keyPath = env["STAFETT_CRASH_KEY"] else {
            throw XCTSkip("a writer for \(parent) to kill: runs only in the child process it spawns (STAFETT_CRASH_DIR unset)")
        }
        return (dir, keyPath)
    }

    /// Runs the writer `helper` (a test of this bundle that appends until killed, printing
    /// `ack <seq> <message id>` after each append has returned) in a child process, kills it with
    /// SIGKILL at a random moment, recovers the journal as a writer would and checks that every
    /// acknowledged record is there; `rounds` times over the same journal.
    func killWriterRepeatedly(helper: String, rounds: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let parent = try makeTempDirectory("crash")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let dir = parent + "/journal"
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        var acked: [UInt64: String] = [:]
        var done = 0, cuts = 0
        for round in 0..<rounds {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = [helper]
            var env = ProcessInfo.processInfo.environment
            env["STAFETT_CRASH_DIR"] = dir
            env["STAFETT_CRASH_KEY"] = TestNode.paths.key
            p.environment = env
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            // Wait for some acknowledgements, then kill at a random moment.
            let want = Int.random(in: 1...400)
            var buffer = Data()
            let reader = out.fileHandleForReading
            while buffer.filter({ $0 == 0x0A }).count < want {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
            }
            usleep(UInt32.random(in: 0...3000))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            buffer.append(reader.readDataToEndOfFile())
            XCTAssertEqual(p.terminationReason, .uncaughtSignal, "round \(round): the writer should have been killed", file: file, line: line)
            for ack in String(decoding: buffer, as: UTF8.self).split(separator: "\n") {
                let f = ack.split(separator: " ")
                if f.count == 3, f[0] == "ack", let s = UInt64(f[1]) { acked[s] = String(f[2]) }
            }
            // Recover as a writer would, then check every acknowledged record.
            let j = try Journal(directory: dir, options: JournalOptions(maxSegmentBytes: 32_768, signingKey: TestNode.key))
            if j.recovery.cutTail != nil { cuts += 1 }
            j.close()
            var found: [UInt64: String] = [:]
            let walk = try JournalWalker(directory: dir, checkpointKey: try TestNode.certificate.publicKey()).walk { r in
                let e = try EntryCodec.decode(r.payload)
                if let m = e.messageId, acked[e.sequence] != nil { found[e.sequence] = m }
            }
            XCTAssertNil(walk.damage, "round \(round)", file: file, line: line)
            XCTAssertEqual(walk.tail, .clean, file: file, line: line)
            XCTAssertEqual(found, acked, "round \(round): acknowledged records missing or different after recovery", file: file, line: line)
            done += 1
        }
        XCTAssertEqual(done, rounds, file: file, line: line)
        XCTAssertGreaterThan(acked.count, 20, file: file, line: line)
        print("crash test (\(helper)): \(acked.count) acknowledged records over \(done) kills, \(cuts) torn tails cut")
    }
}
