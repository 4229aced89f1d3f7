// `clear --algorithm/--time-limit/--threads/--tolerance`: the flags are written into the
// document's `options` object, so the library validates them like any document value (an error
// names `options.algorithm`) and a flag replaces the document's own value. The document goes
// through json-c and back: members keep their order and parsed numbers keep the text they were
// written with (json-c serializes a parsed double from its source text).
import CJSONC
import ESMGrid
import ESMJSON

struct OptionOverrides {
    /// (key, value) in the order the flags are listed.
    var values: [(key: String, value: JSONScalar)] = []

    var isEmpty: Bool { values.isEmpty }

    mutating func set(_ key: String, _ value: JSONScalar) {
        values.removeAll { $0.key == key }
        values.append((key, value))
    }

    /// `document` with the overrides in its root `options` object (created if absent or null).
    /// A document that is not JSON, whose root is not an object or whose `options` is not an
    /// object is returned unchanged: the library reports what is wrong, with its offset or path.
    func apply(to document: String) -> String {
        guard !values.isEmpty, isJSON(document), let tree = JSONTree.parse(document),
              json_object_get_type(tree.root) == json_type_object else { return document }
        return withExtendedLifetime(tree) { () -> String in
            var options: OpaquePointer?
            // Absent, or null (json-c's NULL), which the library reads as absent: a new object.
            if json_object_object_get_ex(tree.root, "options", &options) == 0 || options == nil {
                guard let created = json_object_new_object() else { return document }
                _ = json_object_object_add(tree.root, "options", created)
                options = created
            }
            guard let options, json_object_get_type(options) == json_type_object else { return document }
            for (key, value) in values {
                guard let node = value.node else { return document }
                _ = json_object_object_add(options, key, node)  // replaces the document's member in place
            }
            return tree.text()
        }
    }

    /// Whether the library reads `document` as JSON (its own strict json-c reader decides).
    /// json-c on its own also reads what the library refuses, such as raw control characters in
    /// strings, and writing that back would make it valid. json-c also cuts an object key at a
    /// `\u0000`, which the library refuses with the key's path: a document the library refuses
    /// that holds a `\u0000` is not rewritten either, so that error is the one the user sees.
    private func isJSON(_ document: String) -> Bool {
        do {
            _ = try ProblemDecoder.decode(document)
        } catch let error as InputError {
            return error.code != .invalidJSON && !document.contains("\\u0000")
        } catch {
            return false
        }
        return true
    }
}
