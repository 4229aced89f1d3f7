import ESMGrid
import ESMSolver

/// The paper's semi-decentralized preconditioned proximal-point algorithm (spec §4.3, primal
/// steps before dual steps as in the authors' code), in the scaled units of `P2PUnits`:
///
/// 1. every prosumer solves its own problem (`PlayerProblem`) at the last prices, with the others'
///    imports of the last iterate in its grid price, plus ½‖ξ − u_i(k)‖²_{W_i};
/// 2. reciprocity prices: μ ← μ + β_tr (2ζ_tr(k+1) − ζ_tr(k)), ζ_tr = p_ab + p_ba;
/// 3. the operator projects its network variables: argmin over its set of ⟨ψ(π), w⟩ + ½‖w − w(k)‖²_{W_D}
///    (the bus prices π price its flows), one QP whose only changing part is the linear term;
/// 4. bus prices π ← π + β_pb (2ζ_pb(k+1) − ζ_pb(k)) with ζ_pb the bus imbalance (withdrawals
///    minus what the operator's flows deliver), and the draw-bound prices
///    λ ← max(0, λ + γ (residual of the reflected draw)).
///
/// Step sizes: the preconditioner [[W, −Gᵀ], [−G, B⁻¹]] (G the shared constraints' matrix) must be
/// positive definite for convergence (Belgioioso and Grammatico's theorem, which the paper
/// applies); we make it strictly diagonally dominant: every weight and inverse step is (1 + ε)
/// times the absolute row or column sum of G it faces, plus (N − 1)·d on the imports, whose grid
/// price each prosumer evaluates at the others' last imports (the paper's α < 1/(3 + N·d) in
/// these units). The scaling makes the cost curvatures O(1) against these weights (spec §4.10).
///
/// Stops when the reciprocity, bus-balance, grid-consistency and draw residuals (kW) and the largest change of a
/// decision between iterations are all ≤ 100 × `options.tolerance` × (1 + the largest load); a
/// cap of `maxIterations` (default 20,000) ends with `iteration_limit`.
struct GameProximalPoint {
    let setup: GameSetup
    static let margin = 0.05

    init(_ setup: GameSetup) { self.setup = setup }

    /// The operator's problem: its network in every period without the active balances (those
    /// are the shared rows it is priced on), a proximal weight on every variable.
    struct OperatorProblem {
        var solver: ConicSolver
        var baseQ: [Double]
        var weight: [Double]
        /// Per period: P per bus (flow into the bus from its parent; the root's is the import).
        var p: [[Int]]
        var networks: [GameNetwork]
        var built: ConicModel
    }

    func operatorProblem() throws -> OperatorProblem {
        var builder = ConicBuilder()
        var p: [[Int]] = []
        var networks: [GameNetwork] = []
        for t in 0..<setup.periods {
            let feeder = setup.feeders[t]
            var options = BranchFlowOptions()
            options.namePrefix = "t\(t)."
            options.activeBalance = false
            switch setup.model {
            case .linearAngle:
                let model = feeder.addLinearAngleFlow(to: &builder, injections: BusInjections(), angleMaxRad: setup.angleMaxRad,
                                                      options: options)
                p.append(model.p)
                networks.append(GameNetwork(angle: model))
            case .lindistflow, .socp:
                let model = feeder.addModel(.lindistflow, to: &builder, injections: BusInjections(), options: options)
                p.append(model.p)
                networks.append(GameNetwork(branch: model))
            }
        }
        var weight = [Double](repeating: 1, count: builder.variableCount)
        for (t, flows) in p.enumerated() {
            let feeder = setup.feeders[t]
            for bus in 0..<feeder.busCount {
                // P_j sits in the balance of j and of its parent; the import only in the root's.
                weight[flows[bus]] = (1 + Self.margin) * (feeder.parent[bus] >= 0 ? 2 : 1)
            }
        }
        for v in weight.indices { builder.addQuadraticCost(v, weight[v]) }
        let built = try builder.build()
        var settings = SocialOptimum.settings(tolerance: 1e-11)
        settings.maxIterations = 100
        let solver = try ConicSolver(problem: built.problem, settings: settings)
        return OperatorProblem(solver: solver, baseQ: built.problem.q, weight: weight, p: p, networks: networks, built: built)
    }

