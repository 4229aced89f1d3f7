import ESMGrid
import ESMSolver

/// Why a `social_optimum` period has no feasible dispatch (api.md §3, `diagnosis`).
///
/// A second solve keeps the prosumers, their flex bounds and the power-flow equations, and
/// relaxes every limit with a nonnegative slack:
///
///     v_i + s_i^lo ≥ vMin²,   v_i − s_i^hi ≤ vMax²          (every bus but the substation)
///     ‖(P_j, Q_j)‖ ≤ rate_j (1 + s_j^th)                    (and the receiving end in socp)
///
/// minimizing Σ s^lo / vMin² + Σ s^hi / vMax² + Σ s^th (each slack relative to its limit), plus
/// the substation's import cost with weight 1e-6 to settle ties. Only where power can be
/// produced matters here, so each bus's flexible prosumers are one variable on their summed range
/// [Σ minKW, Σ maxKW]: the diagnosis is network-sized whatever the number of prosumers. The
/// largest relative slack names the
/// binding constraint: `{"constraint": "vMinPu" | "vMaxPu", "bus": id}` or
/// `{"constraint": "rateKVA", "line": id}`. When even the relaxed problem has no solution
/// (the load exceeds what the feeder can carry at any voltage), the diagnosis is
/// `{"constraint": "powerFlow"}`.
enum SocialOptimumDiagnosis {
    struct Finding {
        var message: String
        var diagnosis: [(String, String)]
        var iterations: Int
    }

    /// Relative violations below this are taken as solver noise (the period is feasible).
    static let threshold = 1e-6

    /// Runs the relaxed solve; nil when it finds nothing to relax (the original failure was
    /// numerical, not infeasibility).
    static func diagnose(_ setup: PeriodSetup, control: SolveControl) throws -> Finding? {
        guard let network = setup.problem.network else { return nil }
        let f = setup.feeder
        let n = f.busCount
        let assembled = setup.assembleBusRanges()
        var builder = assembled.builder
        let flow = assembled.flow

        let buses = (0..<n).filter { $0 != f.root }
        let low = builder.addVariables("vMin slack", count: buses.count)
        let high = builder.addVariables("vMax slack", count: buses.count)
        let rated = (0..<n).filter { f.parent[$0] >= 0 && f.rating[$0] != nil }
        let thermal = builder.addVariables("rateKVA slack", count: rated.count)
        let signs = builder.addGroup("slacks ≥ 0", .nonnegative)
        let limits = builder.addGroup("relaxed voltage limits", .nonnegative)
        let vMin2 = f.vMin * f.vMin, vMax2 = f.vMax * f.vMax
        for (i, bus) in buses.enumerated() {
            builder.addGreaterEqual(signs, .variable(low[i]), 0)
            builder.addGreaterEqual(signs, .variable(high[i]), 0)
            builder.addGreaterEqual(limits, LinearExpression([LinearTerm(flow.v[bus], 1), LinearTerm(low[i], 1)]), vMin2)
            // Under the linearized voltage ceiling (the relaxation-exactness policy) the upper limit
            // is on v̂ = v + D, with the policy's allowance.
            var upper = LinearExpression([LinearTerm(flow.v[bus], 1), LinearTerm(high[i], -1)])
            var ceilingRHS = vMax2
            if let ceiling = flow.ceiling, ceiling.drift[bus] >= 0 {
                upper.add(ceiling.drift[bus], 1)
                ceilingRHS += setup.tightening?.ceiling?.allowance(bus) ?? 0
            }
            builder.addLessEqual(limits, upper, ceilingRHS)
            builder.addLinearCost(low[i], vMin2 > 0 ? 1 / vMin2 : 1)
            builder.addLinearCost(high[i], 1 / vMax2)
        }
        if !rated.isEmpty {
            let cones = builder.addGroup("relaxed thermal limits", .secondOrder)
            for (i, bus) in rated.enumerated() {
                let rate = f.rating[bus] ?? 0
                let bound = LinearExpression([LinearTerm(thermal[i], rate)], constant: rate)
                builder.addGreaterEqual(signs, .variable(thermal[i]), 0)
                builder.addLinearCost(thermal[i], 1)
                builder.addSecondOrderCone(cones, [bound, .variable(flow.p[bus]), .variable(flow.q[bus])])
                let lj = flow.l[bus]
                if lj >= 0 {
                    builder.addSecondOrderCone(cones, [
                        bound,
                        LinearExpression([LinearTerm(flow.p[bus], 1), LinearTerm(lj, -f.r[bus])]),
                        LinearExpression([LinearTerm(flow.q[bus], 1), LinearTerm(lj, -f.x[bus])]),
                    ])
                }
            }
        }
        let built = try builder.build()
        let solution = SocialOptimum.solve(built.problem, options: setup.problem.options, control: control)
        if solution.status == .primalInfeasible {
            return Finding(message: "the feeder cannot supply this load at any voltage: even with every voltage and thermal limit removed the \(setup.model.rawValue) network model has no solution",
                           diagnosis: [("constraint", "powerFlow")], iterations: solution.iterations)
        }
        guard solution.status.hasSolution || solution.status == .iterationLimit else { return nil }

        let x = solution.x
        func value(_ i: Int) -> Double { i >= 0 && i < x.count && x[i].isFinite ? x[i] : 0 }
        var worst = threshold
        var finding: Finding?
        for (i, bus) in buses.enumerated() {
            let id = network.buses[bus].id
            let reached = max(value(flow.v[bus]), 0).squareRoot()
            let lowRelative = vMin2 > 0 ? value(low[i]) / vMin2 : value(low[i])
            if lowRelative > worst {
                worst = lowRelative
                finding = Finding(message: "no dispatch keeps bus \"\(id)\" at or above vMinPu = \(describeNumber(f.vMin)): with every limit relaxed as little as possible it reaches \(rounded(reached)) pu",
                                  diagnosis: [("constraint", "vMinPu"), ("bus", id)], iterations: solution.iterations)
            }
            let highRelative = value(high[i]) / vMax2
            if highRelative > worst {
                worst = highRelative
                finding = Finding(message: "no dispatch keeps bus \"\(id)\" at or below vMaxPu = \(describeNumber(f.vMax)): with every limit relaxed as little as possible it reaches \(rounded(reached)) pu",
                                  diagnosis: [("constraint", "vMaxPu"), ("bus", id)], iterations: solution.iterations)
            }
        }
        for (i, bus) in rated.enumerated() {
            let s = value(thermal[i])
            if s > worst {
                worst = s
                let line = network.lines[f.parentLine[bus]]
                let rate = f.kW(f.rating[bus] ?? 0)
                finding = Finding(message: "no dispatch keeps line \"\(line.id)\" within rateKVA = \(describeNumber(rate)): it must carry at least \(rounded(rate * (1 + s))) kVA",
                                  diagnosis: [("constraint", "rateKVA"), ("line", line.id)], iterations: solution.iterations)
            }
        }
        return finding
    }

