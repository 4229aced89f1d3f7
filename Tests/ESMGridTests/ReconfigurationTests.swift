import Foundation
import Testing
@testable import ESMGrid
import ESMSolver

// p2p_reconfiguration spec §7: A1, A2 (three-bus loop), A3 (ieee33bw static reconfiguration),
// A5 (graph rules on ieee33bw). The reference numbers are the spec's exhaustive AC power flows.

/// The spec's three-bus loop: lines 0–1, 1–2, 0–2, each z = 0.01 + j0.02 pu on 1000 kVA (10 kV:
/// 1 + j2 Ω), all switchable; loads per period in pu (unity power factor).
func threeBusLoop(load1: [Double], load2: [Double]) -> Network {
    let buses = [
        Bus(id: "0", pLoadKW: [0], qLoadKVAr: [0], qCapKVAr: 0),
        Bus(id: "1", pLoadKW: load1.map { $0 * 1000 }, qLoadKVAr: [0], qCapKVAr: 0),
        Bus(id: "2", pLoadKW: load2.map { $0 * 1000 }, qLoadKVAr: [0], qCapKVAr: 0),
    ]
    let lines = [(0, 1), (1, 2), (0, 2)].enumerated().map { k, e in
        Line(id: "\(k)", from: e.0, to: e.1, rOhm: 1, xOhm: 2, rateKVA: nil, closed: true, switchable: true)
    }
    return Network(name: "loop3", baseKV: 10, substation: 0, vSubstationPu: 1, vMinPu: 0.8, vMaxPu: 1.2,
                   model: .socp, buses: buses, lines: lines, busIndex: ["0": 0, "1": 1, "2": 2])
}

@Test func a1ThreeBusLoopOpensTheRightLine() throws {
    let result = try threeBusLoop(load1: [0.5], load2: [0.3]).reconfigure()
    #expect(result.status == .optimal)
    let period = try #require(result.periods.first)
    #expect(period.openLines == [1])                         // open 1–2
    #expect(abs(result.lossKW / 1000 - 0.003431) < 1e-6)      // pu on 1000 kVA
    let ac = try #require(period.powerFlow)
    #expect(abs(ac.totalLossKW / 1000 - 0.003431) < 1e-6)
    #expect(abs(ac.vPu[1] - 0.99492) < 1e-5 && abs(ac.vPu[2] - 0.99697) < 1e-5)
    #expect(period.relaxationGapMaxPu < 1e-5 && period.acVoltageErrorMaxPu < 1e-5)
    #expect(result.gapKW <= 1e-6 * result.lossKW + 1e-9 && result.bestBoundKW <= result.lossKW + 1e-12)
}

@Test func a2TwoPeriodsWithAndWithoutSwitching() throws {
    let network = threeBusLoop(load1: [0.5, -0.2], load2: [0.3, 0.6])
    var frozen = ReconfigurationOptions()
    frozen.formulation.switchingBudget = 0
    let kept = try network.reconfigure(options: frozen)
    #expect(kept.status == .optimal)
    #expect(kept.periods.map(\.openLines) == [[1], [1]])
    #expect(abs(kept.lossKW / 1000 - 0.007474) < 1e-6)
    #expect(kept.switchOperations == 0)

    var free = ReconfigurationOptions()
    free.formulation.switchingBudget = 2
    let switched = try network.reconfigure(options: free)
    #expect(switched.status == .optimal)
    #expect(switched.periods.map(\.openLines) == [[1], [0]])  // close 1–2, open 0–1
    #expect(abs(switched.lossKW / 1000 - 0.005449) < 1e-6)
    #expect(switched.switchOperations == 2)
    // the periods solved separately meet the budget here; the joint search agrees
    #expect(switched.message.contains("separately"))
    var jointOnly = free
    jointOnly.decomposeByPeriod = false
    let joint = try network.reconfigure(options: jointOnly)
    #expect(joint.status == .optimal && abs(joint.lossKW - switched.lossKW) < 1e-6 * switched.lossKW)
    #expect(joint.periods.map(\.openLines) == [[1], [0]])
    // with budget 0 the separate optima (two operations) are refused and the joint search runs
    #expect(!kept.message.contains("separately") && kept.bestBoundKW <= kept.lossKW)
    for period in switched.periods {
        let ac = try #require(period.powerFlow)
        #expect(abs(ac.totalLossKW - period.lossKW) < 1e-3)   // relaxation exact: same losses as AC
    }

    // one operation per switch is enough (1–2 closes, 0–1 opens); zero per switch freezes
    var perSwitch = ReconfigurationOptions()
    perSwitch.formulation.perSwitchLimit = 1
    #expect(abs(try network.reconfigure(options: perSwitch).lossKW / 1000 - 0.005449) < 1e-6)
    perSwitch.formulation.perSwitchLimit = 0
    #expect(abs(try network.reconfigure(options: perSwitch).lossKW / 1000 - 0.007474) < 1e-6)

    // counted from the network as given (all three lines closed), opening 1–2 in period 1
    // already costs one operation: a budget of 2 keeps 1–2 open, 3 allows the move
    var counted = ReconfigurationOptions()
    counted.formulation.countFromInitialStatus = true
    counted.formulation.switchingBudget = 2
    #expect(abs(try network.reconfigure(options: counted).lossKW / 1000 - 0.007474) < 1e-6)
    counted.formulation.switchingBudget = 3
    #expect(abs(try network.reconfigure(options: counted).lossKW / 1000 - 0.005449) < 1e-6)

    // a budget of one operation cannot move an open line (two operations): same as frozen
    var one = ReconfigurationOptions()
    one.formulation.switchingBudget = 1
    let single = try network.reconfigure(options: one)
    #expect(abs(single.lossKW - kept.lossKW) < 1e-6 * kept.lossKW)
}

