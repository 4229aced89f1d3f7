import ESMSolver

/// Loss-minimizing network reconfiguration for given injections (p2p_reconfiguration spec §3.2,
/// tests A1–A3): the switchable branch-flow MISOCP (`SwitchableBranchFlow.swift`), solved by the
/// branch-and-bound with the spanning-tree incumbent heuristic, each period's topology then
/// checked by an exact AC power flow. The market mechanism builds the same model with its own
/// injections and objective; this is the operator's problem on its own.

public struct ReconfigurationOptions: Sendable {
    /// Every candidate line gets a switch (Baran and Wu's study), not only `switchable` ones.
    public var allLinesSwitchable = false
    public var formulation = SwitchableBranchFlowOptions()
    /// Search settings; by default a relative gap of 1e-6 on the losses.
    public var search: BranchAndBoundSettings
    /// Number of periods; nil: the longest load series (at least 1).
    public var periods: Int?

    public init() {
        var s = BranchAndBoundSettings()
        s.relativeGap = 1e-6
        s.absoluteGap = 1e-9
        search = s
    }
}

/// One period of a reconfiguration.
public struct ReconfiguredPeriod: Sendable {
    /// Per line: closed in this period.
    public var closed: [Bool]
    /// Indices of the candidate lines left open.
    public var openLines: [Int]
    /// Series losses of the relaxation, kW.
    public var lossKW: Double
    /// The exact AC power flow of the chosen topology with the same injections.
    public var powerFlow: PowerFlowResult?
    /// Largest |V_relaxation − V_AC|, pu.
    public var acVoltageErrorMaxPu: Double
    /// Largest w_i l − P² − Q² over closed lines, pu² (0 when the relaxation is exact).
    public var relaxationGapMaxPu: Double
    /// Relaxation voltages per bus, pu.
    public var vPu: [Double]
    /// Per line: flow at the `from` end, kW / kVAr (0 on open lines and non-candidates).
    public var pKW: [Double]
    public var qKVAr: [Double]
}

public struct ReconfigurationResult: Sendable {
    public var status: MixedIntegerStatus
    public var hasIncumbent: Bool
    public var periods: [ReconfiguredPeriod]
    /// Objective (total relaxation losses over the periods, kW), its proven lower bound and gap.
    public var lossKW: Double
    public var bestBoundKW: Double
    public var gapKW: Double
    /// Switch operations between consecutive periods.
    public var switchOperations: Int
    public var nodes: Int
    public var relaxations: Int
    public var heuristicIncumbents: Int
    public var solveSeconds: Double
    public var message: String
}

extension Network {
    /// Chooses per period the radial topology with the least losses for the buses' loads plus
    /// `injectionKW` / `injectionKVAr` (per period, per bus, positive = into the grid; empty for
    /// none; a shorter series repeats its last period). Throws `SwitchingGraph.Problem` when no
    /// radial configuration exists at all.
    public func reconfigure(injectionKW: [[Double]] = [], injectionKVAr: [[Double]] = [],
                            options: ReconfigurationOptions = ReconfigurationOptions(),
                            onProgress: ((BranchAndBoundProgress) -> Bool)? = nil) throws -> ReconfigurationResult {
        let (model, built, kW, kVAr) = try reconfigurationProblem(injectionKW: injectionKW, injectionKVAr: injectionKVAr,
                                                                  options: options)
        let T = model.periods
        let heuristic = IncumbentHeuristic { x in model.radialAssignments(relaxation: x) }
        let search = solveMixedInteger(built.problem, settings: options.search, heuristic: heuristic,
                                       onProgress: onProgress)

        var periods: [ReconfiguredPeriod] = []
        var operations = 0
        if search.hasIncumbent {
            let x = search.x
            let closed = model.closedLines(x: x)
            for t in 0..<T {
                if t > 0 { operations += zip(closed[t], closed[t - 1]).filter { $0 != $1 }.count }
                periods.append(verify(model: model, closed: closed[t], period: t, x: x, kW: kW[t], kVAr: kVAr[t]))
            }
        }
        return ReconfigurationResult(status: search.status, hasIncumbent: search.hasIncumbent, periods: periods,
                                     lossKW: search.hasIncumbent ? search.objective : 0,
                                     bestBoundKW: search.bestBound, gapKW: search.hasIncumbent ? search.gap : 0,
                                     switchOperations: operations, nodes: search.nodes, relaxations: search.relaxations,
                                     heuristicIncumbents: search.heuristicIncumbents, solveSeconds: search.solveSeconds,
                                     message: search.message)
    }

