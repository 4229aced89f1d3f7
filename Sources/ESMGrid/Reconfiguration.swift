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
    /// Over several periods, first solve each period on its own: the sum of their proven bounds
    /// bounds the horizon (dropping the switching constraints only relaxes it), and when their
    /// optimal topologies meet the switching limits they are the horizon's optimum. Otherwise the
    /// joint search runs, seeded with them and reporting the better of the two bounds.
    public var decomposeByPeriod = true

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
        // Elapsed time is the searches' own (building the models is small against them).
        var elapsed = 0.0
        let longest = buses.map { max($0.pLoadKW.count, $0.qLoadKVAr.count) }.max() ?? 1
        let T = max(options.periods ?? max(longest, injectionKW.count, injectionKVAr.count), 1)
        guard T > 1, options.decomposeByPeriod else {
            return try reconfigureJointly(injectionKW: injectionKW, injectionKVAr: injectionKVAr, options: options,
                                          seeds: [], onProgress: onProgress)
        }
        func row(_ series: [[Double]], _ t: Int) -> [[Double]] { series.isEmpty ? [] : [series[min(t, series.count - 1)]] }
        func at(_ series: [Double], _ t: Int) -> [Double] { series.isEmpty ? [] : [series[min(t, series.count - 1)]] }
        var single = options
        single.periods = 1
        single.formulation.switchingBudget = nil
        single.formulation.perSwitchLimit = nil
        var parts: [ReconfigurationResult] = []
        var nodes = 0, relaxations = 0, heuristicIncumbents = 0
        for t in 0..<T {
            var slice = self
            for b in slice.buses.indices {
                slice.buses[b].pLoadKW = at(buses[b].pLoadKW, t)
                slice.buses[b].qLoadKVAr = at(buses[b].qLoadKVAr, t)
            }
            single.search.timeLimitSeconds = options.search.timeLimitSeconds - elapsed
            let part = try slice.reconfigureJointly(injectionKW: row(injectionKW, t), injectionKVAr: row(injectionKVAr, t),
                                                    options: single, seeds: [], onProgress: onProgress)
            elapsed += part.solveSeconds
            nodes += part.nodes; relaxations += part.relaxations; heuristicIncumbents += part.heuristicIncumbents
            if part.status == .infeasible {
                var r = part
                r.message = "period \(t): no radial topology meets the limits"
                r.nodes = nodes; r.relaxations = relaxations; r.solveSeconds = elapsed
                return r
            }
            parts.append(part)
        }
        let decomposed = parts.allSatisfy { $0.status == .optimal && $0.periods.count == 1 }
        let closed = parts.compactMap { $0.periods.first?.closed }
        let bound = parts.reduce(0.0) { $0 + $1.bestBoundKW }
        if decomposed, closed.count == T, withinSwitchingLimits(closed, options: options.formulation) {
            let loss = parts.reduce(0.0) { $0 + $1.lossKW }
            let operations = (1..<T).reduce(0) { acc, t in acc + zip(closed[t], closed[t - 1]).filter { $0 != $1 }.count }
            return ReconfigurationResult(status: .optimal, hasIncumbent: true, periods: parts.compactMap(\.periods.first),
                                         lossKW: loss, bestBoundKW: min(bound, loss), gapKW: max(0, loss - bound),
                                         switchOperations: operations, nodes: nodes, relaxations: relaxations,
                                         heuristicIncumbents: heuristicIncumbents, solveSeconds: elapsed,
                                         message: "periods solved separately; their topologies meet the switching limits")
        }
        // Coupled: seed the joint search with each period's topology held over the horizon.
        var joint = options
        joint.search.timeLimitSeconds = options.search.timeLimitSeconds - elapsed
        let seeds = closed.map { [[Bool]](repeating: $0, count: T) }
        var r = try reconfigureJointly(injectionKW: injectionKW, injectionKVAr: injectionKVAr, options: joint,
                                       seeds: seeds, onProgress: onProgress)
        if decomposed && r.hasIncumbent && bound > r.bestBoundKW {
            r.bestBoundKW = min(bound, r.lossKW)
            r.gapKW = max(0, r.lossKW - r.bestBoundKW)
            let tol = max(options.search.absoluteGap, options.search.relativeGap * max(1, abs(r.lossKW)))
            if r.gapKW <= tol && (r.status == .nodeLimit || r.status == .timeLimit) { r.status = .optimal }
        }
        r.nodes += nodes; r.relaxations += relaxations; r.heuristicIncumbents += heuristicIncumbents
        r.solveSeconds += elapsed
        return r
    }

    /// The switching constraints of `options` hold for this sequence of topologies.
    func withinSwitchingLimits(_ closed: [[Bool]], options: SwitchableBranchFlowOptions) -> Bool {
        var perLine = [Int](repeating: 0, count: lines.count)
        for t in closed.indices {
            let previous = t > 0 ? closed[t - 1] : (options.countFromInitialStatus ? lines.map(\.closed) : closed[t])
            for k in lines.indices where closed[t][k] != previous[k] { perLine[k] += 1 }
        }
        if let budget = options.switchingBudget, perLine.reduce(0, +) > budget { return false }
        if let limit = options.perSwitchLimit, perLine.contains(where: { $0 > limit }) { return false }
        return true
    }

    /// The joint MISOCP over all periods, by branch-and-bound; `seeds` are whole topologies
    /// (per period, per line) offered to the search as incumbents at the root.
    func reconfigureJointly(injectionKW: [[Double]], injectionKVAr: [[Double]], options: ReconfigurationOptions,
                            seeds: [[[Bool]]], onProgress: ((BranchAndBoundProgress) -> Bool)?) throws -> ReconfigurationResult {
        let (model, built, kW, kVAr) = try reconfigurationProblem(injectionKW: injectionKW, injectionKVAr: injectionKVAr,
                                                                  options: options)
        let T = model.periods
        let seeded = seeds.filter { $0.count == T }.map { model.assignment(closed: $0) }
        let heuristic = IncumbentHeuristic { x in seeded + model.radialAssignments(relaxation: x) }
        var settings = options.search
        settings.timeLimitSeconds = max(settings.timeLimitSeconds, 0)
        let search = solveMixedInteger(built.problem, settings: settings, heuristic: heuristic,
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
                total += abs(p) + abs(q) + bus.shuntKVA
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
    public func verify(model: SwitchableBranchFlowModel, closed: [Bool], period t: Int, x: [Double],
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
