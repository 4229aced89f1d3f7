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
