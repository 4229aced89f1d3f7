import CJSONC
import ESMGrid

/// Decodes `network` (api.md §2.2), including `{"builtin": name}` with fields beside it
/// overriding the embedded feeder's.
struct NetworkDecoder {
    let periods: Int

    static let keys: [StaticString] = ["builtin", "name", "source", "notes", "baseKV", "substationBus", "vSubstationPu",
                                    "vMinPu", "vMaxPu", "model", "angleMaxDeg", "buses", "lines"]

    func decode(_ node: JSONNode) throws -> Network {
        let given = try node.object(allowing: Self.keys)
        guard let builtinNode = given["builtin"] else { return try decode(fields: { given[$0] }, path: node.path) }
        let name = try builtinNode.oneOf(BuiltinFeeder.allCases.map(\.rawValue))
        guard let feeder = BuiltinFeeder(rawValue: name) else { throw builtinNode.fail("unknown feeder \"\(name)\"") }
        var text = feeder.json
        let document = try text.withUTF8 { try JSONDocument.parse($0) }
        // The embedded document is ours; its paths are reported under the caller's `network`.
        return try document.withRoot(path: node.path) { root in
            let embedded = try root.object(allowing: Self.keys)
            // The embedded `model` is the data's suggestion, not the caller's choice: a mechanism's
            // own default applies unless the caller names one (p2p_gne's is linear_angle).
            return try decode(fields: { key in given.has(key) ? given[key] : "\(key)" == "model" ? nil : embedded[key] },
                              path: node.path)
        }
    }

    private func child(_ path: String, _ key: StaticString) -> String { path.isEmpty ? "\(key)" : "\(path).\(key)" }

    private func require(_ fields: (StaticString) -> JSONNode?, _ key: StaticString, _ path: String) throws -> JSONNode {
        guard let value = fields(key) else { throw InputError.invalid(child(path, key), "missing required key \"\(key)\"") }
        return value
    }

    private func decode(fields: (StaticString) -> JSONNode?, path: String) throws -> Network {
        let name = try fields("name")?.string()
        _ = try fields("source")?.string()
        if let notes = fields("notes") { for note in try notes.array() { _ = try note.string() } }
        let baseKV = try require(fields, "baseKV", path).number(above: 0, max: 1000)
        let vSubstation = try fields("vSubstationPu")?.number(min: 0.5, max: 1.5) ?? 1.0
        let vMin = try fields("vMinPu")?.number(above: 0, max: 2) ?? 0.95
        let vMaxNode = fields("vMaxPu")
        let vMax = try vMaxNode?.number(above: 0, max: 2) ?? 1.05
        if vMin >= vMax {
            throw InputError.invalid(child(path, "vMaxPu"), "vMaxPu (\(describeNumber(vMax))) must exceed vMinPu (\(describeNumber(vMin)))")
        }
        let model = try fields("model").map { try NetworkModel(rawValue: $0.oneOf(NetworkModel.allCases.map(\.rawValue))) } ?? nil

        let angleMax = try fields("angleMaxDeg")?.number(above: 0, max: 90)
        let series = SeriesReader(periods: periods)
        var buses: [Bus] = []
        var busIndex = [String: Int]()
        let busNodes = try require(fields, "buses", path).array(maxCount: 1_000_000)
        guard !busNodes.isEmpty else { throw InputError.invalid(child(path, "buses"), "a network needs at least one bus") }
        for item in busNodes {
            let object = try item.object(allowing: ["id", "pLoadKW", "qLoadKVAr", "qCapKVAr", "pShuntKW"])
            let idNode = try object.require("id")
            let id = try idNode.identifier()
            if busIndex[id] != nil { throw idNode.fail("duplicate bus id \"\(id)\"") }
            busIndex[id] = buses.count
            buses.append(Bus(id: id,
                             pLoadKW: try series.read(object["pLoadKW"], default: 0, min: -Limits.power, max: Limits.power),
                             qLoadKVAr: try series.read(object["qLoadKVAr"], default: 0, min: -Limits.power, max: Limits.power),
                             // A negative susceptance is a shunt reactor.
                             qCapKVAr: try object["qCapKVAr"]?.number(min: -Limits.power, max: Limits.power) ?? 0,
                             pShuntKW: try object["pShuntKW"]?.number(min: 0, max: Limits.power) ?? 0))
        }
        let substationNode = try require(fields, "substationBus", path)
        let substationName = try substationNode.identifier()
        guard let substation = busIndex[substationName] else {
            throw substationNode.fail("no bus \"\(substationName)\" in network.buses")
        }

        var lines: [Line] = []
        var lineIDs = Set<String>()
        for item in try fields("lines")?.array(maxCount: 1_000_000) ?? [] {
            let object = try item.object(allowing: ["id", "from", "to", "rOhm", "xOhm", "rateKVA", "closed", "switchable"])
            let idNode = try object.require("id")
            let id = try idNode.identifier()
            guard lineIDs.insert(id).inserted else { throw idNode.fail("duplicate line id \"\(id)\"") }
            let ends = try (["from", "to"] as [StaticString]).map { key -> Int in
                let end = try object.require(key)
                let bus = try end.identifier()
                guard let index = busIndex[bus] else { throw end.fail("no bus \"\(bus)\" in network.buses") }
                return index
            }
            if ends[0] == ends[1] {
                throw InputError.invalid(item.path, "line \"\(id)\" connects bus \"\(buses[ends[0]].id)\" to itself")
            }
            let rate: Double? = try object["rateKVA"]?.number(above: 0, max: Limits.power)
            lines.append(Line(id: id, from: ends[0], to: ends[1],
                              rOhm: try object.require("rOhm").number(min: 0, max: 1e6),
                              xOhm: try object.require("xOhm").number(min: 0, max: 1e6),
                              rateKVA: rate,
                              closed: try object["closed"]?.bool() ?? true,
                              switchable: try object["switchable"]?.bool() ?? false))
        }
        var network = Network(name: name, baseKV: baseKV, substation: substation, vSubstationPu: vSubstation,
                              vMinPu: vMin, vMaxPu: vMax, model: model, buses: buses, lines: lines, busIndex: busIndex)
        network.angleMaxDeg = angleMax
        return network
    }
}
