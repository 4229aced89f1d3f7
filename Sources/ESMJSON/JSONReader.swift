import CJSONC
#if canImport(Glibc)
import Glibc
#endif
import ESMGrid

/// A parsed JSON document (json-c), owned until this object goes away.
final class JSONDocument {
    private let handle: OpaquePointer

    /// Maximum nesting depth; deeper documents are `invalid_json` (api.md §4).
    static let maxDepth: Int32 = 512

    private init(handle: OpaquePointer) {
        self.handle = handle
    }

    deinit { json_object_put(handle) }

    /// Runs `body` on the root, keeping the document alive meanwhile (ARC may otherwise release
    /// it after its last visible use, while nodes still point into it).
    func withRoot<T>(path: String = "", _ body: (JSONNode) throws -> T) rethrows -> T {
        try withExtendedLifetime(self) { try body(JSONNode(raw: handle, path: path)) }
    }

    /// Parses strict JSON (RFC 8259). json-c alone accepts `NaN`, `Infinity`, single quotes,
    /// raw control characters in strings and some invalid UTF-8 (overlong forms, surrogates), so a
    /// lexical pass rejects those first; json-c then checks the grammar and the depth.
    static func parse(_ text: UnsafeBufferPointer<UInt8>) throws -> JSONDocument {
        let keysWithNUL = try checkLexically(text)
        if text.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
            throw InputError(.invalidJSON, path: nil, "not valid JSON at byte \(text.count): empty input")
        }
        guard let tokener = json_tokener_new_ex(maxDepth) else {
            throw InputError(.internalError, path: nil, "could not allocate the JSON tokener")
        }
        defer { json_tokener_free(tokener) }
        json_tokener_set_flags(tokener, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8)
        var parsed = text.withMemoryRebound(to: CChar.self) { chars -> OpaquePointer? in
            guard let base = chars.baseAddress, chars.count > 0 else { return nil }
            return json_tokener_parse_ex(tokener, base, Int32(clamping: chars.count))
        }
        var ended = false
        if json_tokener_get_error(tokener) == json_tokener_continue && !text.isEmpty {
            // A bare number or literal at the very end waits for more input: say it has ended.
            let end: [CChar] = [0]
            parsed = end.withUnsafeBufferPointer { json_tokener_parse_ex(tokener, $0.baseAddress, 1) }
            ended = true
        }
        let error = json_tokener_get_error(tokener)
        // After the end marker json-c counts from it: the data ended at the text's last byte.
        let offset = ended ? text.count : min(json_tokener_get_parse_end(tokener), text.count)
        if error == json_tokener_success && parsed == nil {
            throw InputError(.invalidInput, path: "", "expected an object, got null")
        }
        guard error == json_tokener_success, let handle = parsed else {
            if let parsed { json_object_put(parsed) }
            let reason: String
            switch error {
            case json_tokener_continue, json_tokener_success:
                reason = text.isEmpty ? "empty input" : "unexpected end of input (truncated JSON)"
            case json_tokener_error_depth:
                reason = "nesting deeper than \(maxDepth) levels"
            default:
                reason = String(cString: json_tokener_error_desc(error))
            }
            throw InputError(.invalidJSON, path: nil, "not valid JSON at byte \(offset): \(reason)")
        }
        let document = JSONDocument(handle: handle)
        // json-c keeps object keys as C strings, so "loadKW\u0000x" would silently be read as
        // "loadKW": a key with a NUL is refused where it would be read (not inside `extra`).
        if !keysWithNUL.isEmpty, let path = firstKeyPathOutsideExtra(text, at: keysWithNUL) {
            throw InputError(.invalidInput, path: path, "keys may not contain NUL characters (\\u0000)")
        }
        return document
    }

    /// Rejects what strict JSON never has: outside strings, anything but structure, numbers and
    /// the letters of true/false/null (so `NaN`, `Infinity`, comments, single quotes); inside
    /// strings, raw control characters; anywhere, UTF-8 that is not well formed (RFC 3629: no
    /// overlong forms, no surrogates, nothing above U+10FFFF). Returns the offsets of the object
    /// keys that hold a `\u0000` escape (almost always none).
    private static func checkLexically(_ text: UnsafeBufferPointer<UInt8>) throws -> [Int] {
        var inString = false, escaped = false
        var stringStart = 0, stringHasNUL = false, lastStringStart = 0, lastStringHadNUL = false
        var keysWithNUL: [Int] = []
        var offset = 0
        let count = text.count
        func fail(_ what: String) -> InputError {
            InputError(.invalidJSON, path: nil, "not valid JSON at byte \(offset): \(what)")
        }
        while offset < count {
            let byte = text[offset]
            if byte >= 0x80 {
                guard inString else { throw fail("unexpected byte 0x\(String(byte, radix: 16)) outside a string") }
                offset += try utf8SequenceLength(text, at: offset) ?? { throw fail("invalid UTF-8") }()
                escaped = false
                continue
            }
            if inString {
                if byte < 0x20 {
                    throw fail("raw control character 0x\(String(byte, radix: 16)) in a string (escape it)")
                }
                if escaped {
                    escaped = false
                    if byte == UInt8(ascii: "u"), offset + 4 < count,
                       (1...4).allSatisfy({ text[offset + $0] == UInt8(ascii: "0") }) {
                        stringHasNUL = true
                    }
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                    lastStringStart = stringStart
                    lastStringHadNUL = stringHasNUL
                }
                offset += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                stringStart = offset
                stringHasNUL = false
            case UInt8(ascii: ":"):
                if lastStringHadNUL { keysWithNUL.append(lastStringStart) }
                lastStringHadNUL = false
            case UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: ","),
                 UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
                 UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "t"), UInt8(ascii: "r"), UInt8(ascii: "u"),
                 UInt8(ascii: "f"), UInt8(ascii: "a"), UInt8(ascii: "l"), UInt8(ascii: "s"), UInt8(ascii: "n"):
                break
            default:
                let shown = (32..<127).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
                throw fail("unexpected \(shown) (NaN, Infinity, comments and single quotes are not JSON)")
            }
            offset += 1
        }
        return keysWithNUL
    }

    /// The JSON path, as written (escapes kept), of the first object key whose opening quote is at
    /// one of `offsets` (ascending) and that is not inside an `extra` object. A second, slower pass
    /// over a document already known to be JSON; it only runs when a key holds a NUL, and stops at
    /// the first such key outside `extra`.
    private static func firstKeyPathOutsideExtra(_ text: UnsafeBufferPointer<UInt8>, at offsets: [Int]) -> String? {
        enum Frame { case object(key: String), array(index: Int) }
        var stack: [Frame] = []
        var next = 0  // the next offset to reach
        var expectKey = false
        var k = 0
        while k < text.count {
            let byte = text[k]
            if byte == UInt8(ascii: "\"") {
                let start = k
                k += 1
                while k < text.count && text[k] != UInt8(ascii: "\"") { k += text[k] == UInt8(ascii: "\\") ? 2 : 1 }
                if expectKey, case .object = stack.last {
                    let key = String(decoding: UnsafeBufferPointer(rebasing: text[(start + 1)..<min(k, text.count)]), as: UTF8.self)
                    stack[stack.count - 1] = .object(key: key)
                    expectKey = false
                    while next < offsets.count && offsets[next] < start { next += 1 }
                    if next < offsets.count && offsets[next] == start {
                        var path = "", insideExtra = false
                        for (depth, frame) in stack.enumerated() {
                            switch frame {
                            case .object(let name):
                                path += path.isEmpty ? name : ".\(name)"
                                if name == "extra" && depth < stack.count - 1 { insideExtra = true }
                            case .array(let index): path += "[\(index)]"
                            }
                        }
                        if !insideExtra { return path }
                    }
                }
                k += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "{"): stack.append(.object(key: "")); expectKey = true
            case UInt8(ascii: "["): stack.append(.array(index: 0))
            case UInt8(ascii: "}"), UInt8(ascii: "]"): _ = stack.popLast()
            case UInt8(ascii: ","):
                if case .array(let index) = stack.last { stack[stack.count - 1] = .array(index: index + 1) } else { expectKey = true }
            default: break
            }
            k += 1
        }
        return nil
    }

    /// Length of the well-formed UTF-8 sequence starting at `k` (lead byte ≥ 0x80), or nil.
    private static func utf8SequenceLength(_ text: UnsafeBufferPointer<UInt8>, at k: Int) -> Int? {
        let lead = text[k]
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF  // allowed range of the second byte
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0            // no overlong 3-byte forms
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F           // no UTF-16 surrogates
        case 0xF0: length = 4; low = 0x90            // no overlong 4-byte forms
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F           // nothing above U+10FFFF
        default: return nil                          // continuation byte, C0/C1 overlong, F5+
        }
        guard k + length <= text.count else { return nil }
        guard text[k + 1] >= low && text[k + 1] <= high else { return nil }
        for j in 2..<length where text[k + j] < 0x80 || text[k + j] > 0xBF { return nil }
        return length
    }
}

