import Testing
import ESMGrid
import ESMJSON
import ESMMarkets

extension MarketResult {
    func column(_ table: String, _ name: String) -> [Double] {
        tables.first { $0.name == table }?.table.columns.first { $0.name == name }?.values ?? []
    }

    func objectiveValue(_ name: String) -> Double {
        if case .number(let v)? = objective.first(where: { $0.0 == name })?.1 { return v }
        return .nan
    }

    func qualityValue(_ name: String) -> Double { quality.first { $0.0 == name }?.1 ?? .nan }
}

func clear(_ document: String, control: SolveControl = SolveControl()) throws -> MarketResult {
    try clearMarket(ProblemDecoder.decode(document), control: control)
}

func expectClose(_ actual: [Double], _ expected: [Double], _ tolerance: Double = 1e-9,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, sourceLocation: sourceLocation)
    for (a, e) in zip(actual, expected) {
        #expect(abs(a - e) <= tolerance * max(1, abs(e)), "\(actual) vs \(expected)", sourceLocation: sourceLocation)
    }
}

/// The three prosumers of two_layer.md §7 T1 (c = b = 0.1, D = 2, 4, 6, P ∈ [0, 100]).
func t1Document(intercept: Double?, buy: Double = 1.0, sell: Double = 0.2, firstMax: Double = 100,
                algorithm: String = "exact") -> String {
    let interceptField = intercept.map { #","intercept":\#($0)"# } ?? ""
    return #"""
    {"schema":"esmarket/1","mechanism":"energy_sharing","grid":{"buyPrice":\#(buy),"sellPrice":\#(sell)},
     "communities":[{"id":"lam","sensitivity":0.1\#(interceptField)}],
     "prosumers":[{"id":"P1","loadKW":2,"flex":{"minKW":0,"maxKW":\#(firstMax),"costA":0.1,"costB":0.1}},
                  {"id":"P2","loadKW":4,"flex":{"minKW":0,"maxKW":100,"costA":0.1,"costB":0.1}},
                  {"id":"P3","loadKW":6,"flex":{"minKW":0,"maxKW":100,"costA":0.1,"costB":0.1}}],
     "options":{"algorithm":"\#(algorithm)"}}
    """#
}

@Test func t1GivenIntercept() throws {
    let r = try clear(t1Document(intercept: 0.6))
    expectClose(r.column("communities", "price"), [0.54])
    expectClose(r.column("communities", "unclearedExportKW"), [0.6])
    expectClose(r.column("prosumers", "sharedExportKW"), [1.2, 0.2, -0.8])
    expectClose(r.column("prosumers", "flexKW"), [3.2, 4.2, 5.2])
    expectClose(r.column("prosumers", "gridBuyKW"), [0, 0, 0])
    expectClose(r.column("prosumers", "marginalValue"), [0.42, 0.52, 0.62])
    expectClose(r.column("prosumers", "cost"), [0.184, 1.194, 2.304])
    expectClose(r.column("prosumers", "standaloneCost"), [0.4, 1.2, 2.4])
    expectClose([r.objectiveValue("socialCost")], [4.006])
    #expect(r.qualityValue("equilibriumResidual") < 1e-12)
}

@Test func t1ClearedByInterceptAndByBalance() throws {
    for document in [t1Document(intercept: 0.5), t1Document(intercept: nil)] {
        let r = try clear(document)
        expectClose(r.column("communities", "price"), [0.5])
        expectClose(r.column("communities", "unclearedExportKW"), [0])
        expectClose(r.column("prosumers", "sharedExportKW"), [1, 0, -1])
        expectClose(r.column("prosumers", "flexKW"), [3, 4, 5])
        expectClose(r.column("prosumers", "marginalValue"), [0.4, 0.5, 0.6])
        expectClose(r.column("prosumers", "cost"), [0.25, 1.2, 2.25])
        expectClose([r.objectiveValue("socialCost"), r.objectiveValue("noSharingCost")], [3.7, 4.0])
    }
}

@Test func t1bProductionBoundBinds() throws {
    let r = try clear(t1Document(intercept: 0.6, firstMax: 2.5))
    expectClose(r.column("communities", "price"), [0.575])
    expectClose(r.column("communities", "unclearedExportKW"), [0.25])
    expectClose(r.column("prosumers", "sharedExportKW"), [0.5, 0.375, -0.625])
    expectClose(r.column("prosumers", "flexKW"), [2.5, 4.375, 5.375])
    expectClose(r.column("prosumers", "marginalValue"), [0.525, 0.5375, 0.6375])
    expectClose(r.column("prosumers", "cost"), [0.275, 1.17890625, 2.34140625])
    expectClose([r.objectiveValue("socialCost")], [3.9390625])
}

@Test func t2GridTradesAndComplementarity() throws {
    let r = try clear(t1Document(intercept: 0.5, buy: 0.55, sell: 0.45))
    expectClose(r.column("communities", "price"), [0.5])
    expectClose(r.column("prosumers", "sharedExportKW"), [0.5, 0, -0.5])
    expectClose(r.column("prosumers", "flexKW"), [3.5, 4, 4.5])
    expectClose(r.column("prosumers", "gridSellKW"), [1, 0, 0])
    expectClose(r.column("prosumers", "gridBuyKW"), [0, 0, 1])
    expectClose(r.column("prosumers", "marginalValue"), [0.45, 0.5, 0.55])
    expectClose(r.column("prosumers", "cost"), [0.2625, 1.2, 2.2625])
    expectClose(r.column("prosumers", "standaloneCost"), [0.2875, 1.2, 2.2875])
    expectClose([r.objectiveValue("socialCost")], [3.725])
}

// MARK: Random instances

struct TestRandom {
    var state: UInt64
    mutating func uniform(_ low: Double, _ high: Double) -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return low + (high - low) * Double(state >> 11) * 0x1.0p-53
    }
}

/// Prosumers with interior, bound-limited, linear-cost (c = 0), fixed and flex-less cases.
func randomParticipants(_ n: Int, seed: UInt64) -> [SharingParticipant] {
    var random = TestRandom(state: seed)
    return (0..<n).map { k in
        let demand = random.uniform(-2, 6)
        switch k % 5 {
        case 0: return SharingParticipant(c: 0, b: random.uniform(0.1, 0.6), pMin: 0, pMax: random.uniform(0, 4), demand: demand)
        case 1: return SharingParticipant(c: 0, b: 0, pMin: 0, pMax: 0, demand: demand)
        case 2: let p = random.uniform(0, 3); return SharingParticipant(c: random.uniform(0.01, 0.2), b: 0.3, pMin: p, pMax: p, demand: demand)
        default: return SharingParticipant(c: random.uniform(0.02, 0.3), b: random.uniform(0, 0.5), pMin: random.uniform(-2, 0), pMax: random.uniform(0, 8), demand: demand)
        }
    }
}

/// Independent cross-check of the exact root: plain bisection on the same monotone function.
func bisectionPrice(_ market: CommunityMarket) -> Double {
    var low = -100.0, high = 100.0
    for _ in 0..<200 {
        let w = 0.5 * (low + high)
        var g = market.participants.reduce(0) { $0 + $1.strategicResponse(price: w, impact: market.sensitivity, band: market.band).sharedExportKW }
        if case .intercept(let w0) = market.clearing { g += (w - w0) / market.sensitivity }
        if g > 0 { high = w } else { low = w }
    }
    return 0.5 * (low + high)
}

/// Cost of prosumer `who` exporting `x` at price `w`, with its production and grid trades chosen
/// optimally (exact: the minimizer is a kink, a bound or a stationary point of one piece).
func bestCost(_ who: SharingParticipant, export x: Double, price w: Double, band: RetailBand) -> Double {
    var candidates = [who.pMin, who.pMax, min(max(who.demand + x, who.pMin), who.pMax)]
    if who.c > 0 {
        candidates.append(min(max((band.buy - who.b) / who.c, who.pMin), who.pMax))
        candidates.append(min(max((band.sell - who.b) / who.c, who.pMin), who.pMax))
    }
    return candidates.map { p in
        let net = p - who.demand - x
        return who.productionCost(p) + band.buy * max(-net, 0) - band.sell * max(net, 0)
    }.min()! - w * x
}

@Test(arguments: [1, 2, 7, 60, 500, 3000])
func randomEquilibriumProperties(n: Int) throws {
    for seed in UInt64(1)...4 {
        let people = randomParticipants(n, seed: seed &* 7919 &+ UInt64(n))
        let band = RetailBand(sell: 0.25, buy: 0.7)
        for clearing in [CommunityMarket.Clearing.balanced, .intercept(0.45)] {
            let market = CommunityMarket(participants: people, sensitivity: 0.05, band: band, clearing: clearing)
            let eq = market.solve()
            #expect(market.equilibriumResidual(price: eq.price, decisions: eq.decisions) < 1e-9)
            #expect(abs(eq.price - bisectionPrice(market)) < 1e-9 || clearing == .balanced)
            var sellers = 0, buyers = 0
            for (who, d) in zip(people, eq.decisions) {
                #expect(d.gridBuyKW * d.gridSellKW == 0, "complementarity")
                if d.sharedExportKW > 1e-9 { sellers += 1 }
                if d.sharedExportKW < -1e-9 { buyers += 1 }
                let cost = who.physicalCost(d, band: band) - eq.price * d.sharedExportKW
                #expect(cost <= who.standaloneCost(band: band) + 1e-9, "individual rationality")
            }
            if sellers > 0 && buyers > 0 {
                #expect(eq.price > band.sell && eq.price < band.buy, "price band")
            }
            if case .intercept(let w0) = clearing, n <= 60 {
                // Nash: no prosumer gains by changing its own export, the others' fixed.
                for (j, who) in people.enumerated() {
                    let others = eq.exportKW - eq.decisions[j].sharedExportKW
                    let at = { (x: Double) in bestCost(who, export: x, price: w0 - market.sensitivity * (others + x), band: band) }
                    let x = eq.decisions[j].sharedExportKW
                    for delta in [1e-4, 1e-2, 0.1, 1, 5] {
                        #expect(at(x) <= at(x + delta) + 1e-9 && at(x) <= at(x - delta) + 1e-9, "prosumer \(j) deviates")
                    }
                }
            }
        }
    }
}

@Test func balancedCommunityClearsExactly() throws {
    let people = randomParticipants(2000, seed: 99)
    let market = CommunityMarket(participants: people, sensitivity: 0.01, band: RetailBand(sell: 0.1, buy: 0.9), clearing: .balanced)
    let eq = market.solve()
    let total = eq.decisions.reduce(0) { $0 + $1.sharedExportKW }
    #expect(abs(total) < 1e-8)
}

@Test func nashApproachesPriceTakingAsTheCommunityGrows() throws {
    // Chen et al.'s scaling a = A/(n−1): own price impact vanishes, the outcome tends to the
    // competitive one (energy_sharing.md, last property). Interior prosumers, so the competitive
    // price is unique and the gap is of the order of a.
    var random = TestRandom(state: 11)
    let base = (0..<8).map { _ in
        SharingParticipant(c: random.uniform(0.05, 0.2), b: random.uniform(0, 0.5), pMin: 0, pMax: 50, demand: random.uniform(1, 6))
    }
    var gaps: [Double] = []
    for copies in [10, 100, 1000] {
        let people = Array((0..<copies).map { _ in base }.joined())
        let a = 2.0 / Double(people.count - 1)
        let band = RetailBand(sell: 0.0, buy: 2.0)
        let nash = CommunityMarket(participants: people, sensitivity: a, band: band, clearing: .balanced).solve()
        let taking = CommunityMarket(participants: people, sensitivity: a, band: band, clearing: .balanced, priceTaking: true).solve()
        gaps.append(abs(nash.price - taking.price))
    }
    #expect(gaps[1] < gaps[0] && gaps[2] < gaps[1], "\(gaps)")
    // a shrinks 100-fold from the first to the last size; so must the gap, give or take.
    #expect(gaps[2] < gaps[0] / 50, "\(gaps)")
}

@Test func priceTakingEdgeAllocatesGridTrades() throws {
    // Everybody short: at buyPrice the deficit is bought from the grid, nothing is shared.
    let people = [SharingParticipant(c: 0.1, b: 0.1, pMin: 0, pMax: 1, demand: 3),
                  SharingParticipant(c: 0.1, b: 0.1, pMin: 0, pMax: 1, demand: 2)]
    let market = CommunityMarket(participants: people, sensitivity: 0.1, band: RetailBand(sell: 0.2, buy: 0.5),
                                 clearing: .balanced, priceTaking: true)
    let eq = market.solve()
    #expect(eq.price == 0.5)
    expectClose(eq.decisions.map(\.gridBuyKW), [2, 1])
    expectClose(eq.decisions.map(\.sharedExportKW), [0, 0])
    #expect(market.equilibriumResidual(price: eq.price, decisions: eq.decisions) < 1e-12)
}

@Test func multiplePeriodsAreClearedIndependently() throws {
    let document = #"""
    {"schema":"esmarket/1","mechanism":"energy_sharing","periods":2,"grid":{"buyPrice":[1.0,0.55],"sellPrice":[0.2,0.45]},
     "communities":[{"id":"lam","sensitivity":0.1,"intercept":[0.6,0.5]}],
     "prosumers":[{"id":"P1","loadKW":2,"flex":{"maxKW":100,"costA":0.1,"costB":0.1}},
                  {"id":"P2","loadKW":4,"flex":{"maxKW":100,"costA":0.1,"costB":0.1}},
                  {"id":"P3","loadKW":[6,6],"flex":{"maxKW":100,"costA":0.1,"costB":0.1}}]}
    """#
    let r = try clear(document)
    expectClose(r.column("communities", "price"), [0.54, 0.5])
    // Row-major over periods: P1 t0, P1 t1, P2 t0, ...
    expectClose(r.column("prosumers", "sharedExportKW"), [1.2, 0.5, 0.2, 0, -0.8, -0.5])
    let json = Service.clear(document).json
    #expect(json.contains(#""price":[0.54"#), "\(json.prefix(400))")
}

@Test func observerCanInterrupt() throws {
    let r = try clear(t1Document(intercept: 0.6), control: SolveControl(observer: { _ in true }))
    #expect(r.status == .interrupted)
}

@Test func generatedCommunityOf12300Clears() throws {
    let generated = Service.generateCase(#"{"mechanism":"energy_sharing","feeder":"ieee123","prosumers":12300,"seed":7}"#)
    #expect(generated.error == nil)
    let r = try clear(generated.json)
    #expect(r.status == .solved)
    #expect(r.qualityValue("equilibriumResidual") < 1e-9)
    #expect(r.column("prosumers", "flexKW").count == 12300)
}
