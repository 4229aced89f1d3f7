import Foundation
import Testing
import CJSONC
@testable import ESMJSON
import ESMMarkets

/// Sessions of the market mechanisms (README "Sessions"): the kept tree's edits, rollback of a
/// failed update, and steps equal to fresh clears of the session's document.
struct MarketSessionTests {
    static func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    /// A result without its timings, keys sorted.
    static func comparable(_ reply: Service.Reply) -> String {
        var doc = json(reply.json)
        doc["stats"] = nil
        return String(decoding: (try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
    }

    static func text(_ object: OpaquePointer) -> String {
        String(cString: json_object_to_json_string_ext(object, JSON_C_TO_STRING_PLAIN))
    }

    @Test func treeEditsRollBackToTheOriginalAndCommitKeepsTheirValues() throws {
        let original = #"{"a":1,"b":{"c":[1,2]}}"#
        guard let root = json_tokener_parse(original), let value = json_tokener_parse("7.25"),
              let other = json_tokener_parse(#"{"x":true}"#) else { Issue.record("parse"); return }
        defer { json_object_put(root); json_object_put(value); json_object_put(other) }
        var edits = TreeEdits()
        edits.set(root, "a", to: value)                       // replace
        let madeD = edits.object(in: root, "d")                // create an object
        let created = try #require(madeD)
        edits.set(created, "e", to: other)                    // set inside the new object
        var b: OpaquePointer?
        #expect(json_object_object_get_ex(root, "b", &b) != 0)
        let bObject = try #require(b)
        let madeB2 = edits.object(in: bObject, "b2")
        let inner = try #require(madeB2)
        edits.set(inner, "z", to: value)
        #expect(Self.text(root) == #"{"a":7.25,"b":{"c":[1,2],"b2":{"z":7.25}},"d":{"e":{"x":true}}}"#)
        edits.rollBack()
        #expect(Self.text(root) == original)
        #expect(edits.isEmpty)
        // The shared values are still the update's own (their references were given back).
        #expect(Self.text(value) == "7.25")
        edits.set(root, "a", to: other)
        edits.commit()
        #expect(Self.text(root) == #"{"a":{"x":true},"b":{"c":[1,2]}}"#)
    }

    static let problem = #"""
    {"schema": "esmarket/1", "mechanism": "energy_sharing",
     "grid": {"buyPrice": 0.3, "sellPrice": 0.1},
     "communities": [{"id": "c", "sensitivity": 0.05}],
     "prosumers": [
       {"id": "a", "loadKW": 4, "flex": {"minKW": 0, "maxKW": 5, "costA": 0.2, "costB": 0.05}},
       {"id": "b", "loadKW": 1, "pvKW": 6, "flex": {"minKW": 0, "maxKW": 2, "costA": 0.1, "costB": 0.05}},
       {"id": "c", "loadKW": 2}]}
    """#

    @Test func stepsEqualFreshClearsOfTheSessionsDocument() throws {
        let session = try #require(Sessions.open(Self.problem).0)
        let updates = [#"{}"#,
                       #"{"prosumers": {"loadKW": [3, null, 2.5]}}"#,
                       #"{"prosumers": [{"id": "b", "pvKW": 1.5, "flex": {"maxKW": 4}}]}"#,
                       #"{"prosumers": {"id": ["c"], "flex": {"maxKW": [1]}}}"#,   // c had no flex
                       #"{"grid": {"buyPrice": 0.4}, "options": {"tolerance": 1e-7}}"#]
        for update in updates {
            var copy = update
            let stepped = copy.withUTF8 { session.step($0, control: SolveControl()) }
            #expect(stepped.error == nil, "\(update): \(stepped.json)")
            let fresh = Service.clear(session.state())
            #expect(Self.comparable(stepped) == Self.comparable(fresh), "\(update)")
        }
        let state = Self.json(session.state())
        let people = state["prosumers"] as? [[String: Any]] ?? []
        #expect(people.count == 3)
        #expect((people.first?["loadKW"] as? Double) == 3)
        #expect((people[1]["loadKW"] as? Double) == 1)            // null: unchanged
        #expect(((people[2]["flex"] as? [String: Any])?["maxKW"] as? Double) == 1)
        #expect(((state["grid"] as? [String: Any])?["buyPrice"] as? Double) == 0.4)
    }

    @Test func aFailedUpdateLeavesTheSessionAsItWas() throws {
        let session = try #require(Sessions.open(Self.problem).0)
        let before = session.state()
        let cases: [(String, String)] = [
            (#"{"prosumers": {"loadKW": [1, 2]}}"#, "prosumers.loadKW"),
            (#"{"prosumers": {"loadKW": [1, 2, -3]}}"#, "prosumers.loadKW[2]"),
            // a valid first row, then an invalid one: the first is taken back too
            (#"{"prosumers": [{"id": "a", "loadKW": 9}, {"id": "b", "flex": {"minKW": 3}}]}"#, "prosumers[1].flex.maxKW"),
            (#"{"prosumers": [{"id": "a", "storage": {"socKWh": 1}}]}"#, "prosumers[0].storage.socKWh"),
            (#"{"prosumers": [{"id": "zz"}]}"#, "prosumers[0].id"),
            (#"{"grid": {"sellPrice": 0.5}}"#, "grid.buyPrice"),
            (#"{"prosumers": {"id": ["a"], "flex": {"maxKW": [-1]}}}"#, "prosumers.flex.maxKW[0]"),
            (#"[1]"#, ""),
        ]
        for (update, path) in cases {
            var copy = update
            let reply = copy.withUTF8 { session.step($0, control: SolveControl()) }
            #expect(reply.error == .invalidInput, "\(update)")
            let error = Self.json(reply.json)["error"] as? [String: Any]
            #expect((error?["path"] as? String ?? "") == path, "\(update): \(reply.json)")
            #expect(session.state() == before, "\(update)")
        }
    }
}