    /// The MISOCP `reconfigure` solves (losses in kW as the objective), with the per-period
    /// injections it used; public so that benchmarks can hand the identical problem to another
    /// solver.
    public func reconfigurationProblem(injectionKW: [[Double]] = [], injectionKVAr: [[Double]] = [],
                                       options: ReconfigurationOptions = ReconfigurationOptions()) throws
        -> (model: SwitchableBranchFlowModel, built: ConicModel, kW: [[Double]], kVAr: [[Double]]) {
        let graph = try SwitchingGraph(network: self, allLinesSwitchable: options.allLinesSwitchable)
        let longest = buses.map { max($0.pLoadKW.count, $0.qLoadKVAr.count) }.max() ?? 1
        let T = max(options.periods ?? max(longest, injectionKW.count, injectionKVAr.count), 1)
        func row(_ series: [[Double]], _ t: Int) -> [Double] {
            guard !series.isEmpty else { return [] }
            return series[min(t, series.count - 1)].map { $0.isFinite ? $0 : 0 }
        }
        let kW = (0..<T).map { row(injectionKW, $0) }, kVAr = (0..<T).map { row(injectionKVAr, $0) }
        // Any line carries at most all the demand and all the injections (with margin for losses
        // and the capacitors): the big-M of unrated lines.
        var bound = 0.0
        for t in 0..<T {
            var total = 0.0
            for (i, bus) in buses.enumerated() {
                let p = bus.pLoadKW.isEmpty ? 0 : bus.pLoadKW[min(t, bus.pLoadKW.count - 1)]
                let q = bus.qLoadKVAr.isEmpty ? 0 : bus.qLoadKVAr[min(t, bus.qLoadKVAr.count - 1)]
                total += abs(p) + abs(q) + abs(bus.qCapKVAr)
                total += i < kW[t].count ? abs(kW[t][i]) : 0
                total += i < kVAr[t].count ? abs(kVAr[t][i]) : 0
            }
            bound = max(bound, Feeder.finite(total))
        }
        bound = max(1.5 * bound, 1)

        var builder = ConicBuilder()
        let injections = (0..<T).map { BusInjections.fixed(kW: kW[$0], kVAr: kVAr[$0]) }
        let model = try addSwitchableBranchFlow(to: &builder, graph: graph, periods: T, injections: injections,
                                            flowBoundKVA: bound, options: options.formulation)
        for t in 0..<T { builder.addLinearCost(model.lossKW(period: t)) }
        let built = try builder.build()
        return (model, built, kW, kVAr)
    }

    /// The relaxation's numbers of one period and the AC power flow of its topology.
    func verify(model: SwitchableBranchFlowModel, closed: [Bool], period t: Int, x: [Double],
                kW: [Double], kVAr: [Double]) -> ReconfiguredPeriod {
        func value(_ i: Int) -> Double { i >= 0 && i < x.count ? Feeder.finite(x[i]) : 0 }
        let vPu = model.w[t].map { max(value($0), 0).squareRoot() }
        var loss = 0.0, gap = 0.0
        for k in lines.indices where closed[k] {
            let lk = value(model.l[t][k]), pk = value(model.p[t][k]), qk = value(model.q[t][k])
            loss += model.r[k] * lk * model.baseKVA
            if model.l[t][k] >= 0 { gap = max(gap, abs(value(model.w[t][lines[k].from]) * lk - pk * pk - qk * qk)) }
        }
        var topology = self
        for k in topology.lines.indices { topology.lines[k].closed = closed[k] }
        var flow: PowerFlowResult?
        var error = 0.0
        if case .success(let tree) = RadialTree.build(busCount: buses.count, lines: topology.lines, root: substation),
           let feeder = try? Feeder(network: topology, tree: tree, period: t) {
            let ac = feeder.powerFlow(injectionKW: kW, injectionKVAr: kVAr)
            for bus in buses.indices { error = max(error, abs(ac.vPu[bus] - vPu[bus])) }
            flow = ac
        }
        let open = lines.indices.filter { model.graph.candidate[$0] && !closed[$0] }
        let pKW = lines.indices.map { Feeder.finite(value(model.p[t][$0]) * model.baseKVA) }
        let qKVAr = lines.indices.map { Feeder.finite(value(model.q[t][$0]) * model.baseKVA) }
        return ReconfiguredPeriod(closed: closed, openLines: open, lossKW: Feeder.finite(loss), powerFlow: flow,
                                  acVoltageErrorMaxPu: Feeder.finite(error), relaxationGapMaxPu: Feeder.finite(gap),
                                  vPu: vPu, pKW: pKW, qKVAr: qKVAr)
    }
}