    func solve(control: SolveControl) throws -> (outcome: GameOutcome?, status: ConicStatus, message: String) {
        let started = monotonicSeconds()
        let periods = setup.periods
        let people = setup.problem.prosumers
        let m = people.count
        let units = setup.units
        let graph = setup.graph
        let network = setup.network
        let n = network.buses.count
        let options = setup.problem.options

        // Weights: the shared rows each decision enters (bus balance for flex and storage, one
        // reciprocity row per trade, the two draw bounds for imports when given).
        let drawRows = Double((setup.grid.importMinKW != nil ? 1 : 0) + (setup.grid.importMaxKW != nil ? 1 : 0))
        var maxSlope = 0.0
        for t in 0..<periods { maxSlope = max(maxSlope, units.quadratic(setup.slope[t])) }
        let coupling = setup.nash ? Double(max(m - 1, 0)) * maxSlope : Double(m) * maxSlope
        var weights = PlayerProblem.Weights()
        weights.flex = 1 + Self.margin
        weights.storage = 1 + Self.margin
        weights.trade = 1 + Self.margin
        weights.grid = (1 + Self.margin) * (drawRows + coupling) + Self.margin
        let players = try parallelMap(m, threads: options.threads) { i in try? PlayerProblem(setup, prosumer: i, weights: weights) }
            .enumerated().map { (i, player) -> PlayerProblem in
                guard let player else { throw InputError(.internalError, path: nil, "prosumer \(people[i].id)'s problem could not be set up") }
                return player
            }
        var solvers: [ConicSolver] = []
        for player in players {
            var settings = SocialOptimum.settings(tolerance: 1e-11)
            settings.maxIterations = 100
            solvers.append(try ConicSolver(problem: player.built.problem, settings: settings))
        }
        let operatorProblem = try operatorProblem()

        // Step sizes of the dual updates.
        let betaTrade = 1 / ((1 + Self.margin) * 2)
        var betaBus = [Double](repeating: 0, count: n)
        var entries = [Double](repeating: 0, count: n)
        for who in people {
            guard let bus = who.bus else { continue }
            if who.flex != nil { entries[bus] += 1 }
            if who.storage != nil { entries[bus] += 2 }
        }
        let feeder0 = setup.feeders[0]
        for bus in 0..<n {
            let flows = 1 + Double(feeder0.children(of: bus).count)
            betaBus[bus] = 1 / ((1 + Self.margin) * (entries[bus] + flows))
        }
        let gammaDraw = 1 / ((1 + Self.margin) * Double(max(m, 1)))

        // State (per unit).
        var x = players.map { [Double](repeating: 0, count: $0.baseQ.count) }
        var w = [Double](repeating: 0, count: operatorProblem.baseQ.count)
        var operatorDuals = [Double](repeating: 0, count: operatorProblem.built.problem.b.count)
        var mu = [Double](repeating: 0, count: graph.edges.count * periods)
        var pi = [Double](repeating: 0, count: n * periods)
        var lambdaLow = [Double](repeating: 0, count: periods), lambdaUp = lambdaLow
        var zetaTrade = mu, zetaBus = pi
        var drawLowResidual = lambdaLow, drawUpResidual = lambdaLow
        var sigma = [Double](repeating: 0, count: periods)

        var largestLoad = 0.0
        for who in people { for t in 0..<periods { largestLoad = max(largestLoad, who.loadKW[t], who.pvKW[t]) } }
        for t in 0..<periods { largestLoad = max(largestLoad, abs(setup.passiveKW[t])) }
        let threshold = max(100 * options.tolerance, 1e-12) * (1 + largestLoad)
        let maxIterations = options.maxIterations ?? 20_000

        var status = ConicStatus.iterationLimit
        var message = "the proximal-point iteration did not converge within \(maxIterations) iterations"
        var iterations = 0
        var residualKW = Double.infinity, changeKW = Double.infinity
        var innerFailures = 0

        for k in 1...max(maxIterations, 1) {
            iterations = k
            if control.pastDeadline { status = .timeLimit; message = "time limit reached after \(k - 1) iterations"; break }
            // 1. Prosumers' proximal best responses (in parallel when asked).
            let muNow = mu, piNow = pi, sigmaNow = sigma
            let drawPrice = (0..<periods).map { units.pricePerKWh(lambdaUp[$0] - lambdaLow[$0]) }
            let previous = x
            let solved: [[Double]?] = parallelMap(m, threads: options.threads) { i in
                let player = players[i]
                var signals = PlayerProblem.Signals(tradePrice: [], busPrice: [], drawPrice: drawPrice, sigmaKW: [])
                signals.tradePrice = graph.ends[i].map { end in (0..<periods).map { units.pricePerKWh(muNow[end.edge * periods + $0]) } }
                let bus = people[i].bus ?? 0
                signals.busPrice = (0..<periods).map { units.pricePerKWh(piNow[bus * periods + $0]) }
                signals.sigmaKW = (0..<periods).map { t in
                    let own = player.block.gridImport[t]
                    let mine = own >= 0 && own < previous[i].count ? previous[i][own] : 0
                    return units.kW(setup.nash ? sigmaNow[t] - mine : sigmaNow[t])
                }
                let q = player.linearCost(signals, center: previous[i])
                guard (try? solvers[i].update(q: q)) != nil else { return nil }
                let solution = solvers[i].solve()
                return solution.status.hasSolution ? solution.x : nil
            }
            for i in 0..<m {
                if let xi = solved[i] { x[i] = xi } else { innerFailures += 1 }
            }
            // Aggregates and reciprocity.
            var change = 0.0
            for i in 0..<m {
                for v in x[i].indices where players[i].weight[v] != 0 {
                    change = max(change, abs(x[i][v] - previous[i][v]))
                }
            }
            var newSigma = [Double](repeating: 0, count: periods)
            for i in 0..<m { for t in 0..<periods { newSigma[t] += x[i][players[i].block.gridImport[t]] } }
            var worst = 0.0
            for (e, edge) in graph.edges.enumerated() {
                let slot = graph.slots[e]
                for t in 0..<periods {
                    let z = x[edge.a][players[edge.a].block.trade[slot.a][t]] + x[edge.b][players[edge.b].block.trade[slot.b][t]]
                    let j = e * periods + t
                    mu[j] += betaTrade * (2 * z - zetaTrade[j])
                    zetaTrade[j] = z
                    worst = max(worst, abs(z))
                }
            }
            // 3. The operator's projected step at the last bus prices.
            var q = operatorProblem.baseQ
            for (t, flows) in operatorProblem.p.enumerated() {
                let feeder = setup.feeders[t]
                for bus in 0..<feeder.busCount {
                    // ζ_y = withdrawal + load − P_y + Σ_children P_k: ∂ζ_y/∂P_y = −1, ∂ζ_parent/∂P_y = +1.
                    var psi = -piNow[bus * periods + t]
                    let parent = feeder.parent[bus]
                    if parent >= 0 { psi += piNow[parent * periods + t] }
                    q[flows[bus]] += psi
                }
            }
            for v in q.indices { q[v] -= operatorProblem.weight[v] * w[v] }
            try operatorProblem.solver.update(q: q)
            let operatorSolution = operatorProblem.solver.solve()
            if operatorSolution.status.hasSolution {
                w = operatorSolution.x
                operatorDuals = operatorSolution.y
            } else {
                innerFailures += 1
            }
            // 4. Bus prices and draw-bound prices.
            for t in 0..<periods {
                let feeder = setup.feeders[t]
                var imbalance = feeder.pLoad
                for (i, who) in people.enumerated() {
                    guard let bus = who.bus else { continue }
                    imbalance[bus] += units.pu(players[i].withdrawalKW(x[i], period: t))
                }
                let flows = operatorProblem.p[t]
                for bus in 0..<feeder.busCount {
                    imbalance[bus] -= w[flows[bus]]
                    for child in feeder.children(of: bus) { imbalance[bus] += w[flows[child]] }
                }
                for bus in 0..<feeder.busCount {
                    let j = bus * periods + t
                    pi[j] += betaBus[bus] * (2 * imbalance[bus] - zetaBus[j])
                    zetaBus[j] = imbalance[bus]
                    worst = max(worst, abs(imbalance[bus]))
                }
                let b = units.pu(setup.passiveKW[t])
                // Grid consistency: what the prosumers buy (less what they sell) plus the passive
                // load against what the substation delivers. Implied by the other rows once they
                // hold exactly, it collects the bus and reciprocity residuals of the whole feeder,
                // so it is driven down too.
                var bought = newSigma[t] + b
                for i in 0..<m where players[i].block.gridExport[t] >= 0 { bought -= x[i][players[i].block.gridExport[t]] }
                worst = max(worst, abs(bought - w[flows[feeder.root]]))
                let reflected = 2 * newSigma[t] - sigma[t] + b
                if let low = setup.grid.importMinKW {
                    lambdaLow[t] = max(0, lambdaLow[t] + gammaDraw * (units.pu(low[t]) - reflected))
                    drawLowResidual[t] = max(0, units.pu(low[t]) - newSigma[t] - b)
                    worst = max(worst, drawLowResidual[t])
                }
                if let high = setup.grid.importMaxKW {
                    lambdaUp[t] = max(0, lambdaUp[t] + gammaDraw * (reflected - units.pu(high[t])))
                    drawUpResidual[t] = max(0, newSigma[t] + b - units.pu(high[t]))
                    worst = max(worst, drawUpResidual[t])
                }
            }
            sigma = newSigma
            residualKW = units.kW(worst)
            changeKW = units.kW(change)
            let report = k % 100 == 0 || options.log == .iterations
            if report && control.report(#"{"event":"iteration","mechanism":"p2p_gne","algorithm":"proximal_point","iteration":\#(k),"residualKW":\#(GameResult.finite(residualKW)),"changeKW":\#(GameResult.finite(changeKW))}"#) {
                status = .interrupted
                message = "interrupted by the progress observer after \(k) iterations"
                break
            }
            if residualKW <= threshold && changeKW <= threshold {
                status = .solved
                message = ""
                break
            }
        }
        if innerFailures > 0 && status == .solved {
            status = .solvedInaccurate
            message = "\(innerFailures) local solves did not finish; their previous decisions were kept"
        }
        guard status != .interrupted else { return (nil, status, message) }
        var outcome = assemble(players: players, x: x, w: w, operator: operatorProblem, operatorDuals: operatorDuals, mu: mu, pi: pi,
                               lambdaLow: lambdaLow, lambdaUp: lambdaUp, sigma: sigma)
        outcome.iterations = iterations
        outcome.solveSeconds = monotonicSeconds() - started
        outcome.primalResidual = residualKW
        outcome.dualResidual = changeKW
        return (outcome, status, message)
    }

