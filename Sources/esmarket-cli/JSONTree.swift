// JSON in the command-line tool goes through json-c, the parser under the library's decoder: the
// tool reads result documents and progress events, rewrites a problem's `options` and indents
// output, and never parses JSON text by hand.
import CJSONC

/// A json-c tree the tool owns (parsed or built), released when this object goes away.
final class JSONTree {
    /// The library's own limit (api.md §4): deeper text is not parsed here, the library reports it.
    static let maximumDepth: Int32 = 512

    let root: OpaquePointer

    /// Takes over one reference to `root`.
    init(taking root: OpaquePointer) { self.root = root }

    deinit { json_object_put(root) }

    /// Parses strict JSON with json-c; nil when `text` is not JSON, is deeper than
    /// `maximumDepth`, is `null` or is a bare number (json-c waits for more text after one;
    /// every document the tool reads is an object).
    static func parse(_ text: String) -> JSONTree? {
        var copy = text
        return copy.withUTF8 { bytes -> JSONTree? in
            guard let base = bytes.baseAddress, bytes.count > 0, bytes.count < Int(Int32.max),
                  let tokener = json_tokener_new_ex(maximumDepth) else { return nil }
            defer { json_tokener_free(tokener) }
            json_tokener_set_flags(tokener, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8)
            let parsed = base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                json_tokener_parse_ex(tokener, $0, Int32(bytes.count))
            }
            guard let parsed else { return nil }
            let tree = JSONTree(taking: parsed)
            return json_tokener_get_error(tokener) == json_tokener_success ? tree : nil
        }
    }

    /// The tree as JSON text. Parsed numbers keep the text they were written with (json-c
    /// serializes a parsed double from its source text); "/" is not escaped.
    func text(pretty: Bool = false) -> String {
        let flags = JSON_C_TO_STRING_NOSLASHESCAPE | (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN)
        return withExtendedLifetime(self) {
            var length = 0
            guard let chars = json_object_to_json_string_length(root, flags, &length) else { return "null" }
            return chars.withMemoryRebound(to: UInt8.self, capacity: length) {
                String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
            }
        }
    }

    /// The tree as the tool's read-only value.
    var value: JSONValue { withExtendedLifetime(self) { JSONValue(root) } }
}

/// A value the tool writes into a json-c tree: a flag's value.
enum JSONScalar {
    case string(String)
    case number(Double)
    case integer(Int)
    case bool(Bool)

    /// A new json-c value (one reference, handed to the object it is added to).
    var node: OpaquePointer? {
        switch self {
        case .string(let text):
            var copy = text
            return copy.withUTF8 { bytes in
                bytes.withMemoryRebound(to: CChar.self) { chars in
                    guard let base = chars.baseAddress else { return json_object_new_string("") }
                    return json_object_new_string_len(base, Int32(clamping: chars.count))
                }
            }
        // Swift's shortest round-trip text ("0.1", "1e-07"), which json-c writes as given.
        case .number(let value): return json_object_new_double_s(value, "\(value)")
        case .integer(let value): return json_object_new_int64(Int64(value))
        case .bool(let flag): return json_object_new_boolean(flag ? 1 : 0)
        }
    }
}

extension JSONTree {
    /// An object of `members` in this order; nil only if json-c cannot allocate.
    static func object(_ members: [(key: String, value: JSONScalar)]) -> JSONTree? {
        guard let root = json_object_new_object() else { return nil }
        let tree = JSONTree(taking: root)
        for (key, value) in members {
            guard let node = value.node else { return nil }
            _ = json_object_object_add(root, key, node)
        }
        return tree
    }
}

/// `text` (a document the library wrote) indented by json-c; unchanged if json-c cannot read it.
func prettyJSON(_ text: String) -> String {
    JSONTree.parse(text)?.text(pretty: true) ?? text
}
