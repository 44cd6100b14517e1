#if DEBUG || STAFETT_LIBFUZZER
@testable import StafettTransport
#endif

/// HTTP/1.1 heads as the server reads requests and the client reads responses, the head arriving
/// in two pieces so the resumed scan (`scanFrom`) is exercised as well.
/// The parser is internal: @testable import needs modules built for testing, as debug builds
/// (swift test) and scripts/fuzz.sh's build (-enable-testing -DSTAFETT_LIBFUZZER) are; a plain
/// release build leaves this part out rather than fail (docs/fuzzing.md).
enum HTTPHeadHarness {
    static let httpHead = FuzzTarget(name: "http-head", summary: "HTTP/1.1 request and response heads (HTTPParser.scanRequest/scanResponse)") { bytes in
        #if DEBUG || STAFETT_LIBFUZZER
        let limits = HTTPLimits()
        let split = bytes.isEmpty ? 0 : Int(bytes[0]) % bytes.count
        var from = 0
        if case .incomplete = HTTPParser.scanRequest(UnsafeRawBufferPointer(rebasing: bytes[..<split]), scanFrom: &from, limits: limits) {
            _ = HTTPParser.scanRequest(bytes, scanFrom: &from, limits: limits)
        }
        from = 0
        _ = HTTPParser.scanResponse(bytes, scanFrom: &from, limits: limits)
        #endif
    }
}