@Test func voltageFloorNoTopologyMeetsIsInfeasible() throws {
    var network = threeBusLoop(load1: [0.5], load2: [0.3])
    network.vMinPu = 0.999          // every radial option drops bus 1 or 2 below 0.995
    let result = try network.reconfigure()
    #expect(result.status == .infeasible)
    #expect(!result.hasIncumbent && result.periods.isEmpty)
}

@Test func a3IEEE33StaticReconfiguration() throws {
    let network = try loadFeeder("ieee33bw").network
    var options = ReconfigurationOptions()
    options.allLinesSwitchable = true
    let result = try network.reconfigure(options: options)
    #expect(result.status == .optimal)
    let period = try #require(result.periods.first)
    let openIDs = Set(period.openLines.map { network.lines[$0].id })
    #expect(openIDs == ["7", "9", "14", "32", "37"])
    #expect(abs(result.lossKW - 139.551) < 0.05)
    let ac = try #require(period.powerFlow)
    #expect(ac.converged)
    #expect(abs(ac.totalLossKW - 139.551) < 0.0005)
    #expect(abs(ac.vMinPu - 0.93782) < 1e-5 && network.buses[ac.vMinBus].id == "32")
    #expect(result.gapKW <= 1e-6 * result.lossKW + 1e-9)
    #expect(result.heuristicIncumbents >= 1)
    let graph = try SwitchingGraph(network: network, allLinesSwitchable: true)
    #expect(graph.isRadial(closed: period.closed))
    // spec §7 invariants 4 and 5: open lines carry nothing, the relaxation is exact, and the
    // relaxation's flows are the AC power flow's
    for k in period.openLines { #expect(abs(period.pKW[k]) < 1e-6 && abs(period.qKVAr[k]) < 1e-6) }
    #expect(period.relaxationGapMaxPu < 1e-5 && period.acVoltageErrorMaxPu < 1e-5)
    for k in network.lines.indices where period.closed[k] {
        #expect(abs(period.pKW[k] - ac.pKW[k]) < 1e-2 && abs(period.qKVAr[k] - ac.qKVAr[k]) < 1e-2)
    }
    print("A3 ieee33bw: open \(openIDs.sorted()), relaxation \(result.lossKW) kW, AC \(ac.totalLossKW) kW, "
          + "V_min \(ac.vMinPu) at bus \(network.buses[ac.vMinBus].id), \(result.nodes) nodes, "
          + "\(result.relaxations) relaxations, \(result.solveSeconds) s")

    // the base configuration (ties open) for comparison: 202.677 kW
    var tree = try #require(try? RadialTree.build(busCount: network.buses.count, lines: network.lines,
                                                  root: network.substation).get())
    let base = try Feeder(network: network, tree: tree, period: 0).powerFlow()
    #expect(abs(base.totalLossKW - 202.677) < 0.0005)
    tree = try #require(try? RadialTree.build(busCount: network.buses.count, lines: network.lines.enumerated().map {
        var l = $1; l.closed = period.closed[$0]; return l
    }, root: network.substation).get())
    #expect(tree.order.count == network.buses.count)
}

