import ESMGrid
import ESMSolver

/// Mechanism `p2p_online` (spec p2p_online.md) through `esm_clear`: the online policy run over
/// the document's periods, one slot at a time, each slot seeing only its own measurements and the
/// state the previous slots left (`OnlineSession`). Route `centralized` solves each slot's
/// drift-plus-penalty QP (`OnlineSlot`) on the interior-point solver; route `admm` runs the
/// paper's consensus ADMM per slot (`OnlineADMM`), warm-started from the previous slot.
enum P2POnline {
    static func clear(_ problem: Problem, control: SolveControl) throws -> MarketResult {
        let setup = try OnlineSetup(problem)
        var result = MarketResult(mechanism: .p2pOnline, status: .solved, algorithm: problem.algorithm)
        if control.stopsAtStart(#"{"event":"start","mechanism":"p2p_online","prosumers":\#(problem.prosumers.count),"trades":\#(setup.graph.edges.count),"periods":\#(problem.periods)}"#, &result) {
            return result
        }
        if problem.algorithm == "offline" { return try OnlineOffline.clear(problem, setup: setup, control: control) }
        let started = monotonicSeconds()
        let run = try run(setup, control: control)
        if var failure = run.failure {
            failure.solveSeconds = monotonicSeconds() - started
            return failure
        }
        let outcomes = run.outcomes
        result.iterations = run.iterations
        for outcome in outcomes where outcome.status != .solved { result.status = ResultStatus(outcome.status) }
        OnlineResult.fill(&result, setup: setup, outcomes: outcomes)
        if problem.algorithm == "admm" {
            result.quality += [("admmIterationsMax", Double(outcomes.map(\.iterations).max() ?? 0)),
                               ("admmIterationsMean", Double(outcomes.map(\.iterations).reduce(0, +)) / Double(max(1, outcomes.count))),
                               ("admmPrimalResidual", outcomes.map(\.admmPrimalResidual).max() ?? 0),
                               ("admmDualResidual", outcomes.map(\.admmDualResidual).max() ?? 0)]
        }
        if !setup.notes.isEmpty { result.message = (result.message.isEmpty ? "" : result.message + "; ") + setup.notes.joined(separator: "; ") }
        result.solveSeconds = monotonicSeconds() - started
        return result
    }

    /// The online policy over the document's periods (route `admm` when asked, else
    /// `centralized`): every slot's outcome, or the result to answer when a slot fails or the
    /// observer stops the run.
    struct Run {
        var outcomes: [SlotOutcome] = []
        var iterations = 0
        var failure: MarketResult?
    }

    static func run(_ setup: OnlineSetup, control: SolveControl) throws -> Run {
        let problem = setup.problem
        var session = OnlineSession(setup)
        var run = Run()
        let grid = problem.grid ?? GridTariff(buyPrice: [0], sellPrice: [0])
        for t in 0..<problem.periods {
            let outcome = try session.step(pvKW: problem.prosumers.map { $0.pvKW[t] },
                                           loadKW: problem.prosumers.map { $0.loadKW[t] },
                                           buyPrice: grid.buyPrice[t], sellPrice: grid.sellPrice[t], control: control)
            run.iterations += outcome.iterations
            guard outcome.status.hasSolution else {
                var result = MarketResult(mechanism: .p2pOnline, status: ResultStatus(outcome.status).forMarket, algorithm: problem.algorithm)
                result.iterations = run.iterations
                result.message = "slot \(t): " + (result.status == .infeasible
                    ? "no operating point meets every prosumer's balance, the battery, trade and network limits (\(outcome.message))"
                    : "the solver ended with \(outcome.status.rawValue): \(outcome.message)")
                result.diagnosis = [("period", "\(t)")]
                run.failure = result
                return run
            }
            run.outcomes.append(outcome)
            if control.report(#"{"event":"slot","mechanism":"p2p_online","slot":\#(t)}"#) {
                var result = MarketResult(mechanism: .p2pOnline, status: .interrupted, algorithm: problem.algorithm)
                result.iterations = run.iterations
                result.message = "interrupted by the progress observer after slot \(t)"
                run.failure = result
                return run
            }
        }
        return run
    }
}

