// A small JSON reader for the command-line tool. The library's own decoder (json-c) is not public,
// and the tool needs two things it does not give: object members in document order (summaries read
// like the result) and the byte span of a member's value (option overrides and --pretty must not
// rewrite a single number of the user's document).

/// A parsed JSON value; objects keep their members in document order.
enum JSONValue {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.key == key })?.value
    }

    var members: [(key: String, value: JSONValue)] {
        if case .object(let members) = self { return members }
        return []
    }

    var elements: [JSONValue] {
        if case .array(let elements) = self { return elements }
        return []
    }

    var number: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// A scalar number or every number of an array of numbers (a per-period series).
    var numbers: [Double] {
        switch self {
        case .number(let value): return [value]
        case .array(let elements): return elements.compactMap(\.number)
        default: return []
        }
    }

    /// Parses `text`; nil when it is not JSON (the library reports why, with the byte offset).
    static func parse(_ text: String) -> JSONValue? {
        var scanner = JSONScanner(Array(text.utf8))
        guard let value = scanner.parseValue(depth: 0) else { return nil }
        scanner.skipSpace()
        return scanner.atEnd ? value : nil
    }
}

/// Byte-level cursor over JSON text.
struct JSONScanner {
    let bytes: [UInt8]
    var position = 0
    /// The library refuses deeper documents; nothing the tool reads is deeper.
    static let maximumDepth = 512

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position >= bytes.count }
    var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipSpace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
    }

    mutating func consume(_ byte: UInt8) -> Bool {
        skipSpace()
        guard current == byte else { return false }
        position += 1
        return true
    }

    /// Skips a string starting at `position` (the opening quote); false when it does not end.
    mutating func skipString() -> Bool {
        guard current == UInt8(ascii: "\"") else { return false }
        position += 1
        while let byte = current {
            position += 1
            if byte == UInt8(ascii: "\\") { position += 1 } else if byte == UInt8(ascii: "\"") { return true }
        }
        return false
    }

    /// Skips one value of any depth without recursion; returns its byte range.
    mutating func skipValue() -> Range<Int>? {
        skipSpace()
        let start = position
        var depth = 0
        repeat {
            skipSpace()
            guard let byte = current else { return nil }
            switch byte {
            case UInt8(ascii: "\""): guard skipString() else { return nil }
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1; position += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard depth > 0 else { return nil }
                depth -= 1; position += 1
            case UInt8(ascii: ","), UInt8(ascii: ":"):
                guard depth > 0 else { return nil }
                position += 1
            default:
                let scalarStart = position
                while let next = current, !Self.isDelimiter(next) { position += 1 }
                if position == scalarStart { return nil }
            }
        } while depth > 0
        return start..<position
    }

    static func isDelimiter(_ byte: UInt8) -> Bool {
        [UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), UInt8(ascii: ":"),
         0x20, 0x0A, 0x0D, 0x09].contains(byte)
    }

    /// The members of the object starting at `position`: each key (as written, without quotes)
    /// and its value's byte range. nil when the text there is not an object.
    mutating func objectMembers() -> [(key: String, value: Range<Int>)]? {
        guard consume(UInt8(ascii: "{")) else { return nil }
        var members: [(key: String, value: Range<Int>)] = []
        if consume(UInt8(ascii: "}")) { return members }
        repeat {
            skipSpace()
            let keyStart = position
            guard skipString() else { return nil }
            let key = String(decoding: bytes[(keyStart + 1)..<(position - 1)], as: UTF8.self)
            guard consume(UInt8(ascii: ":")), let value = skipValue() else { return nil }
            members.append((key, value))
        } while consume(UInt8(ascii: ","))
        return consume(UInt8(ascii: "}")) ? members : nil
    }

    mutating func parseValue(depth: Int) -> JSONValue? {
        skipSpace()
        guard depth < Self.maximumDepth, let byte = current else { return nil }
        switch byte {
        case UInt8(ascii: "{"):
            position += 1
            var members: [(key: String, value: JSONValue)] = []
            if consume(UInt8(ascii: "}")) { return .object(members) }
            repeat {
                skipSpace()
                guard let key = parseString(), consume(UInt8(ascii: ":")),
                      let value = parseValue(depth: depth + 1) else { return nil }
                members.append((key, value))
            } while consume(UInt8(ascii: ","))
            return consume(UInt8(ascii: "}")) ? .object(members) : nil
        case UInt8(ascii: "["):
            position += 1
            var elements: [JSONValue] = []
            if consume(UInt8(ascii: "]")) { return .array(elements) }
            repeat {
                guard let value = parseValue(depth: depth + 1) else { return nil }
                elements.append(value)
            } while consume(UInt8(ascii: ","))
            return consume(UInt8(ascii: "]")) ? .array(elements) : nil
        case UInt8(ascii: "\""):
            return parseString().map { .string($0) }
        default:
            let start = position
            while let next = current, !Self.isDelimiter(next) { position += 1 }
            let word = String(decoding: bytes[start..<position], as: UTF8.self)
            switch word {
            case "true": return .bool(true)
            case "false": return .bool(false)
            case "null": return .null
            default:
                guard let value = Double(word), value.isFinite else { return nil }
                return .number(value)
            }
        }
    }

    /// A string with its escapes resolved (surrogate pairs included).
    mutating func parseString() -> String? {
        guard current == UInt8(ascii: "\"") else { return nil }
        position += 1
        var scalars = String.UnicodeScalarView()
        var plain: [UInt8] = []
        func flush() {
            scalars.append(contentsOf: String(decoding: plain, as: UTF8.self).unicodeScalars)
            plain.removeAll(keepingCapacity: true)
        }
        while let byte = current {
            position += 1
            if byte == UInt8(ascii: "\"") {
                flush()
                return String(scalars)
            }
            guard byte == UInt8(ascii: "\\") else { plain.append(byte); continue }
            guard let escape = current else { return nil }
            position += 1
            switch escape {
            case UInt8(ascii: "n"): plain.append(0x0A)
            case UInt8(ascii: "t"): plain.append(0x09)
            case UInt8(ascii: "r"): plain.append(0x0D)
            case UInt8(ascii: "b"): plain.append(0x08)
            case UInt8(ascii: "f"): plain.append(0x0C)
            case UInt8(ascii: "u"):
                guard var code = hex4() else { return nil }
                if (0xD800..<0xDC00).contains(code), current == UInt8(ascii: "\\") {
                    position += 2
                    guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                flush()
                scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default: plain.append(escape)
            }
        }
        return nil
    }

    mutating func hex4() -> UInt32? {
        guard position + 4 <= bytes.count,
              let code = UInt32(String(decoding: bytes[position..<(position + 4)], as: UTF8.self), radix: 16) else { return nil }
        position += 4
        return code
    }
}

