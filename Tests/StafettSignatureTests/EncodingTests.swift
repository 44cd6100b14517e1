import Foundation
import StafettCrypto
import XCTest
@testable import StafettSignature

/// The signing path's own base64 and ECDSA conversions, against Foundation and a round trip.
final class EncodingTests: XCTestCase {
    func testBase64MatchesFoundationForEveryLengthAndByte() {
        var state: UInt64 = 0x0DDB_A11
        for length in 0..<300 {
            let bytes = (0..<length).map { _ -> UInt8 in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return UInt8(truncatingIfNeeded: state >> 33)
            }
            let data = Data(bytes)
            XCTAssertEqual(String(decoding: Base64Text.encode(data), as: UTF8.self), data.base64EncodedString(), "length \(length)")
        }
        XCTAssertEqual(String(decoding: Base64Text.encode(Data((0...255).map { UInt8($0) })), as: UTF8.self),
                       Data((0...255).map { UInt8($0) }).base64EncodedString())
    }

    /// The verifier's decoder: what Foundation decodes, as long as the text is the one spelling
    /// Foundation would write (XML whitespace aside); other spellings and non-base64 are told apart.
    func testBase64DecodingAcceptsOnlyTheCanonicalSpelling() {
        func decode(_ parts: String...) -> String {
            let chunks = parts.map { Array($0.utf8) }
            var buffers: [UnsafeBufferPointer<UInt8>] = []
            var result = ""
            func step(_ i: Int) {
                guard i < chunks.count else {
                    switch Base64Text.decodeCanonical(buffers) {
                    case let .bytes(d): result = d.base64EncodedString()
                    case .notBase64: result = "not base64"
                    case .notCanonical: result = "not canonical"
                    }
                    return
                }
                chunks[i].withUnsafeBufferPointer { buffers.append($0); step(i + 1) }
            }
            step(0)
            return result
        }
        var state: UInt64 = 0x5EED
        for length in 1..<100 {
            let bytes = (0..<length).map { _ -> UInt8 in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return UInt8(truncatingIfNeeded: state >> 33)
            }
            let text = Data(bytes).base64EncodedString()
            XCTAssertEqual(decode(text), text, "length \(length)")
            let cut = text.index(text.startIndex, offsetBy: text.count / 2)
            XCTAssertEqual(decode(String(text[..<cut]), "\r\n \t" + String(text[cut...]) + "\n"), text, "split, length \(length)")
        }
        // Non-zero padding bits: Foundation decodes them, to the same bytes as the canonical text.
        XCTAssertEqual(Data(base64Encoded: "QR=="), Data(base64Encoded: "QQ=="))
        XCTAssertEqual(decode("QR=="), "not canonical")
        XCTAssertEqual(decode("QUJ="), "not canonical")
        // Foundation decodes some of these ("====", "QU=D") and only the re-encoding refused them.
        for bad in ["", " \n", "QQ", "QQ=", "Q===", "====", "QQ==QQ==", "QQ==\nQ", "QUJD!", "QU=D", "QUJDRA"] {
            XCTAssertEqual(decode(bad), "not base64", bad)
        }
    }

    func testECDSARawFromDERRoundTripsIncludingShortAndHighBitIntegers() throws {
        var samples: [Data] = []
        // High bits (DER needs a sign byte), leading zero bytes (DER drops them), and plain values.
        for (first, fill) in [(UInt8(0x80), UInt8(0xFF)), (0x00, 0x01), (0x00, 0x00), (0x7F, 0x42), (0xFF, 0x00)] {
            samples.append(Data([first] + Array(repeating: fill, count: 31) + [fill ^ 0x5A] + Array(repeating: first, count: 31)))
        }
        let key = try Key.generate(.ecdsaP256SHA256)
        for i in 0..<50 {
            let der = try key.sign(Data("message \(i)".utf8))
            samples.append(try XCTUnwrap(ECDSAEncoding.raw(fromDER: der)))
        }
        for raw in samples {
            let der = try XCTUnwrap(ECDSAEncoding.der(fromRaw: raw))
            XCTAssertEqual(ECDSAEncoding.raw(fromDER: der), raw, raw.base64EncodedString())
        }
        // Not the shape: truncated, trailing bytes, an integer wider than 32 bytes.
        let good = try XCTUnwrap(ECDSAEncoding.der(fromRaw: samples[0]))
        XCTAssertNil(ECDSAEncoding.raw(fromDER: good.dropLast()))
        XCTAssertNil(ECDSAEncoding.raw(fromDER: good + Data([0])))
        let wide = Data([0x30, 0x46, 0x02, 0x21, 0x01] + Array(repeating: 0x11, count: 32) + [0x02, 0x21, 0x01] + Array(repeating: 0x22, count: 32))
        XCTAssertNil(ECDSAEncoding.raw(fromDER: wide))
    }
}
