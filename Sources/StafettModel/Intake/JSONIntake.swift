import Foundation

/// JSON intake: one object, an array of objects, or JSON Lines (one object per line).
///
/// Keys are the English snake_case names (`IntakeField.jsonKey`); the Swedish and English
/// aliases of the CSV headers are accepted too. `null` is the same as a missing key. Numbers
/// are taken as the text they are written as (an intake id of `1234`); citizenship, languages and
/// references may be a string or an array of strings; `dob_estimated` may be `true`/`false`.
enum JSONIntake {
    static func records(_ bytes: [UInt8], linesOnly: Bool, builder: RecordBuilder, limits: IntakeLimits,
                        sink: inout ErrorSink) -> [IntakeRecord] {
        if !linesOnly {
            var reader = JSONReader(bytes)
            let firstLine: Int
            let top: JSONValue
            do {
                _ = reader.peek()
                firstLine = reader.line
                top = try reader.value()
            } catch {
                sink.add(.line(error.line), "the file is not valid JSON (column \(error.column)): \(error.reason)")
                return []
            }
            let endLine = reader.line
            reader.skipWhitespace()
            if reader.atEnd {
                switch top {
                case .array(let items):
                    guard items.count <= limits.maxRecords else {
                        sink.add(.file, "the file has more than \(limits.maxRecords) records: split it into smaller files")
                        return []
                    }
                    var out: [IntakeRecord] = []
                    out.reserveCapacity(items.count)
                    for (i, item) in items.enumerated() {
                        record(item.value, location: .index(i, line: item.line), index: i, builder: builder,
                               into: &out, sink: &sink)
                    }
                    return out
                case .object:
                    var out: [IntakeRecord] = []
                    record(top, location: .index(0, line: firstLine), index: 0, builder: builder, into: &out, sink: &sink)
                    return out
                default:
                    sink.add(.line(firstLine), "the file must hold an object { ... } or an array [ ... ] of objects")
                    return []
                }
            }
            guard case .object = top, firstLine == endLine else {
                sink.add(.line(reader.line), "there is more than one JSON value in the file: put the records in an "
                    + "array [ {...}, {...} ] or write exactly one object per line (JSON Lines)")
                return []
            }
        }
        return lines(bytes, builder: builder, limits: limits, sink: &sink)
    }

    /// JSON Lines: each non-blank line one object; a bad line does not stop the others being checked.
    private static func lines(_ bytes: [UInt8], builder: RecordBuilder, limits: IntakeLimits,
                              sink: inout ErrorSink) -> [IntakeRecord] {
        var out: [IntakeRecord] = []
        var start = 0
        var lineNo = 1
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            defer { start = end + 1; lineNo += 1 }
            var reader = JSONReader(bytes, from: start, to: end, line: lineNo)
            guard reader.peek() != nil else { continue }
            if out.count >= limits.maxRecords {
                sink.add(.file, "the file has more than \(limits.maxRecords) records: split it into smaller files")
                break
            }
            do {
                let v = try reader.value()
                reader.skipWhitespace()
                guard reader.atEnd else {
                    sink.add(.line(lineNo), "there is text after the object on this line: write one object per line")
                    out.append(builder.placeholder(out.count, .line(lineNo)))
                    continue
                }
                record(v, location: .line(lineNo), index: out.count, builder: builder, into: &out, sink: &sink)
            } catch {
                sink.add(.line(lineNo), "this line is not valid JSON (column \(error.column)): \(error.reason)")
                out.append(builder.placeholder(out.count, .line(lineNo)))
            }
        }
        return out
    }

    /// One object to a record appended to `out` (or a placeholder, with its errors in the sink).
    private static func record(_ v: JSONValue, location: IntakeLocation, index: Int, builder: RecordBuilder,
                               into out: inout [IntakeRecord], sink: inout ErrorSink) {
        guard case .object(let members) = v else {
            sink.add(location, "each record must be a JSON object { ... }")
            out.append(builder.placeholder(index, location))
            return
        }
        var raw = RawRecord()
        var names = [String?](repeating: nil, count: IntakeField.allCases.count)
        var ok = true
        for (key, value) in members {
            guard let f = IntakeField.named(key) else {
                ok = false
                sink.add(location, field: key, "unknown field: check the spelling. Known fields are "
                    + IntakeField.allCases.map(\.jsonKey).joined(separator: ", "))
                continue
            }
            if let earlier = names[f.rawValue] {
                ok = false
                sink.add(location, field: key, "means the same as field \"\(earlier)\": give it only once")
                continue
            }
            names[f.rawValue] = key
            let listField = f == .citizenship || f == .languages || f == .references
            switch value {
            case .null: break
            case .string(let s): raw.values[f.rawValue] = .text(raw.append(s))
            case .number(let n): raw.values[f.rawValue] = .text(raw.append(n))
            case .bool(let b) where f == .dateOfBirthEstimated: raw.values[f.rawValue] = .bool(b)
            case .array(let items) where listField:
                let first = raw.strings.count
                for item in items {
                    guard case .string(let s) = item.value else {
                        ok = false
                        sink.add(location, field: key, "every item of the list must be a string in double quotes")
                        break
                    }
                    raw.strings.append(raw.append(s))
                }
                raw.values[f.rawValue] = .list(first..<raw.strings.count)
            default:
                ok = false
                sink.add(location, field: key, listField ? "must be a string or a list of strings"
                         : f == .dateOfBirthEstimated ? "must be true or false" : "must be a string")
            }
        }
        builder.build(raw, names: names, column: false, location: location, index: index, usable: ok, into: &out,
                      sink: &sink)
    }
}
