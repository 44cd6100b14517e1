import Foundation

/// The body of a request carrying several signed case messages at once
/// (`Content-Type: application/vnd.stafett.batch`), each message's bytes unchanged.
///
/// Framing, strict: the body is one or more frames and nothing else; a frame is the message's
/// length in bytes as 1 to 9 ASCII digits without leading zeros, a line feed (0x0A), exactly that
/// many bytes, and a line feed. For example two messages of 312 and 298 bytes:
/// `312\n<?xml ...>\n298\n<?xml ...>\n`. Anything else (a sign, white space, CR, an empty
/// frame, a short or long frame, bytes after the last frame, more frames than allowed) makes
/// the whole body unreadable: no message in it is looked at.
public enum BatchFraming {
    /// The media type of a framed batch.
    public static let contentType = "application/vnd.stafett.batch"
    /// The response header a receiver that takes batches sends on every answer to
    /// `/v1/messages`: `Stafett-Batch: max=N` (at most N messages per request).
    public static let offerHeader = "Stafett-Batch"

    /// Why a batch body could not be read.
    public struct FramingError: Error, Sendable, CustomStringConvertible, Equatable {
        /// Where the problem is (byte offset into the body).
        public var offset: Int
        /// What is wrong.
        public var reason: String
        public var description: String { "batch framing at byte \(offset): \(reason)" }
    }

    /// The framed body of `messages`.
    public static func encode(_ messages: [Data]) -> Data {
        var body = Data()
        body.reserveCapacity(messages.reduce(0) { $0 + $1.count + 11 })
        for m in messages {
            body.append(contentsOf: Array(String(m.count).utf8))
            body.append(0x0A)
            body.append(m)
            body.append(0x0A)
        }
        return body
    }

    /// The frames of `body`, at most `maxCount` of them, each as the range of its bytes in `body`.
    public static func decode(_ body: Data, maxCount: Int) throws(FramingError) -> [Range<Data.Index>] {
        var frames: [Range<Data.Index>] = []
        var i = body.startIndex
        guard i < body.endIndex else { throw FramingError(offset: 0, reason: "empty body: a batch holds at least one message") }
        while i < body.endIndex {
            let at = i - body.startIndex
            guard frames.count < maxCount else {
                throw FramingError(offset: at, reason: "more than \(maxCount) messages; this node takes at most \(maxCount) per request")
            }
            var length = 0, digits = 0
            while i < body.endIndex, body[i] >= 0x30, body[i] <= 0x39 {
                if digits == 0, body[i] == 0x30 { throw FramingError(offset: at, reason: "a length has no leading zeros and is never 0") }
                guard digits < 9 else { throw FramingError(offset: at, reason: "a length has at most 9 digits") }
                length = length * 10 + Int(body[i] - 0x30)
                digits += 1
                i += 1
            }
            guard digits > 0 else { throw FramingError(offset: at, reason: "expected a decimal length") }
            guard i < body.endIndex, body[i] == 0x0A else {
                throw FramingError(offset: i - body.startIndex, reason: "expected a line feed after the length")
            }
            i += 1
            guard body.endIndex - i > length else {
                throw FramingError(offset: i - body.startIndex, reason: "the frame says \(length) bytes and a line feed; the body ends before")
            }
            frames.append(i..<(i + length))
            i += length
            guard body[i] == 0x0A else {
                throw FramingError(offset: i - body.startIndex, reason: "expected a line feed after the \(length) bytes of the frame")
            }
            i += 1
        }
        return frames
    }

    /// True when a `Content-Type` value names a batch (parameters ignored, case-insensitive).
    public static func isBatch(_ contentType: String) -> Bool {
        let media = contentType.prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces)
        return media.caseInsensitiveEquals(Self.contentType)
    }

    /// The `max=N` a peer offers in its `Stafett-Batch` header: nil when absent or unreadable
    /// (then the peer takes one message per request).
    public static func offeredMax(_ headers: HTTPHeaders) -> Int? {
        guard let value = headers[offerHeader] else { return nil }
        for part in value.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if kv.count == 2, kv[0] == "max", let n = Int(kv[1]), n >= 1 { return n }
        }
        return nil
    }
}
