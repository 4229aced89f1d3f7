import CJSONC
import ESMGrid
import ESMMarkets

/// Seeded, byte-reproducible problem documents for examples, tests and benchmarks (api.md §6).
///
/// Specification keys: `mechanism` (required), `prosumers` (1 … 2,000,000, default 1000), `seed` (default 1),
/// `feeder` (`ieee33bw` | `ieee37` | `ieee123`; default `ieee123` for the network mechanisms, none
/// for `energy_sharing`), `communities` (two-layer mechanisms), `sensitivity` (overrides the
/// communities' price sensitivity). Prosumers are spread over the feeder's load buses in
/// proportion to the bus loads (largest-remainder rounding). Parameter ranges:
/// * `energy_sharing`, `two_layer`: two_layer.md §5.4 — costA U[0.05, 0.15], costB U[0.1, 0.4],
///   loadKW U[1, 5], flex 0 … U[0, 8]·r (r = 1, or U[0.2, 1.8] per community in two_layer),
///   buyPrice 1.0, sellPrice 0.3, sensitivity 0.02.
/// * `two_layer_voltage`, `social_optimum`: two_layer_voltage.md §5.2 — loadKW U[0.2, 0.6],
///   qLoadKVAr 0.3·load, pvKW U[0, 0.4], flex 0 … U[0.1, 0.4] for 70 % of prosumers,
///   costA U[0.5, 2], costB U[0.2, 0.5], buyPrice 1.0, sellPrice 0.35, substationPrice 0.6,
///   sensitivity 0.005; beyond 12,300 prosumers every kW is scaled by 12,300/n (costA by its
///   inverse) — for two_layer_voltage below 12,300 too, its prosumers being the feeder's whole
///   load. social_optimum keeps the feeder's own voltage limits and passive loads;
///   two_layer_voltage drops the passive loads, puts 123 communities (or one per non-substation
///   bus if fewer) of equal size at the loaded buses first, then the others in bus order, and
///   sets the voltage floor where it binds (`generateWithBindingFloor`; 1.05 cap).
/// * `power_flow`: social_optimum's case of the same seed without its market: the same prosumers
///   (loadKW, qLoadKVAr, pvKW) at the same buses, no flex, no grid.
enum CaseGenerator {
    struct Specification {
        var mechanism: Mechanism
        var prosumers: Int
        var seed: UInt64
        var feeder: BuiltinFeeder?
        var communities: Int?
        var sensitivity: Double?
        /// two_layer: halve the rating of the line that carries the most sharing flow.
        var congestion = false
        /// p2p_gne: horizon and trading-graph density.
        var periods = 24
        var connectivity = 0.6
    }

    static func generate(specification text: UnsafeBufferPointer<UInt8>) throws -> String {
        let spec = try JSONDocument.parse(text).withRoot { try readSpecification($0) }
        return try generate(spec)
    }