/// The result document of p2p_online (README, "p2p_online results"): per prosumer, trade and
/// bus, one value per slot; the Lyapunov parameters per prosumer; the invariants' residuals.
public enum OnlineResult {
    public static func fill(_ result: inout MarketResult, setup: OnlineSetup, outcomes: [SlotOutcome]) {
        let periods = outcomes.count
        guard periods > 0 else { return }
        let people = setup.problem.prosumers
        /// Row-major (row × periods + t) column of a per-slot array.
        func column(_ rows: Int, _ pick: (SlotOutcome) -> [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: rows * periods)
            for (t, o) in outcomes.enumerated() {
                let values = pick(o)
                for r in 0..<min(rows, values.count) { out[r * periods + t] = values[r] }
            }
            return out
        }
        let m = people.count
        var prosumers = ResultTable(ids: people.map(\.id), periods: periods)
        prosumers.addColumn("pvUsedKW", column(m) { $0.pvUsedKW })
        prosumers.addColumn("curtailedKW", column(m) { $0.curtailedKW })
        prosumers.addColumn("flexKW", column(m) { $0.flexKW })
        prosumers.addColumn("chargeKW", column(m) { $0.chargeKW })
        prosumers.addColumn("dischargeKW", column(m) { $0.dischargeKW })
        prosumers.addColumn("socKWh", column(m) { $0.socKWh })
        prosumers.addColumn("queueKWh", column(m) { $0.queueKWh })
        prosumers.addColumn("gridBuyKW", column(m) { $0.importKW })
        prosumers.addColumn("gridSellKW", column(m) { $0.exportKW })
        prosumers.addColumn("cost", column(m) { $0.cost })
        prosumers.addColumn("tradePayment", column(m) { $0.tradePayment })
        result.tables.append(("prosumers", prosumers))

        let edges = setup.graph.edges
        var trades = ResultTable(ids: edges.map { _ in "" }, periods: periods)
        trades.idKey = nil
        trades.addTextColumn("from", edges.map { people[$0.a].id })
        trades.addTextColumn("to", edges.map { people[$0.b].id })
        trades.addColumn("kW", column(edges.count) { $0.tradeKW })
        trades.addColumn("price", column(edges.count) { $0.tradePrice })
        result.tables.append(("trades", trades))

        if let network = setup.problem.network {
            let n = network.buses.count
            var buses = ResultTable(ids: network.buses.map(\.id), periods: periods)
            buses.addColumn("vPu", column(n) { $0.vPu })
            buses.addColumn("networkAdder", column(n) { $0.networkAdder })
            result.tables.append(("buses", buses))
            var lines = ResultTable(ids: network.lines.map(\.id), periods: periods)
            lines.addColumn("pKW", column(network.lines.count) { $0.linePKW })
            result.tables.append(("lines", lines))
        }

        // Per battery: the policy's parameters (V, Γ, V^max, the gap share B/V); absent: 0.
        var storage = ResultTable(ids: people.map(\.id), periods: 1)
        storage.addColumn("lyapunovV", setup.lyapunov.map { $0?.v ?? 0 })
        storage.addColumn("lyapunovVMax", setup.lyapunov.map { $0?.vMax ?? 0 })
        storage.addColumn("socShiftKWh", setup.lyapunov.map { $0?.shiftKWh ?? 0 })
        storage.addColumn("gapBound", setup.lyapunov.map { $0?.gapBound ?? 0 })
        result.tables.append(("lyapunov", storage))

        result.objective = [("totalCost", .perPeriod(outcomes.map(\.totalCost))),
                            ("driftPlusPenalty", .perPeriod(outcomes.map(\.driftPlusPenalty)))]
        result.quality = [("reciprocityResidualKW", outcomes.map(\.reciprocityResidualKW).max() ?? 0),
                          ("balanceResidualKW", outcomes.map(\.balanceResidualKW).max() ?? 0),
                          ("simultaneousChargeDischarge", Double(outcomes.map(\.simultaneousChargeDischarge).reduce(0, +))),
                          ("simultaneousChargeKW", outcomes.map(\.simultaneousChargeKW).max() ?? 0),
                          ("gapBound", setup.lyapunov.reduce(0) { $0 + ($1?.gapBound ?? 0) })]
        let unique = setup.graph.edges.allSatisfy { $0.quadraticA + $0.quadraticB > 0 }
        result.fields.append(("pricesUnique", .flag(unique)))
    }
}
