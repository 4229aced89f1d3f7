import CJSONC

/// Edits of a json-c tree that can be undone: a session applies an update document to its
/// problem's tree, and takes every edit back when the updated problem does not validate.
///
/// json-c counts references: a value taken from the update document is shared into the tree
/// (`json_object_get`), so it outlives the update's own tree; a replaced value is kept alive here
/// until the edits are committed (released) or rolled back (put back).
struct TreeEdits {
    private struct Edit {
        let parent: OpaquePointer
        let key: String
        /// The value the key had (one reference held here), nil when the key was absent.
        let previous: OpaquePointer?
    }

    private var edits: [Edit] = []

    var isEmpty: Bool { edits.isEmpty }

    /// Sets `parent[key] = value`, sharing `value` (the caller keeps its own reference).
    mutating func set(_ parent: OpaquePointer, _ key: String, to value: OpaquePointer) {
        var old: OpaquePointer?
        if json_object_object_get_ex(parent, key, &old) != 0, let old {
            json_object_get(old)
            edits.append(Edit(parent: parent, key: key, previous: old))
        } else {
            edits.append(Edit(parent: parent, key: key, previous: nil))
        }
        json_object_get(value)
        json_object_object_add(parent, key, value)
    }

    /// The object at `parent[key]`, created empty (an undoable edit) when absent or not an object.
    mutating func object(in parent: OpaquePointer, _ key: String) -> OpaquePointer? {
        var existing: OpaquePointer?
        if json_object_object_get_ex(parent, key, &existing) != 0, let existing,
           json_object_get_type(existing) == json_type_object {
            return existing
        }
        guard let fresh = json_object_new_object() else { return nil }
        set(parent, key, to: fresh)
        json_object_put(fresh)  // the tree holds it now
        return fresh
    }

    /// Keeps the edits: releases the replaced values.
    mutating func commit() {
        for edit in edits { if let previous = edit.previous { json_object_put(previous) } }
        edits = []
    }

    /// Takes every edit back, newest first.
    mutating func rollBack() {
        for edit in edits.reversed() {
            if let previous = edit.previous {
                json_object_object_add(edit.parent, edit.key, previous)  // hands our reference back
            } else {
                json_object_object_del(edit.parent, edit.key)
            }
        }
        edits = []
    }
}
