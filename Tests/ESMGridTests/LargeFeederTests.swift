import Testing
import ESMSolver
@testable import ESMGrid

/// A synthetic feeder of `n` buses: a 4-ary tree (bus i fed from (i − 1)/4), 1 kW + 0.3 kVAr per bus.
func syntheticNetwork(_ n: Int) -> Network {
    var buses: [Bus] = []
    var lines: [Line] = []
    var index: [String: Int] = [:]
    buses.reserveCapacity(n)
    for i in 0..<n {
        let load = i == 0 ? 0.0 : 1.0
        buses.append(Bus(id: "\(i)", pLoadKW: [load], qLoadKVAr: [0.3 * load], qCapKVAr: 0))
        index["\(i)"] = i
        if i > 0 {
            lines.append(Line(id: "L\(i)", from: (i - 1) / 4, to: i, rOhm: 0.05, xOhm: 0.04, rateKVA: nil,
                              closed: true, switchable: false))
        }
    }
    return Network(name: "synthetic", baseKV: 12.47, substation: 0, vSubstationPu: 1.0, vMinPu: 0.8, vMaxPu: 1.1,
                   model: nil, buses: buses, lines: lines, busIndex: index)
}

@Suite struct LargeFeederTests {
    @Test(arguments: [1_000])
    func syntheticFeederSolvesAndVerifies(_ size: Int) throws {
        let network = syntheticNetwork(size)
        let tree = try RadialTree.build(busCount: network.buses.count, lines: network.lines, root: 0).get()
        let clock = ContinuousClock()
        var start = clock.now
        let f = try Feeder(network: network, tree: tree)
        let pf = f.powerFlow()
        let pfTime = clock.now - start
        let converged = pf.converged
        #expect(converged)
        start = clock.now
        var builder = ConicBuilder()
        let model = f.addSOCBranchFlow(to: &builder, injections: BusInjections())
        builder.addLinearCost(model.substationImportKW)
        let built = try builder.build()
        let buildTime = clock.now - start
        start = clock.now
        let solution = solveConic(built.problem)
        let solveTime = clock.now - start
        print("\(size) buses: feeder + power flow \(pfTime), model build \(buildTime), solve \(solveTime) "
              + "(\(solution.status), \(solution.iterations) it.)")
        #expect(buildTime < .seconds(3))
        #expect(solution.status == .solved)
        let (_, err) = model.verifyWithPowerFlow(x: solution.x, injections: BusInjections())
        #expect(err < 1e-6)
    }

    /// 50k buses (200k variables in the SOC model): the feeder, its power flow and both
    /// formulations build in linear time.
    @Test func fiftyThousandBusesBuild() throws {
        let network = syntheticNetwork(50_001)
        let tree = try RadialTree.build(busCount: network.buses.count, lines: network.lines, root: 0).get()
        let clock = ContinuousClock()
        let start = clock.now
        let f = try Feeder(network: network, tree: tree)
        let pf = f.powerFlow()
        let converged = pf.converged
        #expect(converged)
        for model in NetworkModel.allCases {
            var builder = ConicBuilder()
            let flow = f.addModel(model, to: &builder, injections: BusInjections())
            builder.addLinearCost(flow.substationImportKW)
            let built = try builder.build()
            #expect(built.problem.A.n == (model == .socp ? 4 : 3) * f.busCount - (model == .socp ? 1 : 0))
        }
        let elapsed = clock.now - start
        print("50k buses: feeder, power flow (\(pf.iterations) sweeps) and two models in \(elapsed)")
        #expect(elapsed < .seconds(20))
    }
}
