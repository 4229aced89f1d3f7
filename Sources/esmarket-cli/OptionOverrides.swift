// `clear --algorithm/--time-limit/--threads/--tolerance`: the flags are written into the
// document's `options` object, so the library validates them like any document value (an error
// names `options.algorithm`) and a flag replaces the document's own value. Only the `options`
// member is rewritten; every other byte of the document stays as the user wrote it.

struct OptionOverrides {
    /// (key, JSON text) in the order the flags are listed.
    var values: [(key: String, json: String)] = []

    var isEmpty: Bool { values.isEmpty }

    mutating func set(_ key: String, json: String) {
        values.removeAll { $0.key == key }
        values.append((key, json))
    }

    /// `document` with the overrides in its root `options` object. A document whose root is not
    /// an object, or that is not JSON, is returned unchanged: the library reports what is wrong.
    func apply(to document: String) -> String {
        guard !values.isEmpty else { return document }
        let bytes = Array(document.utf8)
        var scanner = JSONScanner(bytes)
        guard let root = scanner.objectMembers() else { return document }
        scanner.skipSpace()
        guard scanner.atEnd else { return document }
        func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }
        let overridden = Set(values.map(\.key))
        let added = values.map { "\(jsonQuoted($0.key)):\($0.json)" }
        guard let options = root.last(where: { $0.key == "options" }) else {
            // No options: a new first member of the root object.
            var opening = JSONScanner(bytes)
            opening.skipSpace()
            let afterBrace = opening.position + 1
            let member = "\"options\":{\(added.joined(separator: ","))}" + (root.isEmpty ? "" : ",")
            return text(0..<afterBrace) + member + text(afterBrace..<bytes.count)
        }
        var inner = JSONScanner(bytes)
        inner.position = options.value.lowerBound
        guard let kept = inner.objectMembers() else { return document }  // not an object: the library says so
        let members = kept.filter { !overridden.contains($0.key) }.map { "\"\($0.key)\":\(text($0.value))" } + added
        return text(0..<options.value.lowerBound) + "{" + members.joined(separator: ",") + "}"
            + text(options.value.upperBound..<bytes.count)
    }
}