@Test func a3LimitsReturnTheIncumbentWithItsGap() throws {
    let network = try loadFeeder("ieee33bw").network
    var options = ReconfigurationOptions()
    options.allLinesSwitchable = true
    options.search.maxNodes = 1
    let limited = try network.reconfigure(options: options)
    #expect(limited.status == .nodeLimit)
    #expect(limited.hasIncumbent)                       // the spanning-tree heuristic at the root
    let graph = try SwitchingGraph(network: network, allLinesSwitchable: true)
    #expect(graph.isRadial(closed: try #require(limited.periods.first).closed))
    #expect(limited.bestBoundKW <= limited.lossKW && limited.gapKW >= 0)
    #expect(abs(limited.gapKW - (limited.lossKW - limited.bestBoundKW)) < 1e-9)
    #expect(limited.bestBoundKW <= 139.551)             // a valid bound on the known optimum

    // a wall-clock limit likewise answers the root's incumbent with its gap
    options.search.maxNodes = 10_000
    options.search.timeLimitSeconds = 0.3
    let timed = try network.reconfigure(options: options)
    #expect(timed.status == .timeLimit || timed.status == .optimal)
    #expect(timed.hasIncumbent && timed.bestBoundKW <= 139.551 && timed.gapKW >= 0)
    #expect(timed.status == .optimal || timed.message.contains("time limit"))
}

@Test func a5GraphRulesOnIEEE33() throws {
    let network = try loadFeeder("ieee33bw").network
    let graph = try SwitchingGraph(network: network, allLinesSwitchable: true)
    func ids(_ lines: [Int]) -> Set<Int> { Set(lines.compactMap { Int(network.lines[$0].id) }) }
    #expect(graph.bridges.map { network.lines[$0].id } == ["1"])
    let expectedLoops: [Int: Set<Int>] = [
        33: Set(2...7).union(18...20).union([33]),
        34: Set(9...14).union([34]),
        35: Set(2...11).union(18...21).union([35]),
        36: Set(6...17).union(25...32).union([36]),
        37: Set(3...5).union(22...28).union([37]),
    ]
    #expect(graph.loops.count == 5)
    for loop in graph.loops {
        let tie = try #require(Int(network.lines[loop[0]].id))
        #expect(ids(loop) == expectedLoops[tie])
        #expect(loop.count == expectedLoops[tie]?.count)
    }
    #expect([10, 7, 15, 21, 11] == [33, 34, 35, 36, 37].map { expectedLoops[$0]?.count ?? 0 })
    let expectedSegments: [Set<Int>] = [[1], [2], [3, 4, 5], [6, 7], [8], [9, 10, 11], [12, 13, 14],
                                        [15, 16, 17, 29, 30, 31, 32, 36], [18, 19, 20], [21, 35],
                                        [22, 23, 24, 37], [25, 26, 27, 28], [33], [34]]
    #expect(Set(graph.segments.map(ids)) == Set(expectedSegments))
    #expect(graph.segments.count == 14)
    #expect(graph.switchable.filter { $0 }.count == 36)

    // Radial configurations satisfy the rules; the rules alone do not make a configuration
    // radial: open {33, 34, 35, 36, 37} is radial, open {7, 9, 14, 32, 37} too, but opening
    // {2, 3, 6, 8, 12} (one line per loop-free segment choice) cuts bus 3 off.
    var closed = network.lines.map(\.closed)
    #expect(graph.isRadial(closed: closed))
    for id in ["7", "9", "14", "32", "37"] { closed[network.lines.firstIndex { $0.id == id }!] = false }
    for id in ["33", "34", "35", "36"] { closed[network.lines.firstIndex { $0.id == id }!] = true }
    #expect(graph.isRadial(closed: closed))
    // spanning tree from weights reproduces a given radial configuration
    let rebuilt = try #require(graph.spanningTree(weights: closed.map { $0 ? 1 : 0 }))
    #expect(rebuilt == closed)
}

@Test func switchingGraphRejectsImpossibleNetworks() throws {
    var network = threeBusLoop(load1: [0.5], load2: [0.3])
    for k in network.lines.indices { network.lines[k].switchable = false }
    #expect(throws: SwitchingGraph.Problem.fixedLoop(line: 2)) { try SwitchingGraph(network: network) }
    network.lines[1].closed = false
    network.lines[2].closed = false
    #expect(throws: SwitchingGraph.Problem.unreachable(bus: 2)) { try SwitchingGraph(network: network) }
    var bad = network
    bad.substation = 7
    #expect(throws: SwitchingGraph.Problem.doesNotMatch) { try SwitchingGraph(network: bad) }
    // a graph of another network is refused, not trapped on
    let other = try SwitchingGraph(network: threeBusLoop(load1: [0.5], load2: [0.3]))
    let ieee = try loadFeeder("ieee33bw").network
    var builder = ConicBuilder()
    #expect(throws: SwitchingGraph.Problem.doesNotMatch) {
        try ieee.addSwitchableBranchFlow(to: &builder, graph: other, periods: 1, injections: [], flowBoundKVA: 1000)
    }
}