/// `text` as a JSON string literal.
func jsonQuoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

/// Indents a JSON document two spaces per level without touching its tokens (numbers stay as
/// the library wrote them); arrays of scalars stay on one line, a per-period series being one row.
func prettyJSON(_ text: String) -> String {
    let bytes = Array(text.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    var indent = 0
    var flat = 0  // depth inside an array of scalars (written inline)
    var k = 0
    func newline() {
        out.append(0x0A)
        out.append(contentsOf: repeatElement(0x20, count: 2 * indent))
    }
    /// Whether the array opening at `start` holds no object or array.
    func isFlatArray(_ start: Int) -> Bool {
        var scanner = JSONScanner(bytes)
        scanner.position = start + 1
        while let byte = scanner.current {
            switch byte {
            case UInt8(ascii: "\""): if !scanner.skipString() { return false }; continue
            case UInt8(ascii: "{"), UInt8(ascii: "["): return false
            case UInt8(ascii: "]"): return true
            default: scanner.position += 1
            }
        }
        return false
    }
    while k < bytes.count {
        let byte = bytes[k]
        switch byte {
        case UInt8(ascii: "\""):
            var scanner = JSONScanner(bytes)
            scanner.position = k
            guard scanner.skipString() else { out.append(contentsOf: bytes[k...]); return String(decoding: out, as: UTF8.self) }
            out.append(contentsOf: bytes[k..<scanner.position])
            k = scanner.position
            continue
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var next = k + 1
            while next < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[next]) { next += 1 }
            let closer = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            if next < bytes.count, bytes[next] == closer {  // empty container
                out.append(byte); out.append(closer)
                k = next + 1
                continue
            }
            out.append(byte)
            if flat > 0 || (byte == UInt8(ascii: "[") && isFlatArray(k)) {
                flat += 1
            } else {
                indent += 1
                newline()
            }
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            if flat > 0 {
                flat -= 1
            } else {
                indent = max(0, indent - 1)
                newline()
            }
            out.append(byte)
        case UInt8(ascii: ","):
            out.append(byte)
            if flat > 0 { out.append(0x20) } else { newline() }
        case UInt8(ascii: ":"):
            out.append(byte)
            out.append(0x20)
        case 0x20, 0x0A, 0x0D, 0x09:
            break
        default:
            out.append(byte)
        }
        k += 1
    }
    return String(decoding: out, as: UTF8.self)
}
