import Foundation
import XCTest
@testable import StafettTransport

final class ClientRetryTests: XCTestCase {
    /// A plain server that answers the first request on each connection with keep-alive and
    /// then, like a server whose idle timeout fired just as the next request arrived, reads
    /// the second request and closes without a word.
    func testRequestLostOnAStaleKeepAliveConnectionIsRetriedOnce() throws {
        let (listenFD, port) = try Socket.listen(host: "127.0.0.1", port: 0, backlog: 8)
        let accepted = Locked(0)
        let requestsSeen = Locked(0)
        Thread.detachNewThread {
            defer { close(listenFD) }
            for _ in 0..<2 {
                do { try Socket.wait(listenFD, for: Int16(POLLIN), until: .after(.seconds(5))) } catch { return }
                let fd = accept(listenFD, nil, nil)
                guard fd >= 0 else { return }
                Socket.setNonBlocking(fd)
                accepted.mutate { $0 += 1 }
                let channel = Channel(plain: fd)
                var buffer = ByteBuffer(capacity: 4096)
                var answered = 0
                while true {
                    do { try buffer.fill(from: channel, until: .after(.seconds(5))) } catch { break }
                    let text = buffer.withReadableBytes { String(decoding: $0, as: UTF8.self) }
                    guard text.hasSuffix("\r\n\r\nping") else { continue }
                    buffer.consume(buffer.readable)
                    requestsSeen.mutate { $0 += 1 }
                    if answered == 1, accepted.get() == 1 { break }  // the "stale" close
                    try? channel.write(Array("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong".utf8), until: .after(.seconds(1)))
                    answered += 1
                }
                channel.close()
            }
        }
        let client = HTTPClient(configuration: HTTPClientConfiguration(host: "127.0.0.1", port: port), tls: nil)
        let ping = HTTPRequest(method: "POST", target: "/", body: Data("ping".utf8))
        XCTAssertEqual(try client.send(ping).body, Data("pong".utf8))
        XCTAssertEqual(try client.send(ping).body, Data("pong".utf8))  // lost once, retried on a new connection
        XCTAssertEqual(client.connectionsOpened, 2)
        XCTAssertEqual(requestsSeen.get(), 3)
    }
}
