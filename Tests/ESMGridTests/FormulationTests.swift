import Testing
import ESMSolver
@testable import ESMGrid

/// Builds `model` on a feeder with fixed (or given) injections, minimizing the substation import
/// at `price` per kWh, and solves it.
func solveFlow(_ feeder: Feeder, _ model: NetworkModel, injections: BusInjections = BusInjections(),
               price: Double = 1, extra: (inout ConicBuilder) -> Void = { _ in })
    throws -> (BranchFlowModel, ConicModel, ConicSolution) {
    var builder = ConicBuilder()
    let flow = feeder.addModel(model, to: &builder, injections: injections)
    builder.addLinearCost(flow.substationImportKW.scaled(by: price))
    extra(&builder)
    let built = try builder.build()
    return (flow, built, solveConic(built.problem))
}

@Suite struct FormulationTests {
    /// With the base-case loads and objective = substation import, the relaxation is exact and the
    /// SOC solution is the AC power flow.
    @Test(arguments: ["ieee33bw", "ieee37", "ieee123"])
    func socpMatchesPowerFlow(_ name: String) throws {
        let f = try loadFeeder(name).feeder
        let ac = f.powerFlow()
        let (flow, _, solution) = try solveFlow(f, .socp)
        #expect(solution.status == .solved)
        let s = flow.solution(x: solution.x)
        var worst = 0.0
        for bus in 0..<f.busCount { worst = max(worst, abs(s.vPu[bus] - ac.vPu[bus])) }
        var worstFlow = 0.0
        for k in 0..<f.lineCount { worstFlow = max(worstFlow, abs(s.pKW[k] - ac.pKW[k]), abs(s.qKVAr[k] - ac.qKVAr[k])) }
        print("\(name) socp: max |V − V_ac| \(worst) pu, max flow error \(worstFlow) kW, gap \(s.maxRelaxationGapPu) pu², phantom loss \(s.maxRelaxationLossKVA) kVA, "
              + "loss \(s.totalLossKW) vs \(ac.totalLossKW) kW, \(solution.iterations) iterations")
        #expect(worst <= 1e-6)
        #expect(s.maxRelaxationGapPu <= 1e-5)
        #expect(s.maxRelaxationLossKVA <= 1e-4)
        #expect(worstFlow <= 1e-3)
        #expect(relativeError(s.substationPKW, ac.substationPKW) <= 1e-6)
        #expect(relativeError(s.substationQKVAr, ac.substationQKVAr) <= 1e-6)
        #expect(relativeError(s.totalLossKW, ac.totalLossKW) <= 1e-5)
    }

    /// LinDistFlow: no losses, voltages within the linearization error (larger on the heavily
    /// loaded 33-bus feeder).
    @Test(arguments: [("ieee33bw", 0.006), ("ieee37", 0.002), ("ieee123", 0.003)])
    func linDistFlowIsCloseToPowerFlow(_ name: String, _ bound: Double) throws {
        let f = try loadFeeder(name).feeder
        let ac = f.powerFlow()
        let (flow, _, solution) = try solveFlow(f, .lindistflow)
        #expect(solution.status == .solved)
        let s = flow.solution(x: solution.x)
        var worst = 0.0
        for bus in 0..<f.busCount {
            worst = max(worst, abs(s.vPu[bus] - ac.vPu[bus]))
            // Without losses the linear model overestimates every voltage.
            #expect(s.vPu[bus] >= ac.vPu[bus] - 1e-7)
        }
        print("\(name) lindistflow: max |V − V_ac| \(worst) pu")
        #expect(worst <= bound)
        let load = f.pLoad.reduce(0, +) * f.baseKVA
        #expect(abs(s.substationPKW - load) <= 1e-5 * load)
        #expect(s.totalLossKW == 0)
    }

