import CJSONC
import ESMGrid
import ESMMarkets

#if canImport(Glibc)
import Glibc
#endif

/// Decodes `prosumers` (api.md §2.3) and resolves their bus, community and peers.
struct ProsumerDecoder {
    let periods: Int
    let mechanism: Mechanism
    let network: Network?
    let communities: [Community]

    static let keys: [StaticString] = ["id", "bus", "community", "loadKW", "qLoadKVAr", "flex", "pvKW", "storage",
                                    "peers", "tradeCost", "tradeCostA", "contractPrice", "tradeMaxKW", "powerFactor"]
    /// p2p_online's default quadratic trading cost κ, currency/kW²h (README, p2p_online).
    static let onlineTradeCostA = 0.01

    func decode(_ node: JSONNode?) throws -> [Prosumer] {
        guard let node else {
            if mechanism == .socialOptimum || mechanism == .conic || mechanism == .powerFlow { return [] }
            throw InputError.invalid("prosumers", "missing required key \"prosumers\"")
        }
        // The column form's groups (`flex: {...}`) are not columns of the row view: check the table.
        if mechanism == .powerFlow && node.type == json_type_object { try Self.refuseMarketKeys(try node.object(allowing: Self.keys)) }
        let items = try Self.rows(node)
        if items.isEmpty && mechanism != .socialOptimum && mechanism != .conic && mechanism != .powerFlow {
            throw node.fail("\(mechanism.rawValue) needs at least one prosumer")
        }
        var communityIndex = [String: Int]()
        for (k, community) in communities.enumerated() { communityIndex[community.id] = k }
        var index = [String: Int]()
        index.reserveCapacity(items.count)
        var prosumers: [Prosumer] = []
        prosumers.reserveCapacity(items.count)
        var peerNodes: [JSONNode?] = []
        for object in items {
            let idNode = try object.require("id")
            let id = try idNode.identifier()
            if index[id] != nil { throw idNode.fail("duplicate prosumer id \"\(id)\"") }
            index[id] = prosumers.count
            prosumers.append(try decodeOne(object, id: id, communityIndex: communityIndex))
            peerNodes.append(object["peers"])
        }
        for (j, peers) in peerNodes.enumerated() {
            guard let peers else { continue }
            var seen = Set<Int>()
            for peer in try peers.array() {
                // A peer is its id, or {"id", "maxKW", "tradeCost", "contractPrice"} for terms of
                // its own with that partner.
                var terms = PeerTerms()
                let idNode: JSONNode
                if peer.type == json_type_object {
                    let object = try peer.object(allowing: ["id", "maxKW", "tradeCost", "tradeCostA", "contractPrice"])
                    idNode = try object.require("id")
                    terms.maxKW = try object["maxKW"]?.number(min: 0, max: Limits.power)
                    terms.tradeCost = try object["tradeCost"]?.number(min: 0, max: Limits.price)
                    terms.contractPrice = try object["contractPrice"]?.number(min: -Limits.price, max: Limits.price)
                    terms.tradeCostA = try object["tradeCostA"]?.number(min: 0, max: Limits.price)
                } else {
                    idNode = peer
                }
                let name = try idNode.identifier()
                guard let k = index[name] else { throw idNode.fail("no prosumer \"\(name)\" among prosumers[].id") }
                guard k != j else { throw idNode.fail("a prosumer cannot be its own peer") }
                guard seen.insert(k).inserted else { throw idNode.fail("peer \"\(name)\" listed twice") }
                prosumers[j].peers.append(k)
                prosumers[j].peerTerms.append(terms)
            }
        }
        return prosumers
    }

    /// What power_flow reads of a prosumer: where it is and its net demand.
    static let powerFlowKeys: [StaticString] = ["id", "bus", "loadKW", "pvKW", "qLoadKVAr", "powerFactor"]

