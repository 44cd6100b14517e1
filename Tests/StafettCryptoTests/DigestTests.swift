import XCTest
@testable import StafettCrypto

final class DigestTests: XCTestCase {
    func testSHA256KnownAnswer() {
        XCTAssertEqual(SHA256.hex(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var h = SHA256()
        h.update(Data("a".utf8)); h.update(Data("bc".utf8))
        let incremental = h.finalize().hexString
        XCTAssertEqual(incremental, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testHMACSHA256RFC4231Case2() {
        let mac = HMACSHA256(secret: Data("Jefe".utf8)).authenticate(Data("what do ya want for nothing?".utf8))
        XCTAssertEqual(mac.hexString, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }
}