    @Test(arguments: NetworkModel.allCases)
    func unreachableVoltageLimitIsInfeasible(_ model: NetworkModel) throws {
        let f = try loadFeeder("ieee33bw", overrides: #""vMinPu":0.99"#).feeder
        let (_, _, solution) = try solveFlow(f, model)
        #expect(solution.status == .primalInfeasible)
    }

    /// The active-balance duals are locational prices per kW: the substation's is the import price,
    /// and one more kW of load at bus 18 costs what its price says (finite difference).
    @Test func pricesAreMarginalCosts() throws {
        let test = try loadFeeder("ieee33bw")
        let f = test.feeder
        let price = 0.1
        let (flow, built, solution) = try solveFlow(f, .socp, price: price)
        #expect(solution.status == .solved)
        let prices = flow.activePrices(y: solution.y, model: built)
        let bus18 = try #require(test.network.busIndex["18"])
        #expect(abs(prices[f.root] - price) <= 1e-7)
        #expect(prices[bus18] > price)      // losses make remote load dearer
        var kW = [Double](repeating: 0, count: f.busCount)
        kW[bus18] = -1
        let (_, _, perturbed) = try solveFlow(f, .socp, injections: .fixed(kW: kW), price: price)
        let marginal = perturbed.objective - solution.objective
        #expect(abs(marginal - prices[bus18]) <= 2e-3 * price)
    }

    /// A dispatchable generator at bus 18, as an injection expression in the caller's own variable,
    /// is run just enough to lift the voltage to the tighter limit; the AC power flow at that
    /// dispatch confirms the relaxed solution.
    @Test func injectionsInCallerVariables() throws {
        let test = try loadFeeder("ieee33bw", overrides: #""vMinPu":0.915"#)
        let f = test.feeder
        let bus18 = try #require(test.network.busIndex["18"])
        var builder = ConicBuilder()
        let generator = builder.addVariable("g")
        let bounds = builder.addGroup("g bounds", .nonnegative)
        builder.addGreaterEqual(bounds, .variable(generator), 0)
        builder.addLessEqual(bounds, .variable(generator), 2000)
        builder.addLinearCost(generator, 0.5)     // dearer than the substation
        var injections = BusInjections()
        injections.activeKW = [LinearExpression](repeating: .zero, count: f.busCount)
        injections.activeKW[bus18] = .variable(generator)
        let model = f.addSOCBranchFlow(to: &builder, injections: injections)
        builder.addLinearCost(model.substationImportKW.scaled(by: 0.1))
        let built = try builder.build()
        let s = solveConic(built.problem)
        #expect(s.status == .solved)
        let g = s.x[generator]
        #expect(g > 1 && g < 2000)
        let relaxed = model.solution(x: s.x)
        #expect(abs((relaxed.vPu.min() ?? 0) - 0.915) <= 1e-6)
        // The generator is marginal: bus 18's price equals its cost.
        #expect(abs(model.activePrices(y: s.y, model: built)[bus18] - 0.5) <= 1e-5)
        let (ac, worst) = model.verifyWithPowerFlow(x: s.x, injections: injections)
        #expect(ac.converged)
        print("generator at 18: \(g) kW, max |V − V_ac| \(worst) pu, gap \(relaxed.maxRelaxationGapPu) pu²")
        #expect(worst <= 1e-6)
        #expect(relaxed.maxRelaxationGapPu <= 1e-5)
    }
}

/// The linearized voltage ceiling (`VoltageCeiling.swift`) written through the SOC state: its v̂
/// is the LinDistFlow voltage of the same injections (an independent formulation, capacitors at
/// its own voltage), and it bounds the SOC voltages from above (Gan, Li, Topcu, Low 2015, Lemma 1)
/// while the relaxation stays the AC power flow. Without capacitors v̂ is also checked by hand
/// (lossless flows as subtree sums, voltages as path sums).
@Suite struct VoltageCeilingTests {
    @Test(arguments: ["ieee33bw", "ieee37", "ieee123"])
    func ceilingIsLinDistFlow(_ name: String) throws {
        let f = try loadFeeder(name, overrides: #""vMaxPu":1.1"#).feeder
        var builder = ConicBuilder()
        var options = BranchFlowOptions()
        options.voltageCeiling = VoltageCeiling()
        let flow = f.addSOCBranchFlow(to: &builder, injections: BusInjections(), options: options)
        builder.addLinearCost(flow.substationImportKW)
        let solution = solveConic(try builder.build().problem)
        #expect(solution.status == .solved)
        let vHat = flow.linearizedVoltagePu2(x: solution.x)
        let soc = flow.solution(x: solution.x)
        let ac = f.powerFlow()
        let (linear, _, reference) = try solveFlow(f, .lindistflow)
        #expect(reference.status == .solved)
        var worst = 0.0
        for bus in 0..<f.busCount {
            worst = max(worst, abs(vHat[bus] - reference.x[linear.v[bus]]))
            #expect(soc.vPu[bus] * soc.vPu[bus] <= vHat[bus] + 1e-9)
            #expect(abs(soc.vPu[bus] - ac.vPu[bus]) <= 1e-6)
        }
        #expect(worst <= 1e-7, "max |v̂ − v_LinDistFlow| \(worst)")
        if !f.bCap.contains(where: { $0 != 0 }) {
            let pHat = f.subtreeSums(f.pLoad), qHat = f.subtreeSums(f.qLoad)
            var byHand = [Double](repeating: f.vSubstation * f.vSubstation, count: f.busCount)
            for bus in f.order where f.parent[bus] >= 0 {
                byHand[bus] = byHand[f.parent[bus]] - 2 * (f.r[bus] * pHat[bus] + f.x[bus] * qHat[bus])
            }
            for bus in 0..<f.busCount { #expect(abs(vHat[bus] - byHand[bus]) <= 1e-7) }
        }
    }
}