    /// power_flow: the first key of `object` outside `powerFlowKeys` is an error naming its path.
    static func refuseMarketKeys(_ object: some ProsumerFields) throws {
        let allowed = Set(powerFlowKeys.map { "\($0)" })
        guard let key = keys.first(where: { object.has($0) && !allowed.contains("\($0)") }) else { return }
        throw InputError.invalid(object.child(key), "\"\(key)\" is only read by the market mechanisms: power_flow computes the flows of given injections; it has no market (a prosumer there has \(powerFlowKeys.map { "\"\($0)\"" }.joined(separator: ", ")))")
    }

    func decodeOne(_ object: some ProsumerFields, id: String, communityIndex: [String: Int]) throws -> Prosumer {
        let series = SeriesReader(periods: periods)
        if mechanism == .powerFlow { try Self.refuseMarketKeys(object) }
        var community: Int?
        if let node = object["community"] {
            let name = try node.identifier()
            guard let k = communityIndex[name] else { throw node.fail("no community \"\(name)\" among communities[].id") }
            community = k
        } else if mechanism.needsCommunities {
            if mechanism == .energySharing && communities.count == 1 {
                community = 0
            } else {
                throw InputError.invalid(object.child("community"), "missing required key \"community\": \(mechanism.rawValue) puts every prosumer in a community")
            }
        }
        var bus: Int?
        if let node = object["bus"] {
            let name = try node.identifier()
            guard let network else { throw node.fail("prosumer bus \"\(name)\" given but there is no network") }
            guard let b = network.busIndex[name] else { throw node.fail("no bus \"\(name)\" in network.buses") }
            bus = b
        } else if let community {
            bus = communities[community].bus
        }
        if bus == nil && mechanism.needsNetwork {
            throw InputError.invalid(object.child("bus"), "missing required key \"bus\" (and no community bus to attach to)")
        }
        let powerFactor = try object["powerFactor"]?.number(above: 0, max: 1) ?? 1.0
        let load = try series.series(object["loadKW"], default: 0, min: 0, max: Limits.power)
        let qLoad: Series
        if let node = object["qLoadKVAr"] {
            qLoad = try series.series(node, min: -Limits.power, max: Limits.power)
        } else {
            let ratio = powerFactor >= 1 ? 0 : (1 - powerFactor * powerFactor).squareRoot() / powerFactor
            qLoad = load.scaled(by: ratio)
        }
        let flex = try object.group("flex", allowing: Self.flexKeys).map { try decodeFlex($0) }
        let storage = try object.group("storage", allowing: Self.storageKeys).map { try decodeStorage($0) }
        var prosumer = Prosumer(id: id, bus: bus, community: community, loadKW: load, qLoadKVAr: qLoad,
                                pvKW: try series.series(object["pvKW"], default: 0, min: 0, max: Limits.power), flex: flex, storage: storage,
                                peers: [], tradeCost: try object["tradeCost"]?.number(min: 0, max: Limits.price) ?? 0, powerFactor: powerFactor)
        prosumer.contractPrice = try object["contractPrice"]?.number(min: -Limits.price, max: Limits.price) ?? 0
        prosumer.tradeCostA = try object["tradeCostA"]?.number(min: 0, max: Limits.price) ?? 0
        prosumer.tradeMaxKW = try object["tradeMaxKW"]?.number(min: 0, max: Limits.power)
        if let node = object["tradeCostA"], ![Mechanism.p2pGNE, .p2pReconfiguration, .p2pOnline].contains(mechanism) {
            throw node.fail("\"tradeCostA\" is only read by the P2P mechanisms")
        }
        // p2p_online's trading cost is quadratic by default (spec §3.1, §6 item 4).
        if object["tradeCostA"] == nil && mechanism == .p2pOnline {
            prosumer.tradeCostA = Self.onlineTradeCostA
        }
        return prosumer
    }

    static let flexKeys: [StaticString] = ["minKW", "maxKW", "costA", "costB"]
    static let storageKeys: [StaticString] = ["capacityKWh", "socKWh", "socMinKWh", "socMaxKWh", "chargeMaxKW",
                                              "dischargeMaxKW", "etaCharge", "etaDischarge", "costWear",
                                              "costWearA", "selfDischarge", "socFinalMinKWh", "lyapunovV", "socShiftKWh"]

    /// The prosumers of a document: its rows, or the rows of its column form.
    static func rows(_ node: JSONNode) throws -> [ProsumerFields] {
        if node.type == json_type_object {
            guard json_object_object_get_ex(node.raw, "id", nil) != 0 else {
                throw node.fail("expected an array of prosumers, or their columns: an object of equal-length arrays with \"id\"")
            }
            let ids = try node.object(allowing: keys).require("id")
            let count = try ids.arrayCount()
            guard count <= 10_000_000 else { throw ids.fail("array of \(count) elements exceeds the limit of 10000000") }
            let table = try ColumnRow.table(node, allowing: keys, groups: [("flex", flexKeys), ("storage", storageKeys)],
                                            count: count, counted: ids.path)
            return (0..<count).map { ColumnRow(table: table, index: $0) }
        }
        return try node.array(maxCount: 10_000_000).map { try $0.object(allowing: keys) }
    }

    private func decodeFlex(_ object: some ProsumerFields) throws -> Flex {
        let series = SeriesReader(periods: periods)
        let minKW = try series.series(object["minKW"], default: 0, min: -Limits.power, max: Limits.power)
        let maxNode = try object.require("maxKW")
        let maxKW = try series.series(maxNode, min: -Limits.power, max: Limits.power)
        for t in 0..<periods where maxKW[t] < minKW[t] {
            throw InputError.invalid(series.elementPath(maxNode, t),
                                     "maxKW (\(describeNumber(maxKW[t]))) is below minKW (\(describeNumber(minKW[t])))")
        }
        return Flex(minKW: minKW, maxKW: maxKW,
                    costA: try series.series(object["costA"], default: 0, min: 0, max: Limits.price),
                    costB: try series.series(object["costB"], default: 0, min: -Limits.price, max: Limits.price))
    }

    private func decodeStorage(_ object: some ProsumerFields) throws -> Storage {
        let capacity = try object.require("capacityKWh").number(above: 0, max: Limits.power)
        let socMin = try object["socMinKWh"]?.number(min: 0, max: Limits.power) ?? 0
        let socMaxNode = object["socMaxKWh"]
        let socMax = try socMaxNode?.number(min: 0, max: Limits.power) ?? capacity
        if socMax < socMin {
            throw InputError.invalid(object.child("socMaxKWh"), "socMaxKWh (\(describeNumber(socMax))) is below socMinKWh (\(describeNumber(socMin)))")
        }
        if socMax > capacity {
            throw InputError.invalid(object.child("socMaxKWh"), "socMaxKWh (\(describeNumber(socMax))) exceeds capacityKWh (\(describeNumber(capacity)))")
        }
        let socNode = try object.require("socKWh")
        let soc = try socNode.number()
        guard soc >= socMin, soc <= socMax else {
            throw socNode.fail("socKWh (\(describeNumber(soc))) is outside [socMinKWh, socMaxKWh] = [\(describeNumber(socMin)), \(describeNumber(socMax))]")
        }
        var storage = Storage(capacityKWh: capacity, socKWh: soc, socMinKWh: socMin, socMaxKWh: socMax,
                       chargeMaxKW: try object.require("chargeMaxKW").number(min: 0, max: Limits.power),
                       dischargeMaxKW: try object.require("dischargeMaxKW").number(min: 0, max: Limits.power),
                       etaCharge: try object["etaCharge"]?.number(above: 0, max: 1) ?? 1,
                       etaDischarge: try object["etaDischarge"]?.number(above: 0, max: 1) ?? 1,
                       costWear: try object["costWear"]?.number(min: 0, max: Limits.price) ?? 0)
        storage.costWearA = try object["costWearA"]?.number(min: 0, max: Limits.price) ?? 0
        storage.selfDischarge = try object["selfDischarge"]?.number(below: 1, min: 0) ?? 0
        if let node = object["socFinalMinKWh"] {
            let final = try node.number(min: 0, max: Limits.power)
            guard final <= socMax else {
                throw node.fail("socFinalMinKWh (\(describeNumber(final))) exceeds socMaxKWh (\(describeNumber(socMax)))")
            }
            storage.socFinalMinKWh = final
        }
        for key: StaticString in ["lyapunovV", "socShiftKWh"] where object.has(key) && mechanism != .p2pOnline {
            throw InputError.invalid(object.child(key), "\"\(key)\" is only read by p2p_online")
        }
        storage.lyapunovV = try object["lyapunovV"]?.number(above: 0, max: Limits.power * Limits.power)
        storage.socShiftKWh = try object["socShiftKWh"]?.number(min: -Limits.power, max: Limits.power)
        return storage
    }
}
