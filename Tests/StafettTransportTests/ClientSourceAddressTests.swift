import Foundation
import XCTest
@testable import StafettTransport

final class ClientSourceAddressTests: XCTestCase {
    /// A client given `sourceAddress` connects from it: the server sees 127.0.0.2, not the
    /// 127.0.0.1 the kernel would pick for loopback.
    func testClientConnectsFromTheGivenSourceAddress() throws {
        let (listenFD, port) = try Socket.listen(host: "127.0.0.1", port: 0, backlog: 8)
        Thread.detachNewThread {
            defer { close(listenFD) }
            do { try Socket.wait(listenFD, for: Int16(POLLIN), until: .after(.seconds(5))) } catch { return }
            var peer = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let fd = withUnsafeMutablePointer(to: &peer) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listenFD, $0, &len) }
            }
            guard fd >= 0 else { return }
            Socket.setNonBlocking(fd)
            let address = UInt32(bigEndian: peer.sin_addr.s_addr)
            let source = [24, 16, 8, 0].map { String((address >> UInt32($0)) & 0xFF) }.joined(separator: ".")
            let channel = Channel(plain: fd)
            var buffer = ByteBuffer(capacity: 4096)
            while !buffer.withReadableBytes({ String(decoding: $0, as: UTF8.self) }).hasSuffix("\r\n\r\n") {
                do { try buffer.fill(from: channel, until: .after(.seconds(5))) } catch { channel.close(); return }
            }
            try? channel.write(Array("HTTP/1.1 200 OK\r\nContent-Length: \(source.utf8.count)\r\n\r\n\(source)".utf8), until: .after(.seconds(1)))
            channel.close()
        }
        let client = HTTPClient(configuration: HTTPClientConfiguration(host: "127.0.0.1", port: port, sourceAddress: "127.0.0.2"), tls: nil)
        XCTAssertEqual(String(decoding: try client.send(HTTPRequest(method: "GET", target: "/")).body, as: UTF8.self), "127.0.0.2")
    }
}