/// A JSON value inside a `JSONDocument`, with the path that names it in errors. The path is
/// assembled only when asked for (an error, or a child's parent), not for every value read.
struct JSONNode {
    let raw: OpaquePointer
    private let parentPath: String
    private let component: Component

    private enum Component {
        case whole
        case key(StaticString)
        case index(Int)
    }

    init(raw: OpaquePointer, path: String) {
        self.raw = raw
        parentPath = path
        component = .whole
    }

    init(raw: OpaquePointer, parentPath: String, key: StaticString) {
        self.raw = raw
        self.parentPath = parentPath
        component = .key(key)
    }

    init(raw: OpaquePointer, parentPath: String, index: Int) {
        self.raw = raw
        self.parentPath = parentPath
        component = .index(index)
    }

    var path: String {
        switch component {
        case .whole: return parentPath
        case .key(let key): return parentPath.isEmpty ? "\(key)" : "\(parentPath).\(key)"
        case .index(let k): return "\(parentPath)[\(k)]"
        }
    }

    var type: json_type { json_object_get_type(raw) }

    func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The value as the caller wrote it, shortened, for error messages.
    var shown: String {
        guard let c = json_object_to_json_string_ext(raw, JSON_C_TO_STRING_PLAIN) else { return "?" }
        let text = String(cString: c)
        return text.count > 60 ? String(text.prefix(57)) + "..." : text
    }

