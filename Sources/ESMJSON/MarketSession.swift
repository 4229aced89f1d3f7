import CJSONC
#if canImport(Glibc)
import Glibc
#endif
import ESMGrid
import ESMMarkets

/// A session of a market mechanism (every mechanism but `p2p_online`, whose sessions step through
/// slots): the problem document's json-c tree, kept for the session's life, and the problem
/// decoded from it. A step applies an update document to the tree (README "Sessions"), decodes
/// again only what the update touched and clears. The tree is always the document a fresh
/// `esm_clear` would get, so a step's result is bit-identical to clearing `state()`.
///
/// A step whose update does not validate takes its edits back: the session is as it was. Not
/// synchronized: one thread at a time per session (include/esmarket.h).
final class MarketSession: ClearingSession {
    private let document: JSONDocument
    private let root: OpaquePointer
    private var problem: Problem
    private let prosumerIndex: [String: Int]
    private let communityIndex: [String: Int]

    /// Prosumer keys a step may change: the time-varying inputs and the prosumer's own terms.
    /// Identity and structure (`id`, `bus`, `community`, `peers`) stay as the session began.
    static let prosumerKeys: [StaticString] = ["loadKW", "qLoadKVAr", "pvKW", "powerFactor", "tradeCost", "tradeCostA",
                                               "contractPrice", "tradeMaxKW", "flex", "storage"]
    static let flexKeys: [StaticString] = ["minKW", "maxKW", "costA", "costB"]
    static let storageKeys: [StaticString] = ["socKWh"]

    init(document: JSONDocument, root: OpaquePointer, problem: Problem) {
        self.document = document
        self.root = root
        self.problem = problem
        var index = [String: Int](minimumCapacity: problem.prosumers.count)
        for (k, who) in problem.prosumers.enumerated() { index[who.id] = k }
        prosumerIndex = index
        var communities = [String: Int]()
        for (k, community) in problem.communities.enumerated() { communities[community.id] = k }
        communityIndex = communities
    }

    func step(_ text: UnsafeBufferPointer<UInt8>, control: SolveControl) -> Service.Reply {
        let start = monotonicSeconds()
        var edits = TreeEdits()
        do {
            let updated = try JSONDocument.parse(text).withRoot { update -> Problem in
                let touched = try apply(update, to: &edits)
                do {
                    return try decode(touched)
                } catch let error as InputError {
                    throw touched.origin(of: error)
                }
            }
            edits.commit()
            problem = updated
            let parsed = monotonicSeconds()
            var control = control
            if let limit = problem.options.timeLimitSeconds { control.deadline = start + limit }
            let result = try clearMarket(problem, control: control)
            let timing = ResultEncoder.Timing(parseSeconds: parsed - start, solveSeconds: monotonicSeconds() - parsed, start: start)
            return Service.Reply(error: nil, json: ResultEncoder.encode(result, timing: timing))
        } catch let error as InputError {
            edits.rollBack()
            return Service.Reply(error)
        } catch {
            edits.rollBack()
            return Service.Reply(InputError(.internalError, path: nil, "unexpected error: \(error)"))
        }
    }