    static func readSpecification(_ node: JSONNode) throws -> Specification {
        let object = try node.object(allowing: ["mechanism", "prosumers", "seed", "feeder", "communities", "sensitivity",
                                                "congestion", "periods", "connectivity"])
        let mechanismNode = try object.require("mechanism")
        let name = try mechanismNode.oneOf(Mechanism.allCases.map(\.rawValue))
        guard let mechanism = Mechanism(rawValue: name) else { throw mechanismNode.fail("unknown mechanism") }
        guard [.energySharing, .twoLayer, .twoLayerVoltage, .socialOptimum, .p2pGNE, .p2pReconfiguration, .p2pOnline,
               .powerFlow].contains(mechanism) else {
            throw InputError.unsupported(mechanismNode.path, "the case generator has no cases for \(name) yet")
        }
        var feeder: BuiltinFeeder? = mechanism == .energySharing ? nil : mechanism == .p2pGNE ? .ieee37
            : mechanism == .p2pReconfiguration || mechanism == .p2pOnline ? .ieee33bw : .ieee123
        if let feederNode = object["feeder"] {
            feeder = BuiltinFeeder(rawValue: try feederNode.oneOf(BuiltinFeeder.allCases.map(\.rawValue)))
        }
        let communities = try object["communities"]?.integer(min: 1, max: 1_000_000)
        if communities != nil && (mechanism == .socialOptimum || mechanism == .powerFlow) {
            throw InputError.invalid("communities", "\(name) has no communities")
        }
        if let communities, communities != 1 && mechanism == .energySharing {
            throw InputError.invalid("communities", "energy_sharing clears exactly one community; got \(communities)")
        }
        let congestion = try object["congestion"]?.bool() ?? false
        if congestion && mechanism != .twoLayer {
            throw InputError.invalid("congestion", "\"congestion\" is only for two_layer cases")
        }
        let p2p = mechanism == .p2pGNE || mechanism == .p2pReconfiguration
        if !p2p, let key = (["periods", "connectivity"] as [StaticString]).first(where: { object.has($0) }),
           !(mechanism == .p2pOnline && "\(key)" == "periods") {
            throw InputError.invalid(object.child(key), "\"\(key)\" is only for p2p_gne and p2p_reconfiguration cases (and periods for p2p_online)")
        }
        if (p2p || mechanism == .p2pOnline) && communities != nil {
            throw InputError.invalid("communities", "\(name) has no communities")
        }
        var spec = Specification(mechanism: mechanism,
                             prosumers: try object["prosumers"]?.integer(min: 1, max: mechanism == .p2pOnline ? 10_000 : 2_000_000)
                                ?? (mechanism == .p2pGNE ? 50 : mechanism == .p2pReconfiguration || mechanism == .p2pOnline ? 20 : 1000),
                             seed: UInt64(try object["seed"]?.integer(min: 0, max: 1 << 53) ?? 1),
                             feeder: feeder, communities: communities,
                             sensitivity: try object["sensitivity"]?.number(above: 0, max: 1e6),
                             congestion: congestion)
        spec.periods = try object["periods"]?.integer(min: 1, max: mechanism == .p2pOnline ? 2880 : 8784) ?? (mechanism == .p2pOnline ? 96 : 24)
        if mechanism == .p2pOnline && spec.prosumers * spec.periods > 5_000_000 {
            throw InputError.invalid("periods", "\(spec.prosumers) prosumers × \(spec.periods) slots exceeds 5,000,000 values per series for a generated p2p_online case")
        }
        spec.connectivity = try object["connectivity"]?.number(min: 0, max: 1) ?? (mechanism == .p2pReconfiguration ? 0.3 : 0.6)
        return spec
    }

    static func generate(_ spec: Specification) throws -> String {
        if spec.mechanism == .p2pReconfiguration {
            return try ReconfigurationCaseGenerator.generate(prosumers: spec.prosumers, seed: spec.seed, feeder: spec.feeder ?? .ieee33bw,
                                                             periods: spec.periods, connectivity: spec.connectivity)
        }
        if spec.mechanism == .p2pOnline {
            return try OnlineCaseGenerator.generate(prosumers: spec.prosumers, seed: spec.seed, feeder: spec.feeder ?? .ieee33bw,
                                                    periods: spec.periods)
        }
        if spec.mechanism == .p2pGNE {
            return try GameCaseGenerator.generate(prosumers: spec.prosumers, seed: spec.seed, feeder: spec.feeder ?? .ieee37,
                                                  periods: spec.periods, connectivity: spec.connectivity)
        }
        if spec.mechanism == .twoLayerVoltage, spec.feeder != nil { return try generateWithBindingFloor(spec) }
        guard spec.congestion else { return try generate(spec, ratings: nil) }
        // Clear the case once without limits, then halve the rating of the line with the largest
        // sharing flow (two_layer.md §5.4's congestion case).
        let free = try generate(spec, ratings: nil)
        let result = try clearMarket(ProblemDecoder.decode(free))
        guard let lines = result.tables.first(where: { $0.name == "lines" })?.table,
              let flows = lines.columns.first(where: { $0.name == "pKW" })?.values,
              let busiest = flows.indices.max(by: { abs(flows[$0]) < abs(flows[$1]) }), abs(flows[busiest]) > 0 else {
            return free
        }
        var ratings = [Double?](repeating: nil, count: flows.count)
        ratings[busiest] = rounded(abs(flows[busiest]) / 2)
        return try generate(spec, ratings: ratings)
    }

