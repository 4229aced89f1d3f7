// The tool's read-only view of a JSON document, copied out of a json-c tree. Objects keep
// their members in document order (json-c iterates them in insertion order), so summaries
// read like the result.
import CJSONC

enum JSONValue {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    /// Parses `text` with json-c; nil when it is not JSON (the library reports why, with the byte offset).
    static func parse(_ text: String) -> JSONValue? { JSONTree.parse(text)?.value }

    /// A copy of the json-c value `node` (the tree's depth is bounded by `JSONTree.maximumDepth`).
    init(_ node: OpaquePointer?) {
        guard let node else { self = .null; return }
        switch json_object_get_type(node) {
        case json_type_object:
            var members: [(key: String, value: JSONValue)] = []
            var iterator = json_object_iter_begin(node)
            var end = json_object_iter_end(node)
            while json_object_iter_equal(&iterator, &end) == 0 {
                if let name = json_object_iter_peek_name(&iterator) {
                    members.append((String(cString: name), JSONValue(json_object_iter_peek_value(&iterator))))
                }
                json_object_iter_next(&iterator)
            }
            self = .object(members)
        case json_type_array:
            let count = json_object_array_length(node)
            self = .array((0..<count).map { JSONValue(json_object_array_get_idx(node, $0)) })
        case json_type_string:
            let length = Int(json_object_get_string_len(node))
            guard let chars = json_object_get_string(node) else { self = .string(""); return }
            self = .string(chars.withMemoryRebound(to: UInt8.self, capacity: length) {
                String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
            })
        case json_type_int, json_type_double:
            // json-c reads NaN and Infinity; the tool shows only finite numbers.
            let number = json_object_get_double(node)
            self = number.isFinite ? .number(number) : .null
        case json_type_boolean:
            self = .bool(json_object_get_boolean(node) != 0)
        default:
            self = .null
        }
    }

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
}