    /// The session's problem document as it stands after the steps so far: `esm_clear` of it
    /// gives the last step's result, and `esm_session_new` of it starts an equal session.
    func state() -> String {
        withExtendedLifetime(document) {
            guard let text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN) else { return "{}" }
            return String(cString: text)
        }
    }

    // MARK: applying an update

    /// What an update changed, and where in the update each change came from (for error paths).
    struct Touched {
        /// Where a value came from: prosumers[k].key (.field), set by the update at `update`
        /// (followed by `[index]` for a column). Paths are only spelled out for an error.
        struct Origin {
            var prosumer: Int
            var key: String
            var field: String?
            var update: String
            var index: Int?

            var sessionPath: String { "prosumers[\(prosumer)].\(key)" + (field.map { ".\($0)" } ?? "") }
            var updatePath: String { update + (index.map { "[\($0)]" } ?? "") }
        }

        var prosumers: [Int] = []
        var wholeProblem = false
        var origins: [Origin] = []
        /// grid / options: (session path, update path).
        var sections: [(session: String, update: String)] = []

        mutating func note(_ origin: Origin) {
            prosumers.append(origin.prosumer)
            origins.append(origin)
        }

        /// The error with its path moved into the update document, when the update set the value.
        func origin(of error: InputError) -> InputError {
            guard let path = error.path else { return error }
            func covers(_ prefix: String) -> Bool {
                path == prefix || path.hasPrefix(prefix + ".") || path.hasPrefix(prefix + "[")
            }
            var best: (session: String, update: String)?
            func consider(_ session: String, _ update: @autoclosure () -> String) {
                guard covers(session) else { return }
                if let known = best, known.session.count >= session.count { return }
                best = (session, update())
            }
            for pair in sections { consider(pair.session, pair.update) }
            for origin in origins { consider(origin.sessionPath, origin.updatePath) }
            guard let best else { return error }
            return InputError(error.code, path: best.update + String(path.dropFirst(best.session.count)),
                              error.message + " (set by this update; the session is unchanged)")
        }
    }

    private func apply(_ update: JSONNode, to edits: inout TreeEdits) throws -> Touched {
        let object = try update.object(allowing: ["prosumers", "grid", "options"])
        var touched = Touched()
        if let node = object["prosumers"] {
            if node.type == json_type_array {
                try applyRows(node, to: &edits, &touched)
            } else if node.type == json_type_object {
                try applyColumns(node, to: &edits, &touched)
            } else {
                throw node.expected("an array of prosumer updates or an object of columns")
            }
        }
        for key: StaticString in ["grid", "options"] {
            guard let node = object[key] else { continue }
            let isGrid = "\(key)" == "grid"
            _ = try node.object(allowing: isGrid ? ProblemDecoder.gridKeys : ProblemDecoder.optionKeys)
            guard let target = edits.object(in: root, "\(key)") else { throw InputError(.internalError, path: node.path, "out of memory") }
            try forEachMember(node) { name, value in edits.set(target, name, to: value) }
            touched.wholeProblem = true
            touched.sections.append(("\(key)", node.path))
        }
        return touched
    }


    /// `[{"id": "p7", "loadKW": 2.5, "flex": {"maxKW": 3}}, ...]`: the listed prosumers, by id.
    private func applyRows(_ node: JSONNode, to edits: inout TreeEdits, _ touched: inout Touched) throws {
        for item in try node.array() {
            let row = try item.object(allowing: ["id"] + Self.prosumerKeys)
            let idNode = try row.require("id")
            let k = try prosumer(idNode)
            try setProsumer(k, from: item, skipping: "id", updatePath: item.path, edits: &edits, &touched)
        }
    }

    /// `{"id": [...], "loadKW": [...], "flex": {"maxKW": [...]}}`: one value per listed prosumer (all
    /// prosumers in the session's order without "id"); a null leaves that prosumer's value as is.
    private func applyColumns(_ node: JSONNode, to edits: inout TreeEdits, _ touched: inout Touched) throws {
        let columns = try node.object(allowing: ["id"] + Self.prosumerKeys)
        var targets = Array(problem.prosumers.indices)
        if let ids = columns["id"] {
            targets = try ids.array().map { try prosumer($0) }
        }
        /// The column's values (nil for a null), checked for length.
        func column(_ node: JSONNode) throws -> [OpaquePointer?] {
            guard node.type == json_type_array else { throw node.expected("an array with one value per prosumer") }
            let count = try node.arrayCount()
            guard count == targets.count else {
                throw node.fail("expected \(targets.count) values (one per prosumer\(columns.has("id") ? " listed in id" : ", in the session's order")), got \(count)")
            }
            return (0..<count).map { json_object_array_get_idx(node.raw, $0) }
        }
        try forEachMember(node) { name, _ in
            guard name != "id", let member = columns.node(named: name) else { return }
            if name == "flex" || name == "storage" {
                let allowed = name == "flex" ? Self.flexKeys : Self.storageKeys
                let inner = try member.object(allowing: allowed)
                try forEachMember(member) { field, _ in
                    guard let fieldNode = inner.node(named: field) else { return }
                    let base = fieldNode.path
                    for (j, value) in try column(fieldNode).enumerated() {
                        guard let value else { continue }
                        try setNested(targets[j], name, field, value, update: base, index: j, edits: &edits, &touched)
                    }
                }
            } else {
                let base = member.path
                guard let list = prosumerList() else { return }
                for (j, value) in try column(member).enumerated() {
                    guard let value else { continue }
                    let k = targets[j]
                    guard let target = json_object_array_get_idx(list, k) else { continue }
                    edits.set(target, name, to: value)
                    touched.note(.init(prosumer: k, key: name, field: nil, update: base, index: j))
                }
            }
        }
    }

    private func setProsumer(_ k: Int, from item: JSONNode, skipping: String, updatePath: String,
                             edits: inout TreeEdits, _ touched: inout Touched) throws {
        guard let target = prosumerObject(k) else { return }
        try forEachMember(item) { name, value in
            guard name != skipping else { return }
            let path = updatePath.isEmpty ? name : "\(updatePath).\(name)"
            if name == "flex" || name == "storage" {
                let valueNode = JSONNode(raw: value, path: path)
                _ = try valueNode.object(allowing: name == "flex" ? Self.flexKeys : Self.storageKeys)
                try forEachMember(valueNode) { field, inner in
                    try setNested(k, name, field, inner, update: "\(path).\(field)", index: nil, edits: &edits, &touched)
                }
            } else {
                edits.set(target, name, to: value)
                touched.note(.init(prosumer: k, key: name, field: nil, update: path, index: nil))
            }
        }
    }

    /// prosumers[k].<group>.<field> = value; a storage value needs the prosumer's battery.
    private func setNested(_ k: Int, _ group: String, _ field: String, _ value: OpaquePointer, update: String, index: Int?,
                           edits: inout TreeEdits, _ touched: inout Touched) throws {
        let origin = Touched.Origin(prosumer: k, key: group, field: field, update: update, index: index)
        guard let target = prosumerObject(k) else { return }
        if group == "storage" {
            var existing: OpaquePointer?
            guard json_object_object_get_ex(target, "storage", &existing) != 0, existing != nil else {
                throw InputError.invalid(origin.updatePath, "prosumer \"\(problem.prosumers[k].id)\" has no storage to update")
            }
        }
        guard let inner = edits.object(in: target, group) else {
            throw InputError(.internalError, path: origin.updatePath, "out of memory")
        }
        edits.set(inner, field, to: value)
        touched.note(origin)
    }

    private func prosumer(_ idNode: JSONNode) throws -> Int {
        let id = try idNode.identifier()
        guard let k = prosumerIndex[id] else { throw idNode.fail("no prosumer \"\(id)\" in this session") }
        return k
    }

    private func prosumerList() -> OpaquePointer? {
        var list: OpaquePointer?
        guard json_object_object_get_ex(root, "prosumers", &list) != 0, let list,
              json_object_get_type(list) == json_type_array else { return nil }
        return list
    }

    private func prosumerObject(_ k: Int) -> OpaquePointer? {
        guard let list = prosumerList(), k >= 0, k < json_object_array_length(list) else { return nil }
        return json_object_array_get_idx(list, k)
    }

    /// Calls `body` with each member's name and (non-null) value of an object node.
    private func forEachMember(_ node: JSONNode, _ body: (String, OpaquePointer) throws -> Void) throws {
        guard node.type == json_type_object else { throw node.expected("an object") }
        var iterator = json_object_iter_begin(node.raw)
        var end = json_object_iter_end(node.raw)
        while json_object_iter_equal(&iterator, &end) == 0 {
            if let name = json_object_iter_peek_name(&iterator), strcmp(name, "extra") != 0,
               let value = json_object_iter_peek_value(&iterator) {
                try body(String(cString: name), value)
            }
            json_object_iter_next(&iterator)
        }
    }

    // MARK: decoding what changed

    /// The problem after the edits: only the touched prosumers are decoded again (with the same
    /// decoder as a fresh document, at the same paths); grid or options changes decode the whole
    /// tree, since they take part in the document's cross-checks.
    private func decode(_ touched: Touched) throws -> Problem {
        if touched.wholeProblem {
            return try withExtendedLifetime(document) { try ProblemDecoder.decode(JSONNode(raw: root, path: "")) }
        }
        var updated = problem
        let decoder = ProsumerDecoder(periods: problem.periods, mechanism: problem.mechanism, network: problem.network,
                                      communities: problem.communities)
        for k in Set(touched.prosumers).sorted() {
            guard let raw = prosumerObject(k) else { continue }
            let object = try JSONNode(raw: raw, path: "prosumers[\(k)]").object(allowing: ProsumerDecoder.keys)
            let old = problem.prosumers[k]
            var fresh = try decoder.decodeOne(object, id: old.id, communityIndex: communityIndex)
            fresh.peers = old.peers
            fresh.peerTerms = old.peerTerms
            updated.prosumers[k] = fresh
        }
        return updated
    }
}

private extension JSONObject {
    /// The member named by a runtime string (the object's keys were checked against an allow-list).
    func node(named name: String) -> JSONNode? {
        var value: OpaquePointer?
        guard json_object_object_get_ex(node.raw, name, &value) != 0, let value else { return nil }
        return JSONNode(raw: value, path: path.isEmpty ? name : "\(path).\(name)")
    }
}
