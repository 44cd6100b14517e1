import Foundation
import XCTest
@testable import StafettTransport

/// The batch body's framing is strict: exactly what `encode` writes reads back, anything else is refused.
final class BatchFramingTests: XCTestCase {
    func testFramesReadBackUnchanged() throws {
        let messages = [Data("<a/>".utf8), Data("x\ny\n".utf8), Data(repeating: 0x0A, count: 10)]
        let body = BatchFraming.encode(messages)
        XCTAssertEqual(String(decoding: body.prefix(7), as: UTF8.self), "4\n<a/>\n")
        let frames = try BatchFraming.decode(body, maxCount: 3)
        XCTAssertEqual(frames.map { body[$0] }, messages)
        // A slice of a larger buffer reads the same (indices are the body's own).
        let slice = (Data("junk".utf8) + body)[4...]
        XCTAssertEqual(try BatchFraming.decode(slice, maxCount: 3).map { slice[$0] }, messages)
    }

    func testAnythingElseIsRefused() {
        let good = BatchFraming.encode([Data("<a/>".utf8)])
        let bad: [(String, Data)] = [
            ("empty", Data()),
            ("zero length", Data("0\n\n".utf8)),
            ("leading zero", Data("04\n<a/>\n".utf8)),
            ("sign", Data("+4\n<a/>\n".utf8)),
            ("CR LF", Data("4\r\n<a/>\r\n".utf8)),
            ("short", Data("5\n<a/>\n".utf8)),
            ("long", Data("3\n<a/>\n".utf8)),
            ("no final line feed", good.dropLast()),
            ("trailing bytes", good + Data(" ".utf8)),
            ("ten digits", Data("1000000000\n".utf8)),
            ("too many", good + good),
        ]
        for (name, body) in bad {
            XCTAssertThrowsError(try BatchFraming.decode(body, maxCount: 1), name)
        }
    }

    func testTheOfferAndTheMediaType() {
        XCTAssertEqual(BatchFraming.offeredMax(["Stafett-Batch": "max=64"]), 64)
        XCTAssertEqual(BatchFraming.offeredMax(["stafett-batch": "v=1, max = 7"]), 7)
        XCTAssertNil(BatchFraming.offeredMax(["Stafett-Batch": "max=0"]))
        XCTAssertNil(BatchFraming.offeredMax([:]))
        XCTAssertTrue(BatchFraming.isBatch("Application/Vnd.Stafett.Batch; v=1"))
        XCTAssertFalse(BatchFraming.isBatch("application/xml"))
    }
}
