import CJSONC
import ESMGrid
import ESMMarkets
import ESMSolver

/// Decodes and validates a problem document (api.md §2) for every mechanism. Every violation is
/// an `InputError` naming the JSON path and the value; nothing here traps on any input.
public enum ProblemDecoder {
    public static let schema = "esmarket/1"

    public static func decode(_ text: UnsafeBufferPointer<UInt8>) throws -> Problem {
        try JSONDocument.parse(text).withRoot { try decode($0) }
    }

    public static func decode(_ text: String) throws -> Problem {
        var copy = text
        return try copy.withUTF8 { try decode($0) }
    }

    static func decode(_ node: JSONNode) throws -> Problem {
        let root = try node.object(allowing: ["schema", "mechanism", "network", "grid", "communities", "prosumers",
                                              "periods", "periodHours", "options", "conic"])
        let schemaName = try root.require("schema").string()
        guard schemaName == schema else {
            throw InputError.invalid("schema", "schema \"\(schemaName)\" is not supported; this library reads \"\(schema)\"")
        }
        let mechanismNode = try root.require("mechanism")
        let mechanism = try Mechanism(rawValue: mechanismNode.oneOf(Mechanism.allCases.map(\.rawValue)))
            ?? .energySharing
        let periods = try root["periods"]?.integer(min: 1, max: 100_000) ?? 1
        let periodHours = try root["periodHours"]?.number(above: 0, max: 24 * 366) ?? 1
        var options = try root["options"].map { try decodeOptions($0, mechanism: mechanism) } ?? Options()
        if mechanism == .powerFlow {
            try refuseMarketParts(root)
            // The sweep's own default: voltages to ~1e-11 pu, not a solver's 1e-8.
            if root["options"].map({ (try? $0.object(allowing: optionKeys))?.has("tolerance") ?? false }) != true {
                options.tolerance = PowerFlowSettings().tolerance
            }
        }

        var network: Network?
        var tree: RadialTree?
        if let node = root["network"] {
            let decoded = try NetworkDecoder(periods: periods).decode(node)
            if decoded.model == .linearAngle && mechanism != .p2pGNE {
                throw InputError.invalid(node.path.isEmpty ? "network.model" : "\(node.path).model",
                                         "model \"linear_angle\" is p2p_gne's network model; \(mechanism.rawValue) takes \"socp\" or \"lindistflow\"")
            }
            if decoded.model ?? (mechanism == .p2pGNE ? .linearAngle : .socp) == .linearAngle,
               let k = decoded.buses.firstIndex(where: { $0.pShuntKW != 0 }) {
                throw InputError.invalid("\(node.path.isEmpty ? "network" : node.path).buses[\(k)].pShuntKW",
                                         "model \"linear_angle\" has no shunt conductance (bus \"\(decoded.buses[k].id)\" has pShuntKW \(describeNumber(decoded.buses[k].pShuntKW))): use \"lindistflow\" or \"socp\"")
            }
            network = decoded
            tree = try checkTopology(decoded, mechanism: mechanism, options: options)
        } else if mechanism.needsNetwork {
            throw InputError.invalid("network", "missing required key \"network\": \(mechanism.rawValue) clears over a feeder")
        }

        let grid = try root["grid"].map { try decodeGrid($0, periods: periods, mechanism: mechanism) }
        if grid == nil && mechanism != .conic && mechanism != .powerFlow {
            throw InputError.invalid("grid", "missing required key \"grid\" (buyPrice and sellPrice)")
        }
        let communities = try decodeCommunities(root["communities"], mechanism: mechanism, network: network, periods: periods)
        let prosumers = try ProsumerDecoder(periods: periods, mechanism: mechanism, network: network,
                                            communities: communities).decode(root["prosumers"])
        // Results hold a value per prosumer and period: keep that allocation sane.
        guard prosumers.count * periods <= 50_000_000 else {
            throw InputError.invalid("periods", "\(prosumers.count) prosumers × \(periods) periods exceeds the limit of 50,000,000 prosumer-periods per call")
        }
        var conic: ConicProblem?
        if let node = root["conic"] {
            guard mechanism == .conic else { throw InputError.invalid("conic", "\"conic\" is only read by mechanism \"conic\"") }
            conic = try ConicDecoder.decode(node)
        } else if mechanism == .conic {
            throw InputError.invalid("conic", "missing required key \"conic\"")
        }
        var problem = Problem(mechanism: mechanism, periods: periods, network: network, tree: tree, grid: grid,
                              communities: communities, prosumers: prosumers, options: options, conic: conic)
        problem.periodHours = periodHours
        return problem
    }

    // MARK: options

