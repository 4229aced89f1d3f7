import CJSONC
import ESMGrid

/// The fields of one prosumer as the decoder reads them: a row object of `prosumers: [...]`, or
/// row k of the column form `prosumers: {"id": [...], "loadKW": [...], "flex": {"maxKW": [...]}}`
/// (README "Columns"). Both give nodes with the paths a user can find: `prosumers[17].loadKW`,
/// `prosumers.loadKW[17]`.
protocol ProsumerFields {
    /// The value at `key`; nil when absent or null.
    subscript(_ key: StaticString) -> JSONNode? { get }
    func has(_ key: StaticString) -> Bool
    /// The path of `key` (for errors about a missing or inconsistent value).
    func child(_ key: StaticString) -> String
    /// The nested fields of `flex` or `storage`; nil when this prosumer has none.
    func group(_ key: StaticString, allowing keys: [StaticString]) throws -> ProsumerFields?
}

extension ProsumerFields {
    func require(_ key: StaticString) throws -> JSONNode {
        guard let value = self[key] else { throw InputError.invalid(child(key), "missing required key \"\(key)\"") }
        return value
    }
}

extension JSONObject: ProsumerFields {
    func group(_ key: StaticString, allowing keys: [StaticString]) throws -> ProsumerFields? {
        try self[key].map { try $0.object(allowing: keys) }
    }
}

/// Row `index` of a column table (an object of equal-length arrays whose keys were checked).
struct ColumnRow: ProsumerFields {
    let table: JSONObject
    let index: Int

    subscript(_ key: StaticString) -> JSONNode? {
        guard let column = table[key], column.type == json_type_array, index < json_object_array_length(column.raw),
              let value = json_object_array_get_idx(column.raw, index) else { return nil }
        return JSONNode(raw: value, parentPath: column.path, index: index)
    }

    func has(_ key: StaticString) -> Bool { self[key] != nil }

    func child(_ key: StaticString) -> String { "\(table.child(key))[\(index)]" }

    /// A prosumer has flex (storage) when one of the group's columns has a value in its row.
    func group(_ key: StaticString, allowing keys: [StaticString]) throws -> ProsumerFields? {
        guard let node = table[key] else { return nil }
        let row = ColumnRow(table: try node.object(allowing: keys), index: index)
        return keys.contains { row.has($0) } ? row : nil
    }

    /// Checks a column table once: every member an array of `count` values, `groups` members
    /// objects of such arrays. Returns the table.
    static func table(_ node: JSONNode, allowing keys: [StaticString], groups: [(StaticString, [StaticString])],
                      count: Int, counted: String) throws -> JSONObject {
        let table = try node.object(allowing: keys)
        func check(_ column: JSONNode) throws {
            guard column.type == json_type_array else { throw column.expected("an array with one value per prosumer") }
            let n = json_object_array_length(column.raw)
            guard n == count else { throw column.fail("expected \(count) values (one per prosumer, as in \(counted)), got \(n)") }
        }
        for key in keys {
            guard let column = table[key] else { continue }
            if let group = groups.first(where: { "\($0.0)" == "\(key)" }) {
                let inner = try column.object(allowing: group.1)
                for field in group.1 { if let values = inner[field] { try check(values) } }
            } else {
                try check(column)
            }
        }
        return table
    }
}