    /// two_layer_voltage: a voltage floor that binds but can be met. §5.2's 0.95 pu never binds
    /// here (its prototype's feeder equivalent sagged more), and where it would depends on the
    /// case: clear it once without a floor (lowest AC voltage v₀) and once with the substation
    /// price at the retail buy price, which makes local generation as valuable as it gets (v₁),
    /// and put the floor halfway, rounded to 4 decimals.
    static func generateWithBindingFloor(_ spec: Specification) throws -> String {
        func lowestVoltage(_ document: String) throws -> Double? {
            let result = try clearMarket(ProblemDecoder.decode(document))
            guard result.status == .solved else { return nil }
            return result.quality.first { $0.0 == "acVoltageMinPu" }?.1
        }
        guard let free = try lowestVoltage(generate(spec, ratings: nil, voltageFloor: 0.8)),
              let supported = try lowestVoltage(generate(spec, ratings: nil, voltageFloor: 0.8, substationPrice: 1.0)),
              supported > free else {
            return try generate(spec, ratings: nil, voltageFloor: 0.95)
        }
        return try generate(spec, ratings: nil, voltageFloor: rounded(free + 0.5 * (supported - free)))
    }

    /// `ratings`: when given, the network is written out in full with these sharing-flow limits
    /// (kW) on the lines that have one (the feeder's own ratings elsewhere). `voltageFloor` and
    /// `substationPrice`: two_layer_voltage's vMinPu and π_g.
    static func generate(_ spec: Specification, ratings: [Double?]?, voltageFloor: Double = 0.95,
                         substationPrice: Double = 0.6) throws -> String {
        var random = SplitMix64(seed: spec.seed)
        // power_flow: social_optimum's prosumers (same draws), without flex and grid.
        let noMarket = spec.mechanism == .powerFlow
        let voltageScale = spec.mechanism == .twoLayerVoltage || spec.mechanism == .socialOptimum || noMarket
        var network: Network?
        if let feeder = spec.feeder {
            network = try feederNode(feeder).withRoot { try NetworkDecoder(periods: 1).decode($0) }
        }
        // Where the communities sit and how many prosumers each gets.
        let communityCount = spec.mechanism == .socialOptimum || noMarket ? 0 : (spec.communities ?? defaultCommunities(spec, network))
        guard communityCount <= spec.prosumers else {
            throw InputError.invalid("communities", "\(communityCount) communities need at least as many prosumers (\(spec.prosumers) given)")
        }
        var communityBuses: [Int] = []
        var prosumerCounts: [Int]
        if let network {
            let loads = network.buses.map { $0.pLoadKW[0] }
            let byLoad = network.buses.indices.filter { loads[$0] > 0 }.sorted { loads[$0] > loads[$1] || (loads[$0] == loads[$1] && $0 < $1) }
            if communityCount == 0 {
                communityBuses = []
                prosumerCounts = apportion(spec.prosumers, weights: byLoad.map { loads[$0] })
            } else {
                let others = network.buses.indices.filter { loads[$0] <= 0 && $0 != network.substation }
                let hosts = Array((byLoad + others).prefix(communityCount))
                guard hosts.count == communityCount else {
                    throw InputError.invalid("communities", "the feeder has only \(hosts.count) buses to host communities; \(communityCount) asked")
                }
                communityBuses = hosts
                // two_layer.md §5.4 gives every community the same number of prosumers.
                let proportional = communityCount <= byLoad.count && spec.mechanism != .twoLayer
                prosumerCounts = apportion(spec.prosumers, weights: hosts.map { proportional ? loads[$0] : 1 })
            }
            if communityCount == 0 { communityBuses = byLoad }
        } else {
            prosumerCounts = [spec.prosumers]
        }

        var out = JSONWriter(capacity: 200 * spec.prosumers + 1024)
        out.raw("{")
        out.key("schema", first: true)
        out.string(ProblemDecoder.schema)
        out.key("mechanism")
        out.string(spec.mechanism.rawValue)
        if let ratings, let network {
            out.key("network")
            writeNetwork(network, ratings: ratings, to: &out)
        } else if spec.mechanism == .twoLayerVoltage, var network {
            // The communities are the feeder's load (§5.2 sizes them to the spot loads they
            // replace): the passive loads go, the capacitors stay.
            for k in network.buses.indices {
                network.buses[k].pLoadKW = [0]
                network.buses[k].qLoadKVAr = [0]
            }
            network.vMinPu = voltageFloor
            network.vMaxPu = 1.05
            out.key("network")
            writeNetwork(network, ratings: [], to: &out)
        } else if let feeder = spec.feeder {
            out.key("network")
            // two_layer_voltage.md §5.2 asks for [0.95, 1.05]; the planner's dispatch keeps the
            // feeder's own limits (0.90 on the 33- and 123-bus feeders, which already sit near 0.91
            // and 0.945 pu at base load: 0.95 would make them infeasible without any prosumer).
            out.raw(spec.mechanism == .twoLayerVoltage ? #"{"builtin":"\#(feeder.rawValue)","vMinPu":0.95,"vMaxPu":1.05}"# : #"{"builtin":"\#(feeder.rawValue)"}"#)
        }
        if !noMarket { out.key("grid") }
        if !noMarket { out.raw(voltageScale ? #"{"buyPrice":1.0,"sellPrice":0.35,"substationPrice":\#(substationPrice)}"# : #"{"buyPrice":1.0,"sellPrice":0.3}"#) }
        let sensitivity = spec.sensitivity ?? (voltageScale ? 0.005 : 0.02)
        var richness: [Double] = []
        if communityCount > 0 || spec.mechanism == .energySharing {
            out.key("communities")
            out.raw("[")
            let count = max(communityCount, 1)
            for k in 0..<count {
                if k > 0 { out.raw(",") }
                out.raw(#"{"id":"c\#(k + 1)""#)
                if let network, k < communityBuses.count {
                    out.raw(#","bus":"#)
                    out.string(network.buses[communityBuses[k]].id)
                }
                out.raw(#","sensitivity":"#)
                out.number(sensitivity)
                out.raw("}")
                richness.append(spec.mechanism == .twoLayer ? random.uniform(0.2, 1.8) : 1)
            }
            out.raw("]")
        }
        out.key("prosumers")
        out.raw("[")
        var serial = 0
        for (group, count) in prosumerCounts.enumerated() {
            for _ in 0..<count {
                serial += 1
                if serial > 1 { out.raw(",") }
                out.raw(#"{"id":"p\#(serial)""#)
                if communityCount > 0 {
                    out.raw(#","community":"c\#(group + 1)""#)
                } else if let network, group < communityBuses.count {
                    out.raw(#","bus":"#)
                    out.string(network.buses[communityBuses[group]].id)
                }
                if voltageScale {
                    // §5.2's ranges are for 12,300 prosumers on the 123-bus feeder: more prosumers
                    // share the same kW (marginal costs kept), so the feeder stays loaded alike.
                    // two_layer_voltage scales both ways (its prosumers are the whole load).
                    let ratio = 12_300 / Double(spec.prosumers)
                    let scale = spec.mechanism == .twoLayerVoltage ? ratio : min(1, ratio)
                    let load = rounded(random.uniform(0.2, 0.6) * scale, digits: 6)
                    field(&out, "loadKW", load)
                    field(&out, "qLoadKVAr", rounded(0.3 * load, digits: 6))
                    field(&out, "pvKW", rounded(random.uniform(0, 0.4) * scale, digits: 6))
                    let hasFlex = random.uniform(0, 1) < 0.7
                    let maxKW = random.uniform(0.1, 0.4), costA = random.uniform(0.5, 2), costB = random.uniform(0.2, 0.5)
                    if hasFlex && !noMarket { flex(&out, maxKW: maxKW * scale, costA: costA / scale, costB: costB, digits: 6) }
                } else {
                    let r = richness.isEmpty ? 1 : richness[min(group, richness.count - 1)]
                    let costA = random.uniform(0.05, 0.15), costB = random.uniform(0.1, 0.4)
                    field(&out, "loadKW", rounded(random.uniform(1, 5)))
                    flex(&out, maxKW: random.uniform(0, 8) * r, costA: costA, costB: costB)
                }
                out.raw("}")
            }
        }
        out.raw("]}")
        return out.text
    }

    static func defaultCommunities(_ spec: Specification, _ network: Network?) -> Int {
        guard spec.mechanism != .energySharing, let network else { return 1 }
        let loaded = network.buses.filter { $0.pLoadKW[0] > 0 }.count
        // two_layer.md §5.4: 75 communities at the most loaded buses of the 123-bus feeder.
        // two_layer_voltage.md §5.2: 123 communities of 100 (the 123-bus feeder has 85 loaded
        // buses: the others host the rest, in bus order).
        let wanted = spec.mechanism == .twoLayer ? min(75, loaded)
            : spec.mechanism == .twoLayerVoltage ? min(123, network.buses.count - 1) : loaded
        return max(1, min(wanted, spec.prosumers))
    }

    /// A network document in full (api.md §2.2), with `ratings` overriding line ratings.
    static func writeNetwork(_ network: Network, ratings: [Double?], to out: inout JSONWriter) {
        out.raw("{")
        if let name = network.name {
            out.key("name", first: true)
            out.string(name)
            out.key("baseKV")
        } else {
            out.key("baseKV", first: true)
        }
        out.number(network.baseKV)
        out.key("substationBus")
        out.string(network.buses[network.substation].id)
        for (key, value) in [("vSubstationPu", network.vSubstationPu), ("vMinPu", network.vMinPu), ("vMaxPu", network.vMaxPu)] {
            out.key(key)
            out.number(value)
        }
        out.key("buses")
        out.raw("[")
        for (k, bus) in network.buses.enumerated() {
            if k > 0 { out.raw(",") }
            out.raw("{")
            out.key("id", first: true)
            out.string(bus.id)
            out.key("pLoadKW")
            out.number(bus.pLoadKW.first ?? 0)
            out.key("qLoadKVAr")
            out.number(bus.qLoadKVAr.first ?? 0)
            if bus.qCapKVAr > 0 {
                out.key("qCapKVAr")
                out.number(bus.qCapKVAr)
            }
            out.raw("}")
        }
        out.raw("]")
        out.key("lines")
        out.raw("[")
        for (k, line) in network.lines.enumerated() {
            if k > 0 { out.raw(",") }
            out.raw("{")
            out.key("id", first: true)
            out.string(line.id)
            out.key("from")
            out.string(network.buses[line.from].id)
            out.key("to")
            out.string(network.buses[line.to].id)
            out.key("rOhm")
            out.number(line.rOhm)
            out.key("xOhm")
            out.number(line.xOhm)
            out.key("rateKVA")
            if let rate = (k < ratings.count ? ratings[k] : nil) ?? line.rateKVA { out.number(rate) } else { out.raw("null") }
            out.key("closed")
            out.raw(line.closed ? "true" : "false")
            out.key("switchable")
            out.raw(line.switchable ? "true" : "false")
            out.raw("}")
        }
        out.raw("]}")
    }

    static func feederNode(_ feeder: BuiltinFeeder) throws -> JSONDocument {
        var text = #"{"builtin":"\#(feeder.rawValue)"}"#
        return try text.withUTF8 { try JSONDocument.parse($0) }
    }

    static func field(_ out: inout JSONWriter, _ name: String, _ value: Double) {
        out.key(name)
        out.number(value)
    }

    static func flex(_ out: inout JSONWriter, maxKW: Double, costA: Double, costB: Double, digits: Int = 4) {
        out.raw(#","flex":{"minKW":0"#)
        field(&out, "maxKW", rounded(maxKW, digits: digits))
        field(&out, "costA", rounded(costA, digits: digits))
        field(&out, "costB", rounded(costB, digits: digits))
        out.raw("}")
    }

    /// Four decimals by default: short documents, and the values the solver sees are exactly the
    /// printed ones.
    static func rounded(_ value: Double, digits: Int = 4) -> Double {
        let factor = digits == 6 ? 1e6 : 1e4
        return (value * factor).rounded() / factor
    }

    /// Splits `total` into integers proportional to `weights` (largest remainder, ties by index).
    static func apportion(_ total: Int, weights: [Double]) -> [Int] {
        let sum = weights.reduce(0, +)
        guard sum > 0, !weights.isEmpty else { return weights.isEmpty ? [] : apportion(total, weights: weights.map { _ in 1 }) }
        let exact = weights.map { Double(total) * $0 / sum }
        var counts = exact.map { Int($0.rounded(.down)) }
        let order = exact.indices.sorted { (exact[$0] - Double(counts[$0]), -$0) > (exact[$1] - Double(counts[$1]), -$1) }
        var missing = total - counts.reduce(0, +)
        var k = 0
        while missing > 0 {
            counts[order[k % order.count]] += 1
            missing -= 1
            k += 1
        }
        return counts
    }
}

/// SplitMix64: a small, fast generator whose stream is the same on every machine.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform on [low, high).
    mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * Double(next() >> 11) * 0x1.0p-53
    }
}