    /// The iterate as an outcome in the caller's units.
    /// At a fixed point the operator's proximal term vanishes, so the duals of its last projection
    /// are the multipliers of its own limits: the rating prices.
    func assemble(players: [PlayerProblem], x: [[Double]], w: [Double], operator op: OperatorProblem,
                  operatorDuals: [Double], mu: [Double], pi: [Double],
                  lambdaLow: [Double], lambdaUp: [Double], sigma: [Double]) -> GameOutcome {
        let periods = setup.periods
        let units = setup.units
        var o = GameOutcome.decisions(setup, blocks: players.map(\.block)) { x[$0] }
        o.tradePrice = mu.map { units.pricePerKWh($0) }
        o.busPrice = pi.map { units.pricePerKWh($0) }
        let n = setup.network.buses.count, lines = setup.network.lines.count
        o.vPu = [Double](repeating: 0, count: n * periods)
        o.angleDeg = o.vPu
        o.linePKW = [Double](repeating: 0, count: lines * periods)
        o.lineQKVAr = o.linePKW
        o.lineRatingPrice = o.linePKW
        for (t, network) in op.networks.enumerated() {
            let state = network.state(x: w)
            let rating = network.ratingPrices(y: operatorDuals, model: op.built)
            for bus in 0..<n {
                o.vPu[bus * periods + t] = state.vPu[bus]
                o.angleDeg[bus * periods + t] = state.angleDeg[bus]
            }
            for k in 0..<lines {
                o.linePKW[k * periods + t] = state.pKW[k]
                o.lineQKVAr[k * periods + t] = state.qKVAr[k]
                o.lineRatingPrice[k * periods + t] = units.pricePerKWh(rating[k] * units.baseKVA)
            }
        }
        o.sigmaKW = sigma.map { units.kW($0) }
        o.drawLowerPrice = lambdaLow.map { units.pricePerKWh($0) }
        o.drawUpperPrice = lambdaUp.map { units.pricePerKWh($0) }
        o.potential = GameReport.potential(setup, o)
        return o
    }
}

extension PlayerProblem {
    /// Physical withdrawal η_t (kW) at the player's decision `x` (per unit).
    func withdrawalKW(_ x: [Double], period t: Int) -> Double {
        let units = setup.units
        let who = setup.problem.prosumers[i]
        func value(_ v: Int) -> Double { v >= 0 && v < x.count ? x[v] : 0 }
        var kW = who.loadKW[t] - who.pvKW[t] - block.fixedFlexKW[t] - units.kW(value(block.flex[t]))
        if let s = block.storage { kW += units.kW(value(s.charge[t]) - value(s.discharge[t])) }
        return kW
    }
}
