import ESMGrid
import ESMSolver

/// The centralized route of p2p_gne: the game is a potential game (spec §3.9), so its variational
/// equilibrium is the minimizer of one convex QP (with the line-rating cones):
///
///     Φ = Σ_i own costs_i + Σ_t d_t Δt [ ½ σ_t² + b_t σ_t + ½ Σ_i g_i,t² ]      (Nash)
///
/// (Wardrop: without the last term) over every prosumer's local set, the reciprocity of trades,
/// the draw bounds p̲ ≤ σ_t + b_t ≤ p̄ and the operator's network. The multipliers of the shared
/// rows are the equilibrium's common prices. The paper's grid-consistency row (σ + b equals the
/// substation's delivery) is implied by the local balances, reciprocity and the bus balances, so
/// it is left out: with it the multipliers would not be unique.
struct GamePotential {
    let setup: GameSetup
    var builder = ConicBuilder()
    var blocks: [P2PProsumerBlock] = []
    var trades: BilateralTrades?
    var sigma: [Int] = []
    var drawBounds: ConstraintGroup?
    var drawRows: [(lower: Int, upper: Int)] = []
    var networks: [GameNetwork] = []
    /// Period of every variable: the solver eliminates period by period (see
    /// `ConicProblem.variableStages`), so that storage, the only link between periods, does not
    /// merge every period's trading clique into one dense block.
    var stages: [Int] = []

    init(_ setup: GameSetup) {
        self.setup = setup
        let people = setup.problem.prosumers
        let units = setup.units
        let periods = setup.periods
        let groups = P2PProsumerModel.Groups(in: &builder)
        blocks = people.indices.map { setup.prosumerModel.add($0, people[$0], to: &builder, groups: groups) }
        trades = BilateralTrades(graph: setup.graph, blocks: blocks, periods: periods, to: &builder)

        let aggregate = builder.addGroup("total import", .zero)
        let bounds = builder.addGroup("draw bounds", .nonnegative)
        sigma = Array(builder.addVariables("σ", count: periods).range)
        for t in 0..<periods {
            var e = LinearExpression([LinearTerm(sigma[t], 1)])
            for block in blocks { e.add(block.gridImport[t], -1) }
            builder.addRow(aggregate, e)
            let d = setup.slope[t]
            if d != 0 {
                builder.addQuadraticCost(sigma[t], units.quadratic(d))
                builder.addLinearCost(sigma[t], units.linear(d * setup.passiveKW[t]))
                if setup.nash { for block in blocks { builder.addQuadraticCost(block.gridImport[t], units.quadratic(d)) } }
            }
            let b = setup.passiveKW[t]
            let lower = setup.grid.importMinKW.map { builder.addGreaterEqual(bounds, .variable(sigma[t]), units.pu($0[t] - b)) } ?? -1
            let upper = setup.grid.importMaxKW.map { builder.addLessEqual(bounds, .variable(sigma[t]), units.pu($0[t] - b)) } ?? -1
            drawRows.append((lower, upper))
        }
        drawBounds = bounds
        var stage = [Int](repeating: 0, count: builder.variableCount)
        func mark(_ v: Int, _ t: Int) { if v >= 0 && v < stage.count { stage[v] = t } }
        for block in blocks {
            for t in 0..<periods {
                mark(block.flex[t], t)
                mark(block.gridImport[t], t)
                mark(block.gridExport[t], t)
                if let s = block.storage { mark(s.charge[t], t); mark(s.discharge[t], t); mark(s.soc[t], t) }
                for (p, a) in zip(block.trade, block.tradeAbs) { mark(p[t], t); mark(a[t], t) }
            }
        }
        for t in 0..<periods { mark(sigma[t], t) }
        for t in 0..<periods {
            let withdrawals = people.indices.map { blocks[$0].withdrawalKW(people[$0], period: t, units: units) }
            let first = builder.variableCount
            networks.append(GameNetwork.add(setup, period: t, withdrawals: withdrawals, to: &builder))
            stage += [Int](repeating: t, count: builder.variableCount - first)
        }
        stages = stage
    }

    /// Solves the potential QP; nil outcome when the solver has no solution to report.
    func solve(control: SolveControl) throws -> (outcome: GameOutcome?, status: ConicStatus, message: String) {
        let built = try builder.build()
        var problem = built.problem
        if setup.periods > 1 { problem.variableStages = stages }
        let solution = SocialOptimum.solve(problem, options: setup.problem.options, control: control, mechanism: .p2pGNE)
        guard solution.status.hasSolution else { return (nil, solution.status, solution.message) }
        return (outcome(built: built, solution: solution), solution.status, solution.message)
    }

    func outcome(built: ConicModel, solution: ConicSolution) -> GameOutcome {
        let x = solution.x, y = solution.y
        let units = setup.units
        let periods = setup.periods
        func kW(_ v: Int) -> Double { v >= 0 && v < x.count ? units.kW(x[v]) : 0 }
        var out = GameOutcome.decisions(setup, blocks: blocks) { _ in x }
        out.iterations = solution.iterations
        out.solveSeconds = solution.solveSeconds
        out.primalResidual = solution.primalResidual
        out.dualResidual = solution.dualResidual
        out.tradePrice = trades?.prices(y: y, model: built, units: units) ?? []
        let n = setup.network.buses.count, lines = setup.network.lines.count
        out.busPrice = [Double](repeating: 0, count: n * periods)
        out.vPu = out.busPrice
        out.angleDeg = out.busPrice
        out.linePKW = [Double](repeating: 0, count: lines * periods)
        out.lineQKVAr = out.linePKW
        out.lineRatingPrice = out.linePKW
        for (t, network) in networks.enumerated() {
            let duals = network.activeBalance.map { built.values(of: $0, in: y) } ?? []
            let state = network.state(x: x)
            let rating = network.ratingPrices(y: y, model: built)
            for bus in 0..<n {
                // The balance row is injections − withdrawals: its dual is the value of one more
                // pu injected; one more kW withdrawn costs the opposite... which the row's
                // convention already gives (raising the load constant lowers the row's rhs).
                let dual = bus < duals.count ? duals[duals.startIndex + bus] : 0
                out.busPrice[bus * periods + t] = units.pricePerKWh(dual)
                out.vPu[bus * periods + t] = state.vPu[bus]
                out.angleDeg[bus * periods + t] = state.angleDeg[bus]
            }
            for k in 0..<lines {
                out.linePKW[k * periods + t] = state.pKW[k]
                out.lineQKVAr[k * periods + t] = state.qKVAr[k]
                out.lineRatingPrice[k * periods + t] = units.pricePerKWh(rating[k] * units.baseKVA)
            }
        }
        let boundDuals = drawBounds.map { built.values(of: $0, in: y) }
        for t in 0..<periods {
            out.sigmaKW.append(kW(sigma[t]))
            var lower = 0.0, upper = 0.0
            if let duals = boundDuals {
                let (lo, up) = drawRows[t]
                if lo >= 0, lo < duals.count { lower = units.pricePerKWh(duals[duals.startIndex + lo]) }
                if up >= 0, up < duals.count { upper = units.pricePerKWh(duals[duals.startIndex + up]) }
            }
            out.drawLowerPrice.append(lower)
            out.drawUpperPrice.append(upper)
        }
        out.potential = GameReport.potential(setup, out)
        return out
    }
}
