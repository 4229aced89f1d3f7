import ESMGrid
import ESMSolver

/// The consensus-ADMM route of p2p_online (spec §4.3): the slot's problem P2(t) split into the
/// prosumers' local problems (each its own block, `OnlineSlot.addBlock`, the same model as the
/// centralized route) and the consensus variables: z per trade (p_a = z, p_b = −z) and the
/// network operator's injections P̂ (projected onto the LinDistFlow limits). Everything is in the
/// per-unit scaling of `P2PUnits` (powers pu, objective units), so ρ ≈ 1 is a natural start.
/// Two-block ADMM on a convex QP: it converges for any ρ; ρ is adapted by residual balancing
/// (×/÷ 2 when one residual exceeds the other tenfold) and carried, with every consensus value
/// and dual, to the next slot as its warm start.
struct OnlineADMM {
    /// What a slot leaves for the next (and what a cold start lacks).
    struct Warm: Sendable {
        var z: [Double]
        var injection: [Double]
        /// Per prosumer, per trade end.
        var y: [[Double]]
        var u: [Double]
        var rho: Double
    }

    let setup: OnlineSetup
    let input: SlotInput

    func solve(warm: Warm?, control: SolveControl) throws -> (SlotOutcome, Warm?) {
        let units = setup.units
        let people = OnlineSlot.prosumers(setup, input)
        let model = OnlineSlot.model(setup, input, people: people)
        let graph = setup.graph
        let n = people.count
        let feeder = setup.feeder(slot: input.slot)
        let onBus = people.map { who -> Bool in
            guard let feeder, let bus = who.bus else { return false }
            return bus >= 0 && bus < feeder.busCount
        }
        var state = warm ?? Warm(z: [Double](repeating: 0, count: graph.edges.count),
                                 injection: [Double](repeating: 0, count: n),
                                 y: graph.ends.map { [Double](repeating: 0, count: $0.count) },
                                 u: [Double](repeating: 0, count: n), rho: 1)
        // Only the consensus values carry over; ρ restarts at 1 and the duals at 0. Measured on
        // correlated slots (P2POnlineTests.warmStartsSaveIterations): carrying the duals as well
        // took 290 iterations per slot against 169 cold, carrying ρ too was also worse; the
        // consensus values alone neither help nor hurt (169). Why the duals hurt is open.
        state.rho = 1
        state.y = state.y.map { $0.map { _ in 0 } }
        state.u = state.u.map { _ in 0 }
        if state.z.count != graph.edges.count || state.y.count != n || state.u.count != n {
            state = Warm(z: [Double](repeating: 0, count: graph.edges.count), injection: [Double](repeating: 0, count: n),
                         y: graph.ends.map { [Double](repeating: 0, count: $0.count) }, u: [Double](repeating: 0, count: n), rho: 1)
        }
        // Stopping in kW terms: ε_abs = 1000 · tolerance kW (1e-5 kW by default) per residual entry.
        let tolerance = setup.problem.options.tolerance
        let epsAbs = tolerance * 1000 / units.baseKVA, epsRel = max(tolerance * 100, 1e-8)
        let limit = setup.problem.options.maxIterations ?? 10_000
        var blocks: [P2PProsumerBlock] = []
        var xs: [[Double]] = []
        var p = graph.ends.map { [Double](repeating: 0, count: $0.count) }
        var injection = [Double](repeating: 0, count: n)
        var network: (vPu: [Double], pKW: [Double])?
        var out = SlotOutcome()
        var iteration = 0
        var primal = Double.infinity, dual = Double.infinity
        while true {
            iteration += 1
            // 1. Local steps (independent; each prosumer sees only its own data and the messages).
            blocks.removeAll(keepingCapacity: true)
            xs.removeAll(keepingCapacity: true)
            for i in 0..<n {
                var builder = ConicBuilder()
                let groups = P2PProsumerModel.Groups(in: &builder)
                let block = OnlineSlot.addBlock(i, setup: setup, people: people, model: model, groups: groups, to: &builder)
                for (k, end) in graph.ends[i].enumerated() {
                    let v = block.trade[k][0]
                    let sign = end.isA ? 1.0 : -1.0
                    builder.addQuadraticCost(v, state.rho)
                    builder.addLinearCost(v, state.y[i][k] - state.rho * sign * state.z[end.edge])
                }
                var q = -1
                if onBus[i] {
                    q = builder.addVariable("injection")
                    var row = LinearExpression([LinearTerm(q, 1)])
                    row.add(block.withdrawalKW(people[i], period: 0, units: units), times: 1 / units.baseKVA)
                    builder.addRow(groups.balance, row)
                    builder.addQuadraticCost(q, state.rho)
                    builder.addLinearCost(q, state.u[i] - state.rho * state.injection[i])
                }
                let built = try builder.build()
                let solution = SocialOptimum.solve(built.problem, options: setup.problem.options, control: control)
                guard solution.status.hasSolution else {
                    out.status = solution.status
                    out.message = "prosumer \"\(people[i].id)\"'s local problem at ADMM iteration \(iteration): \(solution.message)"
                    out.iterations = iteration
                    return (out, nil)
                }
                let x = solution.x
                for k in graph.ends[i].indices {
                    let v = block.trade[k][0]
                    p[i][k] = v < x.count ? x[v] : 0
                }
                injection[i] = q >= 0 && q < x.count ? x[q] : 0
                blocks.append(block)
                xs.append(x)
            }
            // 2. Consensus on trades.
            var dualSquares = 0.0, primalSquares = 0.0, normP = 0.0, normZ = 0.0, normY = 0.0
            for (e, edge) in graph.edges.enumerated() {
                let slot = graph.slots[e]
                let a = p[edge.a][slot.a] + state.y[edge.a][slot.a] / state.rho
                let b = p[edge.b][slot.b] + state.y[edge.b][slot.b] / state.rho
                let z = 0.5 * (a - b)
                dualSquares += 2 * (z - state.z[e]) * (z - state.z[e])
                state.z[e] = z
            }
            // 3. The operator's projection of P + u/ρ onto the network's limits.
            if let feeder, onBus.contains(true) {
                let target = (0..<n).map { injection[$0] + state.u[$0] / state.rho }
                guard let projected = try project(target, onBus: onBus, people: people, feeder: feeder, control: control) else {
                    out.status = .primalInfeasible
                    out.message = "the network's limits leave no injections at ADMM iteration \(iteration)"
                    out.iterations = iteration
                    return (out, nil)
                }
                for i in 0..<n where onBus[i] {
                    dualSquares += (projected.injection[i] - state.injection[i]) * (projected.injection[i] - state.injection[i])
                    state.injection[i] = projected.injection[i]
                }
                network = (projected.vPu, projected.pKW)
            }
            // 4. Dual updates and residuals.
            for i in 0..<n {
                for (k, end) in graph.ends[i].enumerated() {
                    let sign = end.isA ? 1.0 : -1.0
                    let r = p[i][k] - sign * state.z[end.edge]
                    state.y[i][k] += state.rho * r
                    primalSquares += r * r
                    normP += p[i][k] * p[i][k]
                    normZ += state.z[end.edge] * state.z[end.edge]
                    normY += state.y[i][k] * state.y[i][k]
                }
                if onBus[i] {
                    let r = injection[i] - state.injection[i]
                    state.u[i] += state.rho * r
                    primalSquares += r * r
                    normP += injection[i] * injection[i]
                    normZ += state.injection[i] * state.injection[i]
                    normY += state.u[i] * state.u[i]
                }
            }
            let count = Double(max(1, graph.edges.count * 2 + onBus.filter { $0 }.count))
            primal = primalSquares.squareRoot()
            dual = state.rho * dualSquares.squareRoot()
            let primalTarget = count.squareRoot() * epsAbs + epsRel * max(normP.squareRoot(), normZ.squareRoot())
            let dualTarget = count.squareRoot() * epsAbs + epsRel * normY.squareRoot()
            if primal <= primalTarget && dual <= dualTarget { break }
            if iteration >= limit || control.pastDeadline {
                out.status = iteration >= limit ? .iterationLimit : .timeLimit
                break
            }
            if iteration % 100 == 0 && control.report(#"{"event":"iteration","mechanism":"p2p_online","slot":\#(input.slot),"iteration":\#(iteration),"primalResidual":\#(primal),"dualResidual":\#(dual)}"#) {
                out.status = .interrupted
                break
            }
            if primal > 10 * dual { state.rho *= 2 } else if dual > 10 * primal { state.rho /= 2 }
        }
        // Bilateral prices: both ends' duals agree at convergence (μ of the reciprocity row).
        let prices = graph.edges.indices.map { e -> Double in
            let edge = graph.edges[e], slot = graph.slots[e]
            return units.pricePerKWh(0.5 * (state.y[edge.a][slot.a] + state.y[edge.b][slot.b]))
        }
        OnlineSlot.fill(&out, setup: setup, input: input, people: people, blocks: blocks, values: { xs[$0] }, prices: prices)
        out.iterations = iteration
        out.admmPrimalResidual = primal
        out.admmDualResidual = dual
        if let feeder, let network {
            out.vPu = network.vPu
            out.linePKW = network.pKW
            // The adder at a bus: the injection dual u of its prosumers (equal at convergence).
            var adder = [Double](repeating: 0, count: feeder.busCount), seen = adder
            for i in 0..<n where onBus[i] {
                if let bus = people[i].bus { adder[bus] += units.pricePerKWh(state.u[i]); seen[bus] += 1 }
            }
            out.networkAdder = zip(adder, seen).map { $1 > 0 ? $0 / $1 : 0 }
        }
        return (out, state)
    }