    var typeName: String {
        switch type {
        case json_type_null: return "null"
        case json_type_boolean: return "a boolean"
        case json_type_double, json_type_int: return "a number"
        case json_type_string: return "a string"
        case json_type_array: return "an array"
        case json_type_object: return "an object"
        default: return "an unknown type"
        }
    }

    func fail(_ message: String) -> InputError { .invalid(path, message) }

    func expected(_ what: String) -> InputError { fail("expected \(what), got \(typeName) \(shown)") }

    /// This value as an object whose keys must all be in `allowed` (or be `extra`). Keys are
    /// compared as C strings: no Swift string is made unless one is unknown.
    func object(allowing allowed: [StaticString]) throws -> JSONObject {
        guard type == json_type_object else { throw expected("an object") }
        var iterator = json_object_iter_begin(raw)
        var end = json_object_iter_end(raw)
        while json_object_iter_equal(&iterator, &end) == 0 {
            if let name = json_object_iter_peek_name(&iterator),
               strcmp(name, "extra") != 0,
               !allowed.contains(where: { strcmp(name, UnsafeRawPointer($0.utf8Start).assumingMemoryBound(to: CChar.self)) == 0 }) {
                let key = String(cString: name)
                let path = self.path
                throw InputError.invalid(path.isEmpty ? key : "\(path).\(key)",
                                         "unknown key \"\(key)\"; allowed here: \(allowed.map { "\($0)" }.sorted().joined(separator: ", "))")
            }
            json_object_iter_next(&iterator)
        }
        return JSONObject(node: self, path: path)
    }

    func array(maxCount: Int = 50_000_000) throws -> [JSONNode] {
        guard type == json_type_array else { throw expected("an array") }
        let count = json_object_array_length(raw)
        guard count <= maxCount else { throw fail("array of \(count) elements exceeds the limit of \(maxCount)") }
        var items: [JSONNode] = []
        items.reserveCapacity(count)
        let path = self.path
        for k in 0..<count {
            guard let element = json_object_array_get_idx(raw, k) else {
                throw InputError.invalid("\(path)[\(k)]", "expected a value, got null")
            }
            items.append(JSONNode(raw: element, parentPath: path, index: k))
        }
        return items
    }

    /// The length of an array (without reading its elements).
    func arrayCount() throws -> Int {
        guard type == json_type_array else { throw expected("an array") }
        return json_object_array_length(raw)
    }

    /// Element `k` of an array, as a node (for an error that names it); nil if there is none.
    func element(_ k: Int) -> JSONNode? {
        guard type == json_type_array, k >= 0, k < json_object_array_length(raw),
              let element = json_object_array_get_idx(raw, k) else { return nil }
        return JSONNode(raw: element, parentPath: path, index: k)
    }

    /// An array of finite numbers, read without a node per element (the long arrays of a CSC
    /// matrix); a bad element raises the error `number()` gives, from its own node.
    func numbers(maxCount: Int = 50_000_000) throws -> [Double] {
        try numericArray(maxCount: maxCount) { value, node in
            if value.isFinite { return value }
            return try node().number()
        }
    }

