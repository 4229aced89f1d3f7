import Foundation
import Testing
import ESMGrid
import ESMJSON
import ESMSolver
@testable import ESMMarkets

/// `social_optimum`: hand-checked two-bus feeders, the price decomposition and its sign (finite
/// differences), infeasibility diagnosis, and the SOC relaxation against the AC power flow.
@Suite struct SocialOptimumTests {
    /// Substation "0" — line L1 (1 Ω + j1 Ω at 10 kV) — bus "1" with one prosumer: load 150 kW,
    /// flex 0 … 200 kW costing 0.001 p² + 0.1 p, substation price 0.3. On LinDistFlow, without
    /// binding limits, the flex runs until its marginal cost 0.1 + 0.002 p meets 0.3: p = 100 kW.
    static func twoBus(model: String = "lindistflow", vMin: Double = 0.9, rate: String = "null",
                       grid: String = #","substationPrice":0.3"#, load: Double = 150, pv: Double = 0,
                       flexMax: Double = 200, options: String = "{}") -> String {
        #"""
        {"schema":"esmarket/1","mechanism":"social_optimum",
         "network":{"baseKV":10,"substationBus":"0","vMinPu":\#(vMin),"vMaxPu":1.1,"model":"\#(model)",
                    "buses":[{"id":"0"},{"id":"1"}],
                    "lines":[{"id":"L1","from":"0","to":"1","rOhm":1,"xOhm":1,"rateKVA":\#(rate)}]},
         "grid":{"buyPrice":1,"sellPrice":0.05\#(grid)},
         "prosumers":[{"id":"a","bus":"1","loadKW":\#(describe(load)),"qLoadKVAr":0,"pvKW":\#(describe(pv)),
                       "flex":{"minKW":0,"maxKW":\#(describe(flexMax)),"costA":0.002,"costB":0.1}}],
         "options":\#(options)}
        """#
    }

    static func describe(_ v: Double) -> String { describeNumber(v) }

    @Test func twoBusUnconstrained() throws {
        let r = try clear(Self.twoBus())
        #expect(r.status == .solved)
        expectClose(r.column("prosumers", "flexKW"), [100], 1e-6)
        expectClose(r.column("prosumers", "netImportKW"), [50], 1e-6)
        expectClose(r.column("prosumers", "flexCost"), [20], 1e-6)
        expectClose(r.column("lines", "pKW"), [50], 1e-6)
        #expect(r.tables.first { $0.name == "lines" }?.table.flagColumns.first { $0.name == "closed" }?.values == [true])
        #expect(Service.clear(Self.twoBus()).json.contains(#""closed":true"#))
        expectClose([r.objectiveValue("socialCost"), r.objectiveValue("flexCost"), r.objectiveValue("gridCost")],
                    [35, 20, 15], 1e-7)
        expectClose(r.column("buses", "price"), [0.3, 0.3], 1e-7)
        expectClose(r.column("buses", "priceEnergy"), [0.3, 0.3], 1e-7)
        expectClose(r.column("buses", "priceVoltage"), [0, 0], 1e-7)
        // v₁ = 1 − 2 r P / (1000 kV²) with P in kW, r in Ω.
        expectClose(r.column("buses", "vPu"), [1, (1 - 2 * 50 / 1e5).squareRoot()], 1e-9)
        // LinDistFlow has no relaxation and does not run the AC check unless asked.
        #expect(r.qualityValue("relaxationGapMax").isNaN)
        #expect(r.qualityValue("acVoltageErrorMaxPu").isNaN)
    }

    /// vMin² = 0.9995 allows only P = (1 − 0.9995) · 1000 · 10² / (2 · 1) = 25 kW through the line:
    /// the flex runs to 125 kW, and bus 1's price is its marginal cost 0.35 = 0.3 energy + 0.05 voltage.
    @Test func twoBusVoltageLimitPricesTheFlex() throws {
        let r = try clear(Self.twoBus(vMin: 0.9995.squareRoot()))
        #expect(r.status == .solved)
        expectClose(r.column("prosumers", "flexKW"), [125], 1e-5)
        expectClose(r.column("buses", "price"), [0.3, 0.35], 1e-6)
        expectClose(r.column("buses", "priceEnergy"), [0.3, 0.3], 1e-6)
        expectClose(r.column("buses", "priceVoltage"), [0, 0.05], 1e-6)
        expectClose(r.column("buses", "priceCongestion"), [0, 0], 1e-6)
        expectClose(r.column("buses", "priceLoss"), [0, 0], 1e-6)
    }

    /// The same 25 kW from a 25 kVA rating: the 0.05 is congestion now.
    @Test(arguments: ["lindistflow", "socp"])
    func twoBusThermalLimitPricesTheFlex(_ model: String) throws {
        let r = try clear(Self.twoBus(model: model, rate: "25"))
        #expect(r.status == .solved)
        let price = r.column("buses", "price"), congestion = r.column("buses", "priceCongestion")
        let loss = r.column("buses", "priceLoss")
        #expect(abs(r.column("lines", "pKW")[0] - 25) <= 1e-5)
        #expect(abs(price[0] - 0.3) <= 1e-7)
        // Bus 1 pays the flex's marginal cost; without losses all of the premium is congestion.
        let flex = r.column("prosumers", "flexKW")[0]
        #expect(abs(price[1] - (0.1 + 0.002 * flex)) <= 1e-6)
        #expect(congestion[1] > 0.04)
        if model == "lindistflow" { #expect(abs(loss[1]) <= 1e-7) }
        #expect(abs(r.column("buses", "priceVoltage")[1]) <= 1e-7)
        #expect(abs(price[1] - 0.3 - loss[1] - congestion[1]) <= 1e-9)
    }

    /// No substation price: exports are worth sellPrice (0.05), so with 300 kW of pv the flex stays
    /// off (its marginal cost starts at costB = 0.1) and the feeder exports 150 kW at price 0.05.
    @Test func tariffWithoutSubstationPrice() throws {
        let r = try clear(Self.twoBus(grid: "", pv: 300))
        #expect(r.status == .solved)
        expectClose(r.column("prosumers", "flexKW"), [0], 1e-5)
        expectClose(r.column("buses", "price"), [0.05, 0.05], 1e-6)
        expectClose([r.objectiveValue("gridCost")], [-7.5], 1e-6)
        // And with imports it pays buyPrice: flex to 0.1 + 0.002 p = 1 → p = 450 > max, so 200 kW.
        let buying = try clear(Self.twoBus(grid: "", load: 300))
        expectClose(buying.column("prosumers", "flexKW"), [200], 1e-5)
        expectClose([buying.objectiveValue("gridCost")], [100], 1e-6)
        expectClose(buying.column("buses", "price"), [1, 1], 1e-6)
    }

    /// With losses, bus 1's price exceeds the substation's by the loss component only, and the
    /// relaxed solution is the AC power flow's.
    @Test func twoBusLossesOnSOCP() throws {
        let r = try clear(Self.twoBus(model: "socp"))
        #expect(r.status == .solved)
        let price = r.column("buses", "price"), loss = r.column("buses", "priceLoss")
        #expect(loss[1] > 0)
        #expect(abs(price[1] - 0.3 - loss[1]) <= 1e-9)
        #expect(r.objectiveValue("lossesKW") > 0)
        #expect(r.qualityValue("acVoltageErrorMaxPu") <= 1e-8)
        #expect(r.qualityValue("relaxationGapMax") <= 1e-7)
        // Marginal loss: d(P₀)/d(load) = 1 / (1 − 2 r P₀/V₀²) in the exact model, V₀ = 1.
        let p0 = r.column("lines", "pKW")[0] / 1e5  // pu of r = 1 Ω at 10 kV (z_pu = z S/(1000 kV²), S = 1 kVA)
        #expect(abs(price[1] - 0.3 / (1 - 2 * p0)) <= 1e-5 * 0.3, "price \(price[1])")
    }

    /// Units do not matter: prices (and costs) ×1000 give the same dispatch and ×1000 prices.
    @Test func resultsScaleWithTheCurrency() throws {
        let document = try Self.generated("ieee33bw", prosumers: 200, vMin: 0.905, model: "socp")
        let scaled = document
            .replacingOccurrences(of: #""substationPrice":0.6"#, with: #""substationPrice":600"#)
            .replacingOccurrences(of: #""buyPrice":1.0,"sellPrice":0.35"#, with: #""buyPrice":1000,"sellPrice":350"#)
        let a = try clear(document)
        var problem = try ProblemDecoder.decode(scaled)
        for j in problem.prosumers.indices {
            if let f = problem.prosumers[j].flex {
                problem.prosumers[j].flex = Flex(minKW: f.minKW, maxKW: f.maxKW, costA: f.costA.scaled(by: 1000),
                                                 costB: f.costB.scaled(by: 1000))
            }
        }
        let b = try clearMarket(problem)
        #expect(a.status == .solved && b.status == .solved)
        expectClose(b.column("prosumers", "flexKW"), a.column("prosumers", "flexKW"), 1e-4)
        expectClose(b.column("buses", "vPu"), a.column("buses", "vPu"), 1e-8)
        expectClose(b.column("buses", "price").map { $0 / 1000 }, a.column("buses", "price"), 1e-6)
        #expect(abs(b.objectiveValue("socialCost") / 1000 - a.objectiveValue("socialCost")) <= 1e-7 * a.objectiveValue("socialCost"))
    }

    /// A generated case on a built-in feeder, with the voltage floor and model given.
    static func generated(_ feeder: String, prosumers: Int, vMin: Double, model: String, seed: Int = 3) throws -> String {
        let spec = #"{"mechanism":"social_optimum","feeder":"\#(feeder)","prosumers":\#(prosumers),"seed":\#(seed)}"#
        let document = try generateCase(spec)
        return document
            .replacingOccurrences(of: #"{"builtin":"\#(feeder)"}"#,
                                  with: #"{"builtin":"\#(feeder)","vMinPu":\#(vMin),"model":"\#(model)"}"#)
    }

    /// Raising one bus's demand by ε raises the optimal cost by price · ε (central differences,
    /// ε = 0.5 kW), at buses near and far from the substation, with the voltage limit binding: the
    /// 33-bus feeder with expensive flex (0.4 + 0.004 p) at five remote buses that the planner runs
    /// only to hold vMinPu = 0.925.
    @Test(arguments: ["socp", "lindistflow"])
    func pricesAreMarginalCostsOfDemand(_ model: String) throws {
        func document(probeAt bus: String, load: Double) -> String {
            let flex = ["14", "18", "25", "30", "33"].map {
                #"{"id":"g\#($0)","bus":"\#($0)","loadKW":10,"qLoadKVAr":3,"flex":{"minKW":0,"maxKW":300,"costA":0.002,"costB":0.4}}"#
            }
            let probe = #"{"id":"probe","bus":"\#(bus)","loadKW":\#(load),"qLoadKVAr":0}"#
            return #"""
            {"schema":"esmarket/1","mechanism":"social_optimum",
             "network":{"builtin":"ieee33bw","vMinPu":0.925,"model":"\#(model)"},
             "grid":{"buyPrice":1,"sellPrice":0.1,"substationPrice":0.3},
             "prosumers":[\#((flex + [probe]).joined(separator: ","))]}
            """#
        }
        let ids = (1...33).map(String.init)
        for bus in ["3", "9", "18", "25", "33"] {
            let epsilon = 0.5
            let up = try clear(document(probeAt: bus, load: 5 + epsilon))
            let down = try clear(document(probeAt: bus, load: 5 - epsilon))
            let middle = try clear(document(probeAt: bus, load: 5))
            #expect(up.status == .solved && down.status == .solved && middle.status == .solved)
            let slope = (up.objectiveValue("socialCost") - down.objectiveValue("socialCost")) / (2 * epsilon)
            let k = ids.firstIndex(of: bus)!
            let price = middle.column("buses", "price")[k]
            #expect(abs(slope - price) <= 1e-5 * abs(price), "bus \(bus): finite difference \(slope), price \(price)")
            let parts = ["priceEnergy", "priceLoss", "priceCongestion", "priceVoltage"].map { middle.column("buses", $0)[k] }
            #expect(abs(parts.reduce(0, +) - price) <= 1e-12)
            #expect(abs(parts[0] - 0.3) <= 1e-9)
            #expect(parts[3] > 0.02, "the voltage floor binds downstream of bus \(bus)")
            if model == "lindistflow" { #expect(abs(parts[1]) <= 1e-9) } else { #expect(parts[1] > 0) }
        }
    }

    @Test func unreachableVoltageFloorNamesTheFarthestBus() throws {
        let r = try clear(Self.generated("ieee33bw", prosumers: 50, vMin: 0.97, model: "socp"))
        #expect(r.status == .infeasible)
        #expect(r.diagnosis.first { $0.0 == "constraint" }?.1 == "vMinPu")
        #expect(r.diagnosis.first { $0.0 == "bus" }?.1 == "18")
        #expect(r.message.contains("vMinPu"))
        #expect(r.tables.isEmpty)
    }

    /// 150 kW of load, at most 100 kW of flex, a 10 kVA line: no dispatch fits.
    @Test(arguments: ["lindistflow", "socp"])
    func overloadedLineIsNamed(_ model: String) throws {
        let r = try clear(Self.twoBus(model: model, rate: "10", flexMax: 100))
        #expect(r.status == .infeasible)
        #expect(r.diagnosis.first { $0.0 == "constraint" }?.1 == "rateKVA")
        #expect(r.diagnosis.first { $0.0 == "line" }?.1 == "L1")
    }

    @Test func multiPeriodDiagnosisNamesThePeriod() throws {
        let document = Self.twoBus(rate: "10", load: 50, flexMax: 100)
            .replacingOccurrences(of: #""loadKW":50"#, with: #""loadKW":[50,150]"#)
            .replacingOccurrences(of: #""mechanism":"social_optimum","#, with: #""mechanism":"social_optimum","periods":2,"#)
        let r = try clear(document)
        #expect(r.status == .infeasible)
        #expect(r.diagnosis.first { $0.0 == "period" }?.1 == "1")
        #expect(r.diagnosis.first { $0.0 == "constraint" }?.1 == "rateKVA")
    }

    /// On a dispatch where the relaxation is tight, the voltages of the result equal those of an
    /// AC power flow run independently on the result's own net imports.
    @Test(arguments: ["ieee33bw", "ieee37", "ieee123"])
    func socpVoltagesEqualThePowerFlow(_ name: String) throws {
        let document = try Self.generated(name, prosumers: 300, vMin: 0.9, model: "socp")
        let problem = try ProblemDecoder.decode(document)
        let r = try clearMarket(problem)
        #expect(r.status == .solved)
        #expect(r.qualityValue("relaxationGapMax") <= 1e-7)
        #expect(r.qualityValue("acVoltageErrorMaxPu") <= 1e-6)
        let network = try #require(problem.network), tree = try #require(problem.tree)
        let feeder = try Feeder(network: network, tree: tree)
        var kW = [Double](repeating: 0, count: feeder.busCount), kVAr = kW
        let imports = r.column("prosumers", "netImportKW")
        for (j, who) in problem.prosumers.enumerated() {
            kW[who.bus!] -= imports[j]
            kVAr[who.bus!] -= who.qLoadKVAr[0]
        }
        let ac = feeder.powerFlow(injectionKW: kW, injectionKVAr: kVAr)
        #expect(ac.converged)
        let v = r.column("buses", "vPu")
        let worst = zip(v, ac.vPu).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-6, "max |V − V_AC| = \(worst) pu")
        #expect(abs(r.objectiveValue("lossesKW") - ac.totalLossKW) <= 1e-5 * ac.totalLossKW)
    }

    /// The bus-aggregated fast path (one flex variable per bus, Newton on the supply-curve pieces)
    /// against the per-prosumer model: the same optimum.
    @Test(arguments: [("ieee33bw", "socp"), ("ieee37", "lindistflow"), ("ieee123", "socp"), ("ieee123", "lindistflow")])
    func busAggregationEqualsPerProsumerModel(_ name: String, _ model: String) throws {
        let problem = try ProblemDecoder.decode(Self.generated(name, prosumers: 400, vMin: 0.9, model: model, seed: 9))
        let network = try #require(problem.network), tree = try #require(problem.tree)
        let feeder = try Feeder(network: network, tree: tree)
        let setup = PeriodSetup(problem: problem, grid: try #require(problem.grid), feeder: feeder,
                                model: network.model ?? .socp, period: 0)
        let fast = try SocialOptimum.dispatchPeriod(setup, options: problem.options, control: SolveControl(), aggregate: true)
        let slow = try SocialOptimum.dispatchPeriod(setup, options: problem.options, control: SolveControl(), aggregate: false)
        #expect(fast.aggregated && !slow.aggregated)
        let a = try SocialOptimum.clear(problem, control: SolveControl())
        let b = try SocialOptimum.clear(problem, control: SolveControl(), aggregate: false)
        #expect(a.status == .solved && b.status == .solved)
        let cost = b.objectiveValue("socialCost")
        #expect(abs(a.objectiveValue("socialCost") - cost) <= 1e-8 * cost)
        expectClose(a.column("buses", "vPu"), b.column("buses", "vPu"), 1e-7)
        expectClose(a.column("buses", "price"), b.column("buses", "price"), 2e-6)
        expectClose(a.column("buses", "priceVoltage"), b.column("buses", "priceVoltage"), 2e-6)
        // The per-prosumer interior point pins each small prosumer only to ~1e-3 kW (its share of
        // the cost is tiny); the aggregated path computes it from the bus price.
        expectClose(a.column("prosumers", "flexKW"), b.column("prosumers", "flexKW"), 5e-3)
    }

    /// A prosumer with costA = 0 makes the bus supply curve jump: the per-prosumer model is used.
    @Test func linearFlexCostUsesThePerProsumerModel() throws {
        let problem = try ProblemDecoder.decode(Self.twoBus().replacingOccurrences(of: #""costA":0.002"#, with: #""costA":0"#))
        let network = try #require(problem.network), tree = try #require(problem.tree)
        let setup = PeriodSetup(problem: problem, grid: try #require(problem.grid), feeder: try Feeder(network: network, tree: tree),
                                model: .lindistflow, period: 0)
        #expect(SocialOptimumAggregation.supplies(setup) == nil)
        let r = try clearMarket(problem)
        #expect(r.status == .solved)
        // costB 0.1 < 0.3: the whole range runs; 150 − 200 = −50 kW exported at price 0.3.
        expectClose(r.column("prosumers", "flexKW"), [200], 1e-5)
        expectClose(r.column("buses", "price"), [0.3, 0.3], 1e-6)
    }

    @Test func storageIsUnsupported() throws {
        let document = Self.twoBus().replacingOccurrences(
            of: #""pvKW":0,"#,
            with: #""pvKW":0,"storage":{"capacityKWh":10,"socKWh":5,"chargeMaxKW":3,"dischargeMaxKW":3},"#)
        #expect(throws: InputError.unsupported("prosumers[0].storage", "")) {
            do { _ = try clear(document) } catch var error as InputError {
                error.message = ""
                throw error
            }
        }
    }

    @Test func noProsumersAndTheInterruptingObserver() throws {
        let r = try clear(#"{"schema":"esmarket/1","mechanism":"social_optimum","network":{"builtin":"ieee37"},"grid":{"buyPrice":1,"sellPrice":0,"substationPrice":0.5}}"#)
        #expect(r.status == .solved)
        #expect(r.column("prosumers", "flexKW").isEmpty)
        #expect(r.column("buses", "price").allSatisfy { $0 >= 0.5 - 1e-9 })
        let stopped = try clear(Self.twoBus(), control: SolveControl(observer: { _ in true }))
        #expect(stopped.status == .interrupted)
    }
}

/// The case generator through its public entry point.
func generateCase(_ spec: String) throws -> String {
    let reply = Service.generateCase(spec)
    guard reply.error == nil else { throw InputError(.internalError, path: nil, reply.json) }
    return reply.json
}