/// Timing of the Swift entry point (spanning-tree heuristic included), skipped unless ESM_BENCH
/// is set:  ESM_BENCH=1 swift test -c release --filter reconfigurationBenchmark
/// (bench/reconfiguration.py times the same MISOCP through the C API's `conic` mechanism, without
/// the heuristic, against CVXPY + SCIP).
@Test(.enabled(if: ProcessInfo.processInfo.environment["ESM_BENCH"] != nil))
func reconfigurationBenchmark() throws {
    let network = try loadFeeder("ieee33bw").network
    var options = ReconfigurationOptions()
    options.allLinesSwitchable = true
    var times: [Double] = []
    var last: ReconfigurationResult?
    for _ in 0..<3 {
        let r = try network.reconfigure(options: options)
        times.append(r.solveSeconds)
        last = r
    }
    let r = try #require(last)
    let open = r.periods.first.map { $0.openLines.map { network.lines[$0].id } } ?? []
    print("reconfiguration ieee33bw (Swift API): \(r.status.rawValue), \(r.lossKW) kW, open \(open), gap \(r.gapKW) kW, "
          + "\(r.nodes) nodes, \(r.relaxations) relaxations, search \(times.min() ?? 0) s (best of 3)")

    // Multi-period: four periods of scaled loads (0.5, 0.8, 1.0, 1.3 × nominal) with a budget of
    // six switch operations, one minute at most: what the horizon costs the search.
    var horizon = network
    for b in horizon.buses.indices {
        horizon.buses[b].pLoadKW = [0.5, 0.8, 1.0, 1.3].map { $0 * network.buses[b].pLoadKW[0] }
        horizon.buses[b].qLoadKVAr = [0.5, 0.8, 1.0, 1.3].map { $0 * network.buses[b].qLoadKVAr[0] }
    }
    var multi = options
    multi.formulation.switchingBudget = 6
    multi.search.timeLimitSeconds = 60
    let m = try horizon.reconfigure(options: multi)
    print("reconfiguration ieee33bw, 4 periods, budget 6 (Swift API): \(m.status.rawValue), \(m.lossKW) kW, "
          + "bound \(m.bestBoundKW) kW, gap \(m.gapKW) kW, \(m.switchOperations) operations, \(m.nodes) nodes, "
          + "\(m.relaxations) relaxations, \(m.solveSeconds) s; open per period "
          + "\(m.periods.map { $0.openLines.map { network.lines[$0].id } })")

    // ESM_BENCH_DUMP=dir: the identical MISOCP as a `conic` problem, with the Swift figures, for
    // bench/reconfiguration.py --swift-problem (CVXPY + SCIP and the C API on the same data).
    if let dir = ProcessInfo.processInfo.environment["ESM_BENCH_DUMP"] {
        let (model, built, _, _) = try network.reconfigurationProblem(options: options)
        let problem = built.problem
        let cones: [[String: Any]] = problem.cones.map {
            switch $0 {
            case .zero(let k): return ["type": "zero", "dim": k]
            case .nonnegative(let k): return ["type": "nonneg", "dim": k]
            case .secondOrder(let k): return ["type": "soc", "dim": k]
            }
        }
        let alpha = model.alpha[0].enumerated().filter { $0.1 >= 0 }.map { ["line": network.lines[$0.0].id, "variable": $0.1] as [String: Any] }
        let document: [String: Any] = [
            "conic": ["P": NSNull(), "q": problem.q, "b": problem.b, "cones": cones, "integers": problem.integers,
                      "A": ["m": problem.A.m, "n": problem.A.n, "colptr": problem.A.colptr,
                            "rowval": problem.A.rowval, "nzval": problem.A.nzval]],
            "alpha": alpha,
            "swift": ["status": r.status.rawValue, "lossKW": r.lossKW, "bestBoundKW": r.bestBoundKW, "nodes": r.nodes,
                      "relaxations": r.relaxations, "seconds": times.min() ?? 0, "open": open],
        ]
        let data = try JSONSerialization.data(withJSONObject: document)
        try data.write(to: URL(fileURLWithPath: dir).appendingPathComponent("reconfiguration_ieee33bw.json"))
    }
}