    static func rounded(_ v: Double) -> String {
        let r = (v * 1e4).rounded() / 1e4
        return describeNumber(r)
    }
}

extension PeriodSetup {
    /// The network without voltage and thermal limits, each bus's flexible prosumers as one
    /// variable on their summed range, and the substation cost with weight 1e-6 (the diagnosis
    /// problem before its slacks).
    func assembleBusRanges() -> Assembled {
        let t = period
        let base = feeder.baseKVA
        let n = feeder.busCount
        var low = [Double](repeating: 0, count: n), high = low
        var flexible = [Bool](repeating: false, count: n)
        var active = [LinearExpression](repeating: .zero, count: n)
        var reactive = [LinearExpression](repeating: .zero, count: n)
        for who in problem.prosumers {
            guard let bus = who.bus, bus >= 0, bus < n else { continue }
            active[bus].constant += who.pvKW[t] - who.loadKW[t]
            reactive[bus].constant -= who.qLoadKVAr[t]
            guard let flex = who.flex else { continue }
            if flex.maxKW[t] > flex.minKW[t] {
                flexible[bus] = true
                low[bus] += flex.minKW[t]
                high[bus] += flex.maxKW[t]
            } else {
                active[bus].constant += flex.minKW[t]
            }
        }
        var builder = ConicBuilder()
        let buses = (0..<n).filter { flexible[$0] }
        let block = builder.addVariables("bus flex", count: buses.count)
        let bounds = builder.addGroup("bus flex range", .nonnegative)
        for (i, bus) in buses.enumerated() {
            builder.addGreaterEqual(bounds, .variable(block[i]), low[bus] / base)
            builder.addLessEqual(bounds, .variable(block[i]), high[bus] / base)
            active[bus].add(block[i], base)
        }
        let injections = BusInjections(activeKW: active, reactiveKVAr: reactive)
        let flow = feeder.addModel(model, to: &builder, injections: injections, options: branchFlowOptions(limits: false))
        addSubstationCost(to: &builder, flow: flow, weight: 1e-6)
        return Assembled(builder: builder, flexVariables: [], injections: injections, flow: flow)
    }
}
