import Foundation

/// One connection's request loop.
struct ConnectionHandler {
    let server: HTTPServer
    let channel: Channel
    let remoteAddress: String
    var buffer = ByteBuffer(capacity: 32 * 1024)

    init(server: HTTPServer, channel: Channel, remoteAddress: String) {
        self.server = server
        self.channel = channel
        self.remoteAddress = remoteAddress
    }

    var config: HTTPServerConfiguration { server.configuration }

    mutating func run() {
        let identity = channel.peerIdentity
        while true {
            if server.isStopping { return }
            if buffer.isEmpty {
                do { try buffer.fill(from: channel, until: .after(config.idleTimeout), wakeFD: server.wakeRead) } catch {
                    return  // idle timeout, stop, or the client left
                }
            }
            // Authenticated under trust a reload has since replaced: not another request.
            if !server.acceptsRequests(on: channel) { return }
            // The whole head must arrive by this deadline, however slowly its bytes trickle in.
            let headDeadline = Deadline.after(config.headerTimeout)
            var scanFrom = 0
            var head: RequestHead?
            while head == nil {
                let limits = config.limits
                switch buffer.withReadableBytes({ HTTPParser.scanRequest($0, scanFrom: &scanFrom, limits: limits) }) {
                case let .complete(h, headLength):
                    head = h
                    buffer.consume(headLength)
                case let .refused(refusal):
                    refuse(refusal)
                    return
                case .incomplete:
                    do { try buffer.fill(from: channel, until: headDeadline) } catch {
                        if case .timedOut = error { refuse(HTTPRefusal(status: 408, message: "request headers too slow")) }
                        return
                    }
                }
            }
            guard let head else { return }
            let length = head.contentLength
            if length > buffer.readable {
                if head.expectContinue {
                    do { try channel.write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8), until: .after(config.writeTimeout)) } catch {
                        return
                    }
                }
                let bodyDeadline = Deadline.after(config.bodyTimeout)
                while buffer.readable < length {
                    do { try buffer.fill(from: channel, atLeast: min(length - buffer.readable, 256 * 1024), until: bodyDeadline) } catch {
                        if case .timedOut = error { refuse(HTTPRefusal(status: 408, message: "request body too slow")) }
                        return
                    }
                }
            }
            var request = HTTPRequest(method: head.method, target: head.target, headers: head.headers, body: buffer.take(length))
            request.remoteAddress = remoteAddress
            let response = server.handler(request, identity)
            server.count { $0.requestsHandled += 1 }
            let close = head.wantsClose || response.closeConnection || server.isStopping
            let bytes = HTTPParser.serialize(response, close: close, bodyless: head.method == "HEAD")
            do { try channel.write(bytes, until: .after(config.writeTimeout)) } catch { return }
            if close { return }
        }
    }

    /// Answers a request we will not serve, then closes: its framing is no longer trustworthy.
    func refuse(_ refusal: HTTPRefusal) {
        server.count { $0.requestsRefused += 1 }
        var response = HTTPResponse.text(refusal.status, refusal.message, closeConnection: true)
        if refusal.status == 413, let target = refusal.target, let peer = channel.peerIdentity,
           let answer = server.oversize?(target, peer, refusal.message) {
            response = answer
        }
        try? channel.write(HTTPParser.serialize(response, close: true), until: .after(config.writeTimeout))
        // Enough to swallow an oversized body a client sends without waiting for 100-continue.
        channel.linger(maxBytes: 2 * config.limits.maxBodyBytes + config.limits.maxHeaderBytes, for: .seconds(1))
    }
}