    static let optionKeys: [StaticString] = ["algorithm", "tolerance", "upperPriceRange", "maxIterations",
                                             "timeLimitSeconds", "verifyPowerFlow", "threads", "log",
                                             "priceTaking", "allLinesSwitchable", "equilibrium",
                                             "verifyEquilibrium", "reconfigure", "maxSwitchingOperations",
                                             "priceFloor", "priceCeiling", "lyapunovTheta", "unsafeParameters", "hardSocBounds",
                                             "output"]
    static let gridKeys: [StaticString] = ["buyPrice", "sellPrice", "substationPrice", "priceSlope", "importMinKW", "importMaxKW"]

    /// What power_flow reads of `options`: the sweep's settings and the output's form.
    static let powerFlowOptionKeys: [StaticString] = ["algorithm", "tolerance", "maxIterations", "timeLimitSeconds",
                                                      "threads", "log", "output"]

    static func decodeOptions(_ node: JSONNode, mechanism: Mechanism) throws -> Options {
        let object = try node.object(allowing: optionKeys)
        if mechanism == .powerFlow,
           let key = optionKeys.first(where: { key in object.has(key) && !powerFlowOptionKeys.contains { "\($0)" == "\(key)" } }) {
            throw InputError.invalid(object.child(key), "\"\(key)\" is only read by the market mechanisms: power_flow computes the flows of given injections; it has no market (its options are \(powerFlowOptionKeys.map { "\"\($0)\"" }.joined(separator: ", ")))")
        }
        var options = Options()
        if let value = object["algorithm"] {
            options.algorithm = try value.oneOf(mechanism.algorithms)
        }
        if let value = object["tolerance"] { options.tolerance = try value.number(above: 0, below: 1) }
        if let value = object["upperPriceRange"] {
            let pair = try value.array()
            guard pair.count == 2 else { throw value.fail("expected [min, max], got \(value.shown)") }
            let low = try pair[0].number(min: -Limits.price, max: Limits.price)
            let high = try pair[1].number(min: -Limits.price, max: Limits.price)
            guard high > low else { throw pair[1].fail("max (\(describeNumber(high))) must exceed min (\(describeNumber(low)))") }
            options.upperPriceRange = (low, high)
        }
        if let value = object["maxIterations"] { options.maxIterations = try value.integer(min: 1, max: 1_000_000_000) }
        if let value = object["timeLimitSeconds"] { options.timeLimitSeconds = try value.number(above: 0) }
        if let value = object["verifyPowerFlow"] { options.verifyPowerFlow = try value.bool() }
        if let value = object["threads"] { options.threads = try value.integer(min: 1, max: 1024) }
        if let value = object["log"] {
            options.log = try LogLevel(rawValue: value.oneOf(["off", "summary", "iterations"])) ?? .off
        }
        if let value = object["output"] { options.columnOutput = try value.oneOf(["rows", "columns"]) == "columns" }
        if let value = object["priceTaking"] { options.priceTaking = try value.bool() }
        if let value = object["allLinesSwitchable"] { options.allLinesSwitchable = try value.bool() }
        if let value = object["verifyEquilibrium"] { options.verifyEquilibrium = try value.bool() }
        for key in ["reconfigure", "maxSwitchingOperations"] as [StaticString] where object.has(key) && mechanism != .p2pReconfiguration {
            throw InputError.invalid(object.child(key), "\"\(key)\" is only read by p2p_reconfiguration")
        }
        if let value = object["reconfigure"] { options.reconfigure = try value.bool() }
        if let value = object["maxSwitchingOperations"] { options.maxSwitchingOperations = try value.integer(min: 0, max: 1_000_000) }
        let onlineKeys: [StaticString] = ["priceFloor", "priceCeiling", "lyapunovTheta", "unsafeParameters", "hardSocBounds"]
        if mechanism != .p2pOnline, let key = onlineKeys.first(where: { object.has($0) }) {
            throw InputError.invalid(object.child(key), "\"\(key)\" is only read by p2p_online")
        }
        if let value = object["priceFloor"] { options.online.priceFloor = try value.number(min: 0, max: Limits.price) }
        if let value = object["priceCeiling"] { options.online.priceCeiling = try value.number(min: 0, max: Limits.price) }
        if let value = object["lyapunovTheta"] { options.online.lyapunovTheta = try value.number(above: 0, max: 1) }
        if let value = object["unsafeParameters"] {
            options.online.unsafeParameters = try Options.UnsafeParameters(rawValue: value.oneOf(["reject", "clamp", "allow"])) ?? .reject
        }
        if let value = object["hardSocBounds"] { options.online.hardSocBounds = try value.bool() }
        if let value = object["equilibrium"] {
            guard mechanism == .p2pGNE else { throw value.fail("\"equilibrium\" is only read by p2p_gne") }
            options.equilibrium = try Options.Equilibrium(rawValue: value.oneOf(["nash", "wardrop"])) ?? .nash
        }
        return options
    }

    /// power_flow has no market: a tariff or communities in its document are a mistake, not
    /// something to ignore silently.
    static func refuseMarketParts(_ root: JSONObject) throws {
        for key: StaticString in ["grid", "communities"] where root.has(key) {
            throw InputError.invalid("\(key)", "\"\(key)\" is only read by the market mechanisms: power_flow computes the flows of given injections; it has no market")
        }
    }

    // MARK: grid

    static func decodeGrid(_ node: JSONNode, periods: Int, mechanism: Mechanism) throws -> GridTariff {
        let object = try node.object(allowing: gridKeys)
        let series = SeriesReader(periods: periods)
        // p2p_gne prices the grid as buyPrice + priceSlope · (total draw): the intercept may be 0,
        // and without sellPrice prosumers cannot export (the paper's p^mg ≥ 0).
        let gameGrid = mechanism == .p2pGNE
        let buyNode = gameGrid ? object["buyPrice"] : try object.require("buyPrice")
        let buy = try series.read(buyNode, default: 0, min: 0, max: Limits.price)
        let sellNode = gameGrid ? object["sellPrice"] : try object.require("sellPrice")
        let sell = try series.read(sellNode, default: 0, min: 0, max: Limits.price)
        // In p2p_gne the buy price grows with the draw, so a sell price above the intercept is no
        // arbitrage (buying costs more the more one buys); elsewhere the tariff must be ordered.
        if let buyNode, !gameGrid {
            for t in 0..<periods where buy[t] <= sell[t] {
                throw InputError.invalid(series.elementPath(buyNode, t),
                                         "buyPrice (\(describeNumber(buy[t]))) must exceed sellPrice (\(describeNumber(sell[t])))")
            }
        }
        let substation = try object["substationPrice"].map { try series.read($0, min: -Limits.price, max: Limits.price) }
        var extras: [StaticString] = []
        if !gameGrid { extras = ["priceSlope", "importMinKW", "importMaxKW"].filter { object.has($0) } }
        if let key = extras.first {
            throw InputError.invalid(object.child(key), "\"\(key)\" is only read by p2p_gne")
        }
        let slope = try object["priceSlope"].map { try series.read($0, min: 0, max: Limits.price) }
        let importMin = try object["importMinKW"].map { try series.read($0, min: -Limits.power, max: Limits.power) }
        let importMaxNode = object["importMaxKW"]
        let importMax = try importMaxNode.map { try series.read($0, min: -Limits.power, max: Limits.power) }
        if let importMin, let importMax, let importMaxNode {
            for t in 0..<periods where importMax[t] < importMin[t] {
                throw InputError.invalid(series.elementPath(importMaxNode, t),
                                         "importMaxKW (\(describeNumber(importMax[t]))) is below importMinKW (\(describeNumber(importMin[t])))")
            }
        }
        var tariff = GridTariff(buyPrice: buy, sellPrice: sell, substationPrice: substation, priceSlope: slope)
        tariff.importMinKW = importMin
        tariff.importMaxKW = importMax
        tariff.exportAllowed = !gameGrid || sellNode != nil
        return tariff
    }

    // MARK: communities

    static func decodeCommunities(_ node: JSONNode?, mechanism: Mechanism, network: Network?,
                                  periods: Int) throws -> [Community] {
        guard let node else {
            if mechanism.needsCommunities {
                throw InputError.invalid("communities", "missing required key \"communities\": \(mechanism.rawValue) clears community markets")
            }
            return []
        }
        var seen = [String: Int]()
        var communities: [Community] = []
        for item in try node.array() {
            let object = try item.object(allowing: ["id", "bus", "sensitivity", "mode", "intercept"])
            let idNode = try object.require("id")
            let id = try idNode.identifier()
            if seen[id] != nil { throw idNode.fail("duplicate community id \"\(id)\"") }
            seen[id] = communities.count
            var bus: Int?
            if let busNode = object["bus"] {
                let name = try busNode.identifier()
                guard let network else { throw busNode.fail("community bus \"\(name)\" given but there is no network") }
                guard let index = network.busIndex[name] else { throw busNode.fail("no bus \"\(name)\" in network.buses") }
                bus = index
            } else if network != nil && mechanism.needsNetwork {
                throw InputError.invalid(item.child("bus"), "missing required key \"bus\" (a community needs a bus when there is a network)")
            }
            let sensitivityNode = try object.require("sensitivity")
            let sensitivity = try sensitivityNode.number(min: 0, max: Limits.price)
            if sensitivity > 0 && sensitivity < Limits.smallestSensitivity {
                throw sensitivityNode.fail("\(sensitivityNode.shown) is below the smallest usable sensitivity \(Limits.smallestSensitivity)")
            }
            var mode = Community.Mode.lamPriceEqualsDLMP
            if let modeNode = object["mode"] {
                mode = try Community.Mode(rawValue: modeNode.oneOf(["lam_price_equals_dlmp", "intercept_equals_dlmp"])) ?? mode
            }
            var intercept: [Double]?
            if let value = object["intercept"] {
                guard mechanism == .energySharing else {
                    throw value.fail("\"intercept\" is only read by energy_sharing (the two-layer markets set it)")
                }
                intercept = try SeriesReader(periods: periods).read(value, min: -Limits.price, max: Limits.price)
            }
            communities.append(Community(id: id, bus: bus, sensitivity: sensitivity, mode: mode, intercept: intercept))
        }
        return communities
    }

    // MARK: topology

    /// The radial tree of the closed lines; for p2p_reconfiguration, only that the candidate
    /// lines connect every bus and the fixed ones close no loop (the tree is chosen there).
    static func checkTopology(_ network: Network, mechanism: Mechanism, options: Options) throws -> RadialTree? {
        if mechanism == .p2pReconfiguration {
            let fixed = { (line: Line) in line.closed && !line.switchable && !options.allLinesSwitchable }
            if case .failure(.loop(let k)) = RadialTree.build(busCount: network.buses.count, lines: network.lines,
                                                               root: network.substation, include: fixed) {
                throw loopError(network, k)
            }
            var sets = Connectivity(count: network.buses.count)
            for line in network.lines where line.closed || line.switchable || options.allLinesSwitchable {
                sets.join(line.from, line.to)
            }
            for b in network.buses.indices where !sets.connected(b, network.substation) {
                throw InputError.invalid("network.buses[\(b)]", "bus \"\(network.buses[b].id)\" cannot be connected to the substation by any closed or switchable line")
            }
            return nil
        }
        switch RadialTree.build(busCount: network.buses.count, lines: network.lines, root: network.substation) {
        case .success(let tree):
            return tree
        case .failure(.loop(let k)):
            throw loopError(network, k)
        case .failure(.unreachable(let b)):
            throw InputError.invalid("network.buses[\(b)]", "bus \"\(network.buses[b].id)\" is not connected to the substation \"\(network.buses[network.substation].id)\" by closed lines")
        }
    }

    static func loopError(_ network: Network, _ k: Int) -> InputError {
        let line = network.lines[k]
        return InputError.invalid("network.lines[\(k)]", "closed line \"\(line.id)\" (\(network.buses[line.from].id) → \(network.buses[line.to].id)) closes a loop: the closed lines must form a tree from the substation")
    }
}

