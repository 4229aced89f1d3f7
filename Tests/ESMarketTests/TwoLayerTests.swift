import Testing
import ESMGrid
import ESMJSON
@testable import ESMMarkets

/// two_layer.md §7 T3–T6: bus 0 (substation) –ℓ1– bus 1 –ℓ2– bus 2 (or a star), community A with
/// D = (1, 2, 3), community B with D = (5, 6, 7); c = b = 0.1, P ∈ [0, 100], buy 1.0, sell 0.1.
func twoLayerCase(mode: String = "lam_price_equals_dlmp", limit2: Double? = nil, limit1: Double? = nil,
                  star: Bool = false, swapped: Bool = false, sensitivity: Double = 0.1,
                  algorithm: String = "direct") -> String {
    let rate = { (limit: Double?) in limit.map { "\($0)" } ?? "null" }
    let second = star ? #"{"id":"l2","from":"0","to":"2","rOhm":0.1,"xOhm":0.1,"rateKVA":\#(rate(limit2))}"#
                      : #"{"id":"l2","from":"1","to":"2","rOhm":0.1,"xOhm":0.1,"rateKVA":\#(rate(limit2))}"#
    let network = #"{"baseKV":4.16,"substationBus":"0","buses":[{"id":"0"},{"id":"1"},{"id":"2"}],"lines":[{"id":"l1","from":"0","to":"1","rOhm":0.1,"xOhm":0.1,"rateKVA":\#(rate(limit1))},\#(second)]}"#
    let (busA, busB) = swapped ? ("2", "1") : ("1", "2")
    var prosumers: [String] = []
    for (community, loads) in [("A", [1, 2, 3]), ("B", [5, 6, 7])] {
        for (k, load) in loads.enumerated() {
            prosumers.append(#"{"id":"\#(community)\#(k + 1)","community":"\#(community)","loadKW":\#(load),"flex":{"minKW":0,"maxKW":100,"costA":0.1,"costB":0.1}}"#)
        }
    }
    return #"""
    {"schema":"esmarket/1","mechanism":"two_layer","network":\#(network),"grid":{"buyPrice":1.0,"sellPrice":0.1},
     "communities":[{"id":"A","bus":"\#(busA)","sensitivity":\#(sensitivity),"mode":"\#(mode)"},{"id":"B","bus":"\#(busB)","sensitivity":\#(sensitivity),"mode":"\#(mode)"}],
     "prosumers":[\#(prosumers.joined(separator: ","))],"options":{"algorithm":"\#(algorithm)"}}
    """#
}

func lineColumn(_ r: MarketResult, _ name: String) -> [Double] { r.column("lines", name) }

@Test(arguments: ["direct", "centralized", "bidding"])
func t3ModeA(algorithm: String) throws {
    let r = try clear(twoLayerCase(algorithm: algorithm))
    #expect(r.status == .solved, "\(r.message)")
    let tol = algorithm == "direct" ? 1e-9 : 1e-6
    expectClose(r.column("communities", "upperPrice"), [0.5, 0.5], tol)
    expectClose(r.column("communities", "price"), [0.5, 0.5], tol)
    expectClose(r.column("communities", "intercept"), [0.8, 0.2], tol)
    expectClose(r.column("communities", "unclearedExportKW"), [3, -3], tol)
    expectClose(lineColumn(r, "pKW"), [0, 3], tol)
    expectClose(r.column("prosumers", "sharedExportKW"), [1.5, 1, 0.5, -0.5, -1, -1.5], tol)
    expectClose(r.column("prosumers", "flexKW"), [2.5, 3, 3.5, 4.5, 5, 5.5], tol)
    expectClose([r.objectiveValue("socialCost")], [7.55], tol)
    expectClose([r.objectiveValue("socialOptimumCost"), r.objectiveValue("lamOnlyCost"), r.objectiveValue("noSharingCost")],
                [7.2, 8.45, 8.6], 1e-8)
    expectClose([r.objectiveValue("wamSurplus")], [0], tol)
}

@Test(arguments: ["direct", "centralized", "bidding"])
func t3ModeB(algorithm: String) throws {
    let r = try clear(twoLayerCase(mode: "intercept_equals_dlmp", algorithm: algorithm))
    #expect(r.status == .solved, "\(r.message)")
    let tol = algorithm == "direct" ? 1e-9 : 1e-6
    expectClose(r.column("communities", "upperPrice"), [0.5, 0.5], tol)
    expectClose(r.column("communities", "price"), [0.38, 0.62], tol)
    expectClose(r.column("communities", "intercept"), [0.5, 0.5], tol)
    expectClose(r.column("communities", "unclearedExportKW"), [1.2, -1.2], tol)
    expectClose(lineColumn(r, "pKW"), [0, 1.2], tol)
    expectClose(r.column("prosumers", "sharedExportKW"), [0.9, 0.4, -0.1, 0.1, -0.4, -0.9], tol)
    expectClose([r.objectiveValue("socialCost")], [8.018], tol)
    // Mode B's operator keeps a·X² (§3.8 settlement).
    expectClose(r.column("communities", "operatorSurplus"), [0.1 * 1.44, 0.1 * 1.44], tol)
}

@Test(arguments: ["direct", "centralized", "bidding"])
func t4CongestedModeA(algorithm: String) throws {
    let r = try clear(twoLayerCase(limit2: 2, algorithm: algorithm))
    #expect(r.status == .solved, "\(r.message)")
    let tol = algorithm == "direct" ? 1e-9 : 1e-6
    expectClose(r.column("communities", "unclearedExportKW"), [2, -2], tol)
    expectClose(lineColumn(r, "pKW"), [0, 2], tol)
    expectClose(r.column("communities", "upperPrice"), [13.0 / 30, 17.0 / 30], tol)
    expectClose(r.column("communities", "price"), [13.0 / 30, 17.0 / 30], tol)
    expectClose(r.column("communities", "intercept"), [19.0 / 30, 11.0 / 30], tol)
    expectClose(r.column("buses", "price"), [13.0 / 30, 13.0 / 30, 17.0 / 30], tol)
    expectClose(lineColumn(r, "congestionPrice"), [0, 2.0 / 15], tol)
    expectClose(r.column("prosumers", "sharedExportKW"), [7.0 / 6, 2.0 / 3, 1.0 / 6, -1.0 / 6, -2.0 / 3, -7.0 / 6], tol)
    expectClose(r.column("prosumers", "flexKW"), [13.0 / 6, 8.0 / 3, 19.0 / 6, 29.0 / 6, 16.0 / 3, 35.0 / 6], tol)
    expectClose([r.objectiveValue("socialCost")], [467.0 / 60], tol)
    expectClose([r.objectiveValue("socialOptimumCost")], [116.0 / 15], 1e-8)
    expectClose([r.objectiveValue("wamSurplus")], [4.0 / 15], tol)
}

@Test(arguments: ["direct", "centralized", "bidding"])
func t4bCongestedModeB(algorithm: String) throws {
    let r = try clear(twoLayerCase(mode: "intercept_equals_dlmp", limit2: 1, algorithm: algorithm))
    #expect(r.status == .solved, "\(r.message)")
    let tol = algorithm == "direct" ? 1e-9 : 1e-6
    expectClose(r.column("communities", "unclearedExportKW"), [1, -1], tol)
    expectClose(r.column("communities", "upperPrice"), [7.0 / 15, 8.0 / 15], tol)
    expectClose(r.column("communities", "price"), [11.0 / 30, 19.0 / 30], tol)
    expectClose(lineColumn(r, "congestionPrice"), [0, 1.0 / 15], tol)
    expectClose([r.objectiveValue("socialCost")], [97.0 / 12], tol)
    expectClose([r.objectiveValue("socialOptimumCost")], [241.0 / 30], 1e-8)
}

@Test func t5SignConventions() throws {
    // Reverse chain: the deficit community upstream, the surplus one at the end.
    let reverse = try clear(twoLayerCase(limit2: 2, swapped: true))
    expectClose(lineColumn(reverse, "pKW"), [0, -2])
    expectClose(lineColumn(reverse, "congestionPrice"), [0, -2.0 / 15])
    expectClose(reverse.column("buses", "price"), [17.0 / 30, 17.0 / 30, 13.0 / 30])
    // Star, line to A limited: A exports 2 up its line, B imports 2 down its own.
    let star = try clear(twoLayerCase(limit1: 2, star: true))
    expectClose(lineColumn(star, "pKW"), [-2, 2])
    expectClose(star.column("communities", "upperPrice"), [13.0 / 30, 17.0 / 30])
    expectClose(star.column("buses", "price")[0...0].map { $0 }, [17.0 / 30])
    // Both star lines limited: multipliers are not unique, prices and quantities are.
    let both = try clear(twoLayerCase(limit2: 2, limit1: 2, star: true))
    expectClose(both.column("communities", "upperPrice"), [13.0 / 30, 17.0 / 30])
    expectClose(both.column("communities", "unclearedExportKW"), [2, -2])
}

@Test func t6VanishingMarketPower() throws {
    let r = try clear(twoLayerCase(sensitivity: 1e-6))
    #expect(abs(r.objectiveValue("socialCost") - 7.2) <= 1e-5 * 7.2)
    expectClose(r.column("communities", "unclearedExportKW"), [6, -6], 1e-4)
    expectClose(r.column("communities", "upperPrice"), [0.5, 0.5], 1e-6)
}

/// A random two-layer document: a random radial tree (some lines listed backwards), communities
/// at random buses, random (often binding) line limits, random modes.
func randomTwoLayerCase(seed: UInt64, buses: Int, communities: Int, prosumersPer: Int, algorithm: String,
                        modeB: Bool) -> String {
    var random = TestRandom(state: seed)
    var busList = (0..<buses).map { #"{"id":"b\#($0)"}"# }
    busList[0] = #"{"id":"b0"}"#
    var lines: [String] = []
    for k in 1..<buses {
        let parent = Int(random.uniform(0, Double(k)))
        let limited = random.uniform(0, 1) < 0.5
        let rate = limited ? "\(random.uniform(0.5, 20))" : "null"
        let (from, to) = random.uniform(0, 1) < 0.2 ? (k, parent) : (parent, k)
        lines.append(#"{"id":"l\#(k)","from":"b\#(from)","to":"b\#(to)","rOhm":0.1,"xOhm":0.1,"rateKVA":\#(rate)}"#)
    }
    var communityList: [String] = [], prosumers: [String] = []
    for i in 0..<communities {
        let bus = Int(random.uniform(0, Double(buses)))
        let mode = modeB && random.uniform(0, 1) < 0.5 ? "intercept_equals_dlmp" : "lam_price_equals_dlmp"
        communityList.append(#"{"id":"c\#(i)","bus":"b\#(bus)","sensitivity":\#(random.uniform(0.01, 0.2)),"mode":"\#(mode)"}"#)
        let richness = random.uniform(0.2, 1.8)
        for j in 0..<prosumersPer {
            prosumers.append(#"{"id":"p\#(i)_\#(j)","community":"c\#(i)","loadKW":\#(random.uniform(1, 5)),"flex":{"minKW":0,"maxKW":\#(random.uniform(0, 8) * richness),"costA":\#(random.uniform(0.05, 0.15)),"costB":\#(random.uniform(0.1, 0.4))}}"#)
        }
    }
    return #"""
    {"schema":"esmarket/1","mechanism":"two_layer","network":{"baseKV":4.16,"substationBus":"b0","buses":[\#(busList.joined(separator: ","))],"lines":[\#(lines.joined(separator: ","))]},
     "grid":{"buyPrice":1.0,"sellPrice":0.3},"communities":[\#(communityList.joined(separator: ","))],
     "prosumers":[\#(prosumers.joined(separator: ","))],"options":{"algorithm":"\#(algorithm)"}}
    """#
}

@Test(arguments: [(UInt64(1), 4, 3, 5), (2, 12, 6, 30), (3, 30, 10, 40), (4, 8, 8, 1), (5, 50, 20, 60)])
func directEqualsCentralizedEqualsBidding(seed: UInt64, buses: Int, communities: Int, prosumersPer: Int) throws {
    for modeB in [false, true] {
        let direct = try clear(randomTwoLayerCase(seed: seed, buses: buses, communities: communities, prosumersPer: prosumersPer, algorithm: "direct", modeB: modeB))
        let central = try clear(randomTwoLayerCase(seed: seed, buses: buses, communities: communities, prosumersPer: prosumersPer, algorithm: "centralized", modeB: modeB))
        let bidding = try clear(randomTwoLayerCase(seed: seed, buses: buses, communities: communities, prosumersPer: prosumersPer, algorithm: "bidding", modeB: modeB))
        #expect(direct.status == .solved && central.status == .solved && bidding.status == .solved, "\(bidding.message)")
        for other in [central, bidding] {
            for name in ["price", "upperPrice"] {
                let a = direct.column("communities", name), b = other.column("communities", name)
                for (x, y) in zip(a, b) { #expect(abs(x - y) <= 1e-6 * max(abs(x), 1e-3), "\(other.algorithm) \(name) \(x) vs \(y)") }
            }
            expectClose(other.column("communities", "unclearedExportKW"), direct.column("communities", "unclearedExportKW"), 1e-4)
            expectClose([other.objectiveValue("socialCost")], [direct.objectiveValue("socialCost")], 1e-6)
        }
        // Invariants (T7) on the exact solution.
        #expect(direct.qualityValue("equilibriumResidual") < 1e-8)
        let exports = direct.column("communities", "unclearedExportKW")
        #expect(abs(exports.reduce(0, +)) < 1e-8)
        let flows = direct.column("lines", "pKW"), limits = direct.column("lines", "limitKW")
        for (f, limit) in zip(flows, limits) where limit >= 0 { #expect(abs(f) <= limit + 1e-8) }
        // Congestion prices only on lines at their limit (complementary slackness).
        for (k, price) in direct.column("lines", "congestionPrice").enumerated() where abs(price) > 1e-9 {
            #expect(limits[k] >= 0 && abs(abs(flows[k]) - limits[k]) < 1e-7, "line \(k) priced but not at its limit")
        }
        let buy = direct.column("prosumers", "gridBuyKW"), sell = direct.column("prosumers", "gridSellKW")
        for (u, v) in zip(buy, sell) { #expect(u * v == 0) }
        for (cost, alone) in zip(direct.column("prosumers", "cost"), direct.column("prosumers", "standaloneCost")) {
            #expect(cost <= alone + 1e-9, "individual rationality")
        }
        let so = direct.objectiveValue("socialOptimumCost"), two = direct.objectiveValue("socialCost")
        #expect(so <= two + 1e-9 * abs(two))
        #expect(direct.objectiveValue("lamOnlyCost") <= direct.objectiveValue("noSharingCost") + 1e-9)
        if !modeB { #expect(abs(direct.objectiveValue("wamSurplus")) >= -1e-9) }
    }
}

@Test(arguments: [UInt64(1), 2, 3, 4, 5])
func socialOptimumFromCurvesEqualsTheQP(seed: UInt64) throws {
    let problem = try ProblemDecoder.decode(randomTwoLayerCase(seed: seed, buses: 20, communities: 8, prosumersPer: 25, algorithm: "direct", modeB: false))
    let network = try #require(problem.network), tree = try #require(problem.tree), grid = try #require(problem.grid)
    let instance = TwoLayer.instance(problem, period: 0, network: network, tree: tree, grid: grid)
    let curves = try TwoLayer.socialOptimumCost(instance)
    let qp = try TwoLayer.socialOptimumCostByQP(instance)
    #expect(abs(curves - qp) <= 1e-7 * abs(qp), "curves \(curves) vs QP \(qp)")
}

/// R(z) = Σ_i a_i/2 Σ_j x_j², the market-power term of (EQ).
func marketPower(_ instance: TwoLayer.Instance, _ decisions: [[SharingDecision]]) -> Double {
    zip(instance.markets, decisions).reduce(0.0) { total, pair in
        total + 0.5 * pair.0.sensitivity * pair.1.reduce(0.0) { $0 + $1.sharedExportKW * $1.sharedExportKW }
    }
}

func physicalCost(_ instance: TwoLayer.Instance, _ decisions: [[SharingDecision]]) -> Double {
    zip(instance.markets, decisions).reduce(0.0) { total, pair in
        total + zip(pair.0.participants, pair.1).reduce(0.0) { $0 + $1.0.physicalCost($1.1, band: pair.0.band) }
    }
}

@Test(arguments: [UInt64(11), 12, 13, 14])
func efficiencyBoundsAndModes(seed: UInt64) throws {
    let problem = try ProblemDecoder.decode(randomTwoLayerCase(seed: seed, buses: 15, communities: 6, prosumersPer: 20, algorithm: "direct", modeB: false))
    let network = try #require(problem.network), tree = try #require(problem.tree), grid = try #require(problem.grid)
    let modeA = TwoLayer.instance(problem, period: 0, network: network, tree: tree, grid: grid)
    var modeB = modeA
    modeB.modes = modeA.modes.map { _ in .interceptEqualsDLMP }
    let a = try TwoLayer.direct(modeA), b = try TwoLayer.direct(modeB)
    let decisionsA = a.equilibria.map(\.decisions), decisionsB = b.equilibria.map(\.decisions)
    var so = TwoLayerEquilibriumQP(communities: modeA.markets, modes: modeA.modes, buses: modeA.buses, tree: tree,
                                   exportLimits: modeA.exportLimits)
    so.marketPower = false
    let optimum = try so.solve()
    let costA = physicalCost(modeA, decisionsA), costB = physicalCost(modeB, decisionsB)
    let costSO = physicalCost(modeA, optimum.decisions), boundR = marketPower(modeA, optimum.decisions)
    let slack = 1e-7 * abs(costSO)
    // R5: C(SO) ≤ C(two-layer) ≤ C(SO) + R(z_SO) − R(z) ≤ C(SO) + R(z_SO).
    #expect(costSO <= costA + slack)
    #expect(costA <= costSO + boundR - marketPower(modeA, decisionsA) + slack)
    // Mode B adds Σ a/2 X² to the bound.
    let extra = zip(modeA.markets, optimum.exports).reduce(0.0) { $0 + 0.5 * $1.0.sensitivity * $1.1 * $1.1 }
    #expect(costB <= costSO + boundR + extra + slack)
    // Mode A minimizes C + R over a set that contains Mode B's outcome.
    #expect(costA + marketPower(modeA, decisionsA) <= costB + marketPower(modeB, decisionsB) + slack)
    // C + R of the two-layer market is at most that of isolated communities.
    let isolated = modeA.markets.map { $0.solve().decisions }
    #expect(costA + marketPower(modeA, decisionsA) <= physicalCost(modeA, isolated) + marketPower(modeA, isolated) + slack)
    // Price band: a community with sellers and buyers prices strictly inside the retail band.
    for (market, eq) in zip(modeA.markets, a.equilibria) {
        let exports = eq.decisions.map(\.sharedExportKW)
        if exports.contains(where: { $0 > 1e-9 }) && exports.contains(where: { $0 < -1e-9 }) {
            #expect(eq.price > market.band.sell && eq.price < market.band.buy)
        }
    }
}

@Test func t9ScaleSmokeTest() throws {
    // 75 communities × 150 prosumers on the IEEE 123-bus feeder (two_layer.md §5.4 scenario).
    let generated = Service.generateCase(#"{"mechanism":"two_layer","feeder":"ieee123","prosumers":11250,"seed":1}"#)
    #expect(generated.error == nil)
    let r = try clear(generated.json)
    #expect(r.status == .solved)
    #expect(r.column("communities", "price").count == 75)
    #expect(r.qualityValue("equilibriumResidual") < 1e-8)
    let none = r.objectiveValue("noSharingCost"), lam = r.objectiveValue("lamOnlyCost")
    let two = r.objectiveValue("twoLayerCost"), so = r.objectiveValue("socialOptimumCost")
    #expect(none > lam && lam > two && two >= so, "\(none) > \(lam) > \(two) ≥ \(so)")
    #expect((two - so) / so < 0.01, "two-layer within 1 % of the social optimum")
}

@Test func t7MonotonicityOfAStandAloneCommunity() {
    // Raising one community's intercept by δ raises its price by at most δ and does not lower its export.
    let people = randomParticipants(80, seed: 42)
    let band = RetailBand(sell: 0.2, buy: 0.9)
    var previous: CommunityMarket.Equilibrium?
    for intercept in stride(from: 0.0, through: 1.2, by: 0.05) {
        let eq = CommunityMarket(participants: people, sensitivity: 0.05, band: band, clearing: .intercept(intercept)).solve()
        if let previous {
            #expect(eq.price >= previous.price - 1e-12 && eq.price - previous.price <= 0.05 + 1e-12)
            #expect(eq.exportKW >= previous.exportKW - 1e-9)
        }
        previous = eq
    }
}