    /// argmin Σ ½ (P̂_i − target_i)² over the injections the LinDistFlow limits allow (pu).
    private func project(_ target: [Double], onBus: [Bool], people: [Prosumer], feeder: Feeder,
                         control: SolveControl) throws -> (injection: [Double], vPu: [Double], pKW: [Double])? {
        var builder = ConicBuilder()
        var hat = [Int](repeating: -1, count: target.count)
        var active = [LinearExpression](repeating: .zero, count: feeder.busCount)
        var reactive = [LinearExpression](repeating: .zero, count: feeder.busCount)
        for i in target.indices where onBus[i] {
            guard let bus = people[i].bus else { continue }
            let v = builder.addVariable("P̂")
            hat[i] = v
            builder.addQuadraticCost(v, 1)
            builder.addLinearCost(v, -target[i])
            active[bus].add(v, setup.units.baseKVA)
            reactive[bus].constant -= people[i].qLoadKVAr[0]
        }
        let model = feeder.addModel(.lindistflow, to: &builder, injections: BusInjections(activeKW: active, reactiveKVAr: reactive),
                                    options: BranchFlowOptions())
        let built = try builder.build()
        let solution = SocialOptimum.solve(built.problem, options: setup.problem.options, control: control)
        guard solution.status.hasSolution else { return nil }
        let x = solution.x
        let state = model.solution(x: x)
        return (hat.map { $0 >= 0 && $0 < x.count ? x[$0] : 0 }, state.vPu, state.pKW)
    }
}