/// Magnitudes the contract accepts, so that every product and square the markets form stays
/// finite (a sensitivity of 1e-300 or a load of 1e300 would overflow): powers up to 1e9 kW,
/// prices and cost coefficients up to 1e6 per kWh, sensitivities from 1e-12.
enum Limits {
    static let power = 1e9
    static let price = 1e6
    static let smallestSensitivity = 1e-12
}

/// Union–find for the connectivity check of reconfigurable feeders.
struct Connectivity {
    private var parent: [Int]

    init(count: Int) { parent = Array(0..<count) }

    mutating func root(_ a: Int) -> Int {
        var x = a
        while parent[x] != x {
            parent[x] = parent[parent[x]]
            x = parent[x]
        }
        return x
    }

    mutating func join(_ a: Int, _ b: Int) { parent[root(a)] = root(b) }

    mutating func connected(_ a: Int, _ b: Int) -> Bool { root(a) == root(b) }
}

/// Reads time-varying fields: a scalar (same in every period) or exactly `periods` numbers.
struct SeriesReader {
    let periods: Int

    func read(_ node: JSONNode, min: Double? = nil, max: Double? = nil) throws -> [Double] {
        let series = try series(node, min: min, max: max)
        return (0..<periods).map { series[$0] }
    }

    func read(_ node: JSONNode?, default value: Double, min: Double? = nil, max: Double? = nil) throws -> [Double] {
        guard let node else { return [Double](repeating: value, count: periods) }
        return try read(node, min: min, max: max)
    }

    func series(_ node: JSONNode, min: Double? = nil, max: Double? = nil) throws -> Series {
        if node.type == json_type_array {
            let items = try node.array()
            guard items.count == periods else {
                throw node.fail("expected \(periods) values (one per period), got \(items.count)")
            }
            return Series(try items.map { try $0.number(min: min, max: max) })
        }
        return Series(try node.number(min: min, max: max))
    }

    func series(_ node: JSONNode?, default value: Double, min: Double? = nil, max: Double? = nil) throws -> Series {
        guard let node else { return Series(value) }
        return try series(node, min: min, max: max)
    }

    /// Path of period `t` of a field: the field itself when it was a scalar.
    func elementPath(_ node: JSONNode, _ t: Int) -> String {
        node.type == json_type_array ? "\(node.path)[\(t)]" : node.path
    }
}