    /// An array of integers in min...max, read like `numbers`; errors as `integer(min:max:)`.
    func integers(min: Int, max: Int, maxCount: Int = 50_000_000) throws -> [Int] {
        try numericArray(maxCount: maxCount) { value, node in
            if value.isFinite, value == value.rounded(), value >= Double(min), value <= Double(max) { return Int(value) }
            return try node().integer(min: min, max: max)
        }
    }

    private func numericArray<T>(maxCount: Int, _ convert: (Double, () -> JSONNode) throws -> T) throws -> [T] {
        guard type == json_type_array else { throw expected("an array") }
        let count = json_object_array_length(raw)
        guard count <= maxCount else { throw fail("array of \(count) elements exceeds the limit of \(maxCount)") }
        var out: [T] = []
        out.reserveCapacity(count)
        for k in 0..<count {
            guard let element = json_object_array_get_idx(raw, k) else {
                throw InputError.invalid("\(path)[\(k)]", "expected a value, got null")
            }
            let kind = json_object_get_type(element)
            let node = { JSONNode(raw: element, parentPath: self.path, index: k) }
            let value = kind == json_type_double || kind == json_type_int ? json_object_get_double(element) : try node().number()
            out.append(try convert(value, node))
        }
        return out
    }

    /// A finite number (JSON integers and decimals alike).
    func number() throws -> Double {
        guard type == json_type_double || type == json_type_int else { throw expected("a number") }
        let value = json_object_get_double(raw)
        guard value.isFinite else { throw fail("\(shown) is not a finite number") }
        return value
    }

    /// A finite number checked against a range (`nil` bounds are open).
    func number(above: Double? = nil, below: Double? = nil, min: Double? = nil, max: Double? = nil) throws -> Double {
        let value = try number()
        if let min, value < min { throw fail("\(shown) is below the minimum \(describeNumber(min))") }
        if let max, value > max { throw fail("\(shown) is above the maximum \(describeNumber(max))") }
        if let above, value <= above { throw fail("\(shown) must be greater than \(describeNumber(above))") }
        if let below, value >= below { throw fail("\(shown) must be less than \(describeNumber(below))") }
        return value
    }

    func integer(min: Int, max: Int) throws -> Int {
        let value = try number()
        guard value == value.rounded() else { throw expected("an integer") }
        guard value >= Double(min), value <= Double(max) else {
            throw fail("\(shown) is outside the allowed range \(min)...\(max)")
        }
        return Int(value)
    }

    func bool() throws -> Bool {
        guard type == json_type_boolean else { throw expected("true or false") }
        return json_object_get_boolean(raw) != 0
    }

    /// A string without NUL characters (ids and names travel through C strings).
    func string() throws -> String {
        guard type == json_type_string else { throw expected("a string") }
        let length = Int(json_object_get_string_len(raw))
        guard let pointer = json_object_get_string(raw) else { return "" }
        let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: length)
        if bytes.contains(0) { throw fail("strings may not contain NUL characters") }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A non-empty string of at most 256 bytes (an identifier).
    func identifier() throws -> String {
        let text = try string()
        guard !text.isEmpty else { throw fail("an id may not be empty") }
        guard text.utf8.count <= 256 else { throw fail("an id may not be longer than 256 bytes") }
        return text
    }

    func oneOf(_ choices: [String]) throws -> String {
        let text = try string()
        guard choices.contains(text) else {
            throw fail("\"\(text)\" is not one of: \(choices.joined(separator: ", "))")
        }
        return text
    }
}

/// An object whose keys have been checked; lookups return nodes with paths.
struct JSONObject {
    let node: JSONNode
    /// The object's own path, computed once for all its children.
    let path: String

    /// The value at `key`; nil when absent or null.
    subscript(_ key: StaticString) -> JSONNode? {
        var value: OpaquePointer?
        guard json_object_object_get_ex(node.raw, Self.cString(key), &value) != 0, let value else { return nil }
        return JSONNode(raw: value, parentPath: path, key: key)
    }

    func has(_ key: StaticString) -> Bool {
        json_object_object_get_ex(node.raw, Self.cString(key), nil) != 0
    }

    func require(_ key: StaticString) throws -> JSONNode {
        guard let value = self[key] else { throw InputError.invalid(child(key), "missing required key \"\(key)\"") }
        return value
    }

    /// Path of a key of this object.
    func child(_ key: StaticString) -> String { path.isEmpty ? "\(key)" : "\(path).\(key)" }

    private static func cString(_ key: StaticString) -> UnsafePointer<CChar> {
        UnsafeRawPointer(key.utf8Start).assumingMemoryBound(to: CChar.self)
    }
}
