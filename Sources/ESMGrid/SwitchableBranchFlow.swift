import ESMSolver

/// The branch flow model on the meshed network with line switches, per unit, over `periods`
/// (p2p_reconfiguration spec §3.2–3.3). Each candidate line ℓ = (i, j), oriented `from` → `to`:
///
///   balance at j   Σ_{ℓ out of j} P_ℓ − Σ_{ℓ into j} (P_ℓ − r_ℓ l_ℓ) + p_j^load − p_j^inj − [j = 0] P_0 = 0
///                  (the same for Q with x_ℓ, the capacitor b_j w_j on the injection side)
///   voltage drop   e_ℓ = w_i − w_j − 2(r P + x Q) + (r² + x²) l:  e = 0 on fixed lines,
///                  |e| ≤ M (1 − α) on switchable ones, M = w̄ − w̲ (an open line carries
///                  P = Q = l = 0, so e is a difference of two voltages in range)
///   cone           ‖(2P, 2Q, w_i − l)‖ ≤ w_i + l             (P² + Q² ≤ w_i l)
///   perspective    ‖(2P, 2Q, w̄ α − l)‖ ≤ w̄ α + l           (P² + Q² ≤ w̄ α l; valid as w_i ≤ w̄
///                  and an open line carries nothing; with α fractional a line's flow costs
///                  1/α times its losses, which is what makes the relaxation tight)
///   switch         |P|, |Q| ≤ S̄ α,  0 ≤ l ≤ (S̄² / w̲) α
///   thermal        ‖(P, Q)‖ ≤ S_rate and ‖(P − r l, Q − x l)‖ ≤ S_rate (rated lines)
///   voltage        w̲ ≤ w ≤ w̄, w_0 = V_0²
///   radiality      single-commodity flow: Σ_{ℓ into j} F − Σ_{ℓ out of j} F = 1 (j ≠ 0),
///                  |F_ℓ| ≤ (n − 1) α_ℓ, and Σ α = n − 1: the closed lines are a spanning tree
///   graph rules    loop Σ_{ℓ∈C} α ≤ |C| − 1, segment Σ_{ℓ∈seg} (1 − α) ≤ 1, every bus keeps
///                  a closed line (rules 2–4; bridges are fixed closed by `SwitchingGraph`)
///   switching      s_ℓ,t ≥ ±(α_ℓ,t − α_ℓ,t−1), Σ_{ℓ,t} s ≤ S_max, Σ_t s_ℓ,t ≤ k
///
/// α_ℓ,t is binary for switchable lines and the constant 1 for the other candidates. Lines with
/// zero impedance get no l (voltage equal at both ends when closed).
public struct SwitchableBranchFlowOptions: Sendable {
    public var voltageLimits = true
    public var thermalLimits = true
    /// Loop, segment and isolated-bus cuts (spec §3.3 rules 2–4).
    public var graphRules = true
    /// The perspective cone P² + Q² ≤ w̄ α l on switchable lines.
    public var perspectiveCones = true
    /// Total switch operations over the horizon (between consecutive periods, and from the
    /// network's own statuses before period 0 when `countFromInitialStatus`); nil: unlimited.
    public var switchingBudget: Int?
    /// Operations per switch over the horizon; nil: unlimited.
    public var perSwitchLimit: Int?
    public var countFromInitialStatus = false
    /// Bound on any line's apparent power flow, kVA, used for the big-M terms of lines without a
    /// rating; nil: the caller's `flowBoundKVA` estimate of `addSwitchableBranchFlow`.
    public var flowBoundKVA: Double?
    public var namePrefix = ""
    public init() {}
}

/// Where `addSwitchableBranchFlow` put its variables and rows.
public struct SwitchableBranchFlowModel: Sendable {
    public let graph: SwitchingGraph
    public let periods: Int
    /// Power base, kVA.
    public let baseKVA: Double
    /// Per period, per line: variable index (−1 where the line is not a candidate, or, for l,
    /// has no impedance).
    public let p: [[Int]]
    public let q: [[Int]]
    public let l: [[Int]]
    /// Commodity flow of the spanning-tree certificate.
    public let commodity: [[Int]]
    /// Per period, per line: the status binary (−1 for lines that are not switchable).
    public let alpha: [[Int]]
    /// Per period, per bus: squared voltage.
    public let w: [[Int]]
    /// Per period: substation import P_0, Q_0 (pu).
    public let p0: [Int]
    public let q0: [Int]
    /// Per period: the active balance rows (row i of the group = bus i); their duals divided by
    /// the base are the marginal cost of demand at each bus.
    public let activeBalance: [ConstraintGroup]
    /// Per line: closed in the network as given (the operator's current configuration).
    public let initial: [Bool]
    /// r, x per line, pu.
    public let r: [Double]
    public let x: [Double]

    /// Series losses of period t, kW, as an expression (the objective of reconfiguration).
    public func lossKW(period t: Int) -> LinearExpression {
        var e = LinearExpression()
        for (k, v) in l[t].enumerated() where v >= 0 && r[k] != 0 { e.add(v, r[k] * baseKVA) }
        return e
    }

    /// Per period, per line: closed in `x` (non-switchable candidates always, switchable ones
    /// when α ≥ ½).
    public func closedLines(x: [Double]) -> [[Bool]] {
        (0..<periods).map { t in
            graph.from.indices.map { k in
                guard graph.candidate[k] else { return false }
                let a = alpha[t][k]
                return a < 0 ? true : (a < x.count && x[a] >= 0.5)
            }
        }
    }

    /// The binaries' values (variable → 0/1) of a topology given per period and per line.
    public func assignment(closed: [[Bool]]) -> [Int: Double] {
        var out: [Int: Double] = [:]
        for t in 0..<min(periods, closed.count) {
            for (k, a) in alpha[t].enumerated() where a >= 0 && k < closed[t].count { out[a] = closed[t][k] ? 1 : 0 }
        }
        return out
    }

    /// The incumbent heuristic for the branch-and-bound: maximum-weight spanning trees from a
    /// relaxation, per period and (so that no switching is needed, within any budget) one for all
    /// periods, weighted by α and by the relaxation's apparent flows; and the network's own
    /// configuration when it is radial. Returns binary assignments (variable → 0/1); the search
    /// drops those that violate the voltage limits, the budget or other constraints.
    public func radialAssignments(relaxation x: [Double]) -> [[Int: Double]] {
        func value(_ i: Int) -> Double { i >= 0 && i < x.count && x[i].isFinite ? x[i] : 0 }
        func weights(_ periods: [Int], flows: Bool) -> [Double] {
            graph.from.indices.map { k in
                periods.reduce(0.0) { acc, t in
                    if flows {
                        let pk = value(p[t][k]), qk = value(q[t][k])
                        return acc + (pk * pk + qk * qk).squareRoot()
                    }
                    let a = alpha[t][k]
                    return acc + (a >= 0 ? value(a) : 1)
                }
            }
        }
        func assignment(_ trees: [[Bool]]) -> [Int: Double] { self.assignment(closed: trees) }
        var candidates: [[Int: Double]] = []
        for flows in [false, true] {
            let perPeriod = (0..<periods).compactMap { graph.spanningTree(weights: weights([$0], flows: flows)) }
            if perPeriod.count == periods { candidates.append(assignment(perPeriod)) }
            if periods > 1, let common = graph.spanningTree(weights: weights(Array(0..<periods), flows: flows)) {
                candidates.append(assignment([[Bool]](repeating: common, count: periods)))
            }
        }
        if graph.isRadial(closed: initial) { candidates.append(assignment([[Bool]](repeating: initial, count: periods))) }
        return candidates
    }
}

extension Network {
    /// Adds the switchable branch-flow model over `periods` periods to `builder`. `injections`
    /// holds one `BusInjections` per period (kW / kVAr into the grid, on top of the buses'
    /// passive loads of that period), or is empty. `flowBoundKVA` is the caller's bound on any
    /// line flow (e.g. total demand plus total injection capacity), for the big-M terms; the
    /// binaries are marked in the builder. The caller adds the objective (e.g. `lossKW`). Throws
    /// `SwitchingGraph.Problem.doesNotMatch` when `graph` was built from another network.
    public func addSwitchableBranchFlow(to builder: inout ConicBuilder, graph: SwitchingGraph, periods: Int,
                                        injections: [BusInjections], flowBoundKVA: Double,
                                        options: SwitchableBranchFlowOptions = SwitchableBranchFlowOptions())
        throws -> SwitchableBranchFlowModel {
        let n = buses.count, lineCount = lines.count, root = substation
        guard graph.busCount == n, graph.from.count == lineCount, graph.root == root,
              zip(graph.from, graph.to).elementsEqual(lines.map { ($0.from, $0.to) }, by: { $0 == $1 }) else {
            throw SwitchingGraph.Problem.doesNotMatch
        }
        let T = max(periods, 1)
        let prefix = options.namePrefix
        func load(_ series: [Double], _ t: Int) -> Double {
            let v = series.isEmpty ? 0 : series[min(t, series.count - 1)]
            return v.isFinite ? v : 0
        }
        var peak = 0.0
        for t in 0..<T {
            var total = 0.0
            for bus in buses {
                let p = load(bus.pLoadKW, t), q = load(bus.qLoadKVAr, t)
                total += (p * p + q * q).squareRoot() + bus.shuntKVA
            }
            peak = max(peak, total)
        }
        let bound = max(options.flowBoundKVA ?? flowBoundKVA, 1e-9)
        let base = Feeder.chooseBaseKVA(max(peak, bound / 2))
        let zScale = base / (1000 * baseKV * baseKV)
        let r = lines.map { Feeder.finite($0.rOhm * zScale) }
        let x = lines.map { Feeder.finite($0.xOhm * zScale) }
        let v0 = vSubstationPu
        let wLo = min(vMinPu, v0) * min(vMinPu, v0), wHi = max(vMaxPu, v0) * max(vMaxPu, v0)
        // Without voltage limits w only has 0 ≤ w ≤ wHi.
        let bigM = options.voltageLimits ? wHi - wLo : wHi
        let sBar = bound / base
        let wFloor = options.voltageLimits ? max(wLo, 1e-6) : 1e-6
        let lBar = sBar * sBar / wFloor
        let incident = graph.incidentLines()

        var P = [[Int]](), Q = [[Int]](), L = [[Int]](), F = [[Int]](), A = [[Int]](), W = [[Int]]()
        var P0 = [Int](), Q0 = [Int](), balances = [ConstraintGroup]()
        for t in 0..<T {
            let tp = T > 1 ? "\(prefix)t\(t)." : prefix
            var p = [Int](repeating: -1, count: lineCount), q = p, l = p, f = p, a = p
            for k in 0..<lineCount where graph.candidate[k] {
                p[k] = builder.addVariable(tp + "P")
                q[k] = builder.addVariable(tp + "Q")
                if r[k] != 0 || x[k] != 0 { l[k] = builder.addVariable(tp + "l") }
                f[k] = builder.addVariable(tp + "F")
                if graph.switchable[k] {
                    a[k] = builder.addVariable(tp + "alpha")
                    builder.markBinary(a[k])
                }
            }
            let w = Array(builder.addVariables(tp + "w", count: n).range)
            let p0 = builder.addVariable(tp + "P0"), q0 = builder.addVariable(tp + "Q0")
            func status(_ k: Int) -> LinearExpression { a[k] >= 0 ? .variable(a[k]) : .constant(1) }

            // balances
            let activeBalance = builder.addGroup(tp + "active balance", .zero)
            let reactiveBalance = builder.addGroup(tp + "reactive balance", .zero)
            let inj = t < injections.count ? injections[t] : BusInjections()
            for bus in 0..<n {
                var ep = LinearExpression(constant: load(buses[bus].pLoadKW, t) / base)
                var eq = LinearExpression(constant: load(buses[bus].qLoadKVAr, t) / base)
                for k in incident[bus] {
                    if lines[k].from == bus {
                        ep.add(p[k], 1); eq.add(q[k], 1)
                    } else {
                        ep.add(p[k], -1); eq.add(q[k], -1)
                        if l[k] >= 0 {
                            if r[k] != 0 { ep.add(l[k], r[k]) }
                            if x[k] != 0 { eq.add(l[k], x[k]) }
                        }
                    }
                }
                // Shunts are linear in w = |V|²: the conductance draws g·w, the susceptance injects b·w.
                let cap = buses[bus].qCapKVAr.isFinite ? buses[bus].qCapKVAr / base : 0
                if cap != 0 { eq.add(w[bus], -cap) }
                let conductance = buses[bus].pShuntKW.isFinite ? buses[bus].pShuntKW / base : 0
                if conductance != 0 { ep.add(w[bus], conductance) }
                if let e = inj.active(bus) { ep.add(e, times: -1 / base) }
                if let e = inj.reactive(bus) { eq.add(e, times: -1 / base) }
                if bus == root { ep.add(p0, -1); eq.add(q0, -1) }
                builder.addRow(activeBalance, ep)
                builder.addRow(reactiveBalance, eq)
            }

            // voltage drops, cones, switch and thermal limits
            let drops = builder.addGroup(tp + "voltage drop", .zero)
            let switchedDrops = builder.addGroup(tp + "switched voltage drop", .nonnegative)
            let cones = builder.addGroup(tp + "branch cones", .secondOrder)
            let limits = builder.addGroup(tp + "switch limits", .nonnegative)
            let thermal = builder.addGroup(tp + "thermal limits", .secondOrder)
            for k in 0..<lineCount where graph.candidate[k] {
                let i = lines[k].from, j = lines[k].to
                var e = LinearExpression([LinearTerm(w[i], 1), LinearTerm(w[j], -1)])
                if r[k] != 0 { e.add(p[k], -2 * r[k]) }
                if x[k] != 0 { e.add(q[k], -2 * x[k]) }
                if l[k] >= 0 { e.add(l[k], r[k] * r[k] + x[k] * x[k]) }
                if a[k] >= 0 {
                    // e ≤ M(1 − α) and −e ≤ M(1 − α)
                    builder.addLessEqual(switchedDrops, e + LinearExpression([LinearTerm(a[k], bigM)]), bigM)
                    builder.addLessEqual(switchedDrops, e.scaled(by: -1) + LinearExpression([LinearTerm(a[k], bigM)]), bigM)
                } else {
                    builder.addRow(drops, e)
                }
                if l[k] >= 0 {
                    builder.addSecondOrderCone(cones, [
                        LinearExpression([LinearTerm(w[i], 1), LinearTerm(l[k], 1)]),
                        .variable(p[k], 2), .variable(q[k], 2),
                        LinearExpression([LinearTerm(w[i], 1), LinearTerm(l[k], -1)]),
                    ])
                    if a[k] >= 0 && options.perspectiveCones {
                                                builder.addSecondOrderCone(cones, [
                            LinearExpression([LinearTerm(a[k], wHi), LinearTerm(l[k], 1)]),
                            .variable(p[k], 2), .variable(q[k], 2),
                            LinearExpression([LinearTerm(a[k], wHi), LinearTerm(l[k], -1)]),
                        ])
                    }
                }
                let rated = lines[k].rateKVA.flatMap { $0.isFinite && $0 > 0 ? $0 / base : nil }
                let s = min(sBar, rated ?? .infinity)
                let alphaK = status(k)
                builder.addLessEqual(limits, .variable(p[k]) - s * alphaK, 0)
                builder.addLessEqual(limits, .variable(p[k], -1) - s * alphaK, 0)
                builder.addLessEqual(limits, .variable(q[k]) - s * alphaK, 0)
                builder.addLessEqual(limits, .variable(q[k], -1) - s * alphaK, 0)
                if l[k] >= 0 {
                    builder.addGreaterEqual(limits, .variable(l[k]), 0)
                    builder.addLessEqual(limits, .variable(l[k]) - min(lBar, s * s / wFloor) * alphaK, 0)
                }
                if options.thermalLimits, let rate = rated {
                    builder.addSecondOrderCone(thermal, [.constant(rate), .variable(p[k]), .variable(q[k])])
                    if l[k] >= 0 {
                        builder.addSecondOrderCone(thermal, [
                            .constant(rate),
                            LinearExpression([LinearTerm(p[k], 1), LinearTerm(l[k], -r[k])]),
                            LinearExpression([LinearTerm(q[k], 1), LinearTerm(l[k], -x[k])]),
                        ])
                    }
                }
            }

            // voltages
            let volts = builder.addGroup(tp + "voltage limits", .nonnegative)
            builder.addEquality(drops, .variable(w[root]), v0 * v0)
            for bus in 0..<n where bus != root {
                builder.addLessEqual(volts, .variable(w[bus]), options.voltageLimits ? vMaxPu * vMaxPu : wHi)
                builder.addGreaterEqual(volts, .variable(w[bus]), options.voltageLimits ? vMinPu * vMinPu : 0)
            }

            // spanning tree: one unit of commodity to every bus but the root, count n − 1
            let tree = builder.addGroup(tp + "spanning tree", .zero)
            let treeBounds = builder.addGroup(tp + "spanning tree bounds", .nonnegative)
            for bus in 0..<n where bus != root {
                var e = LinearExpression()
                for k in incident[bus] { e.add(f[k], lines[k].to == bus ? 1 : -1) }
                builder.addEquality(tree, e, 1)
            }
            var count = LinearExpression()
            for k in 0..<lineCount where graph.candidate[k] {
                count.add(status(k))
                let cap = Double(n - 1)
                builder.addLessEqual(treeBounds, .variable(f[k]) - cap * status(k), 0)
                builder.addLessEqual(treeBounds, .variable(f[k], -1) - cap * status(k), 0)
            }
            builder.addEquality(tree, count, Double(n - 1))

            if options.graphRules {
                let rules = builder.addGroup(tp + "graph rules", .nonnegative)
                for loop in graph.loops where loop.contains(where: { a[$0] >= 0 }) {
                    var e = LinearExpression()
                    for k in loop { e.add(status(k)) }
                    builder.addLessEqual(rules, e, Double(loop.count - 1))
                }
                for seg in graph.segments where seg.filter({ a[$0] >= 0 }).count >= 2 {
                    var e = LinearExpression()
                    for k in seg { e.add(status(k)) }
                    builder.addGreaterEqual(rules, e, Double(seg.count - 1))
                }
                for bus in 0..<n where !incident[bus].contains(where: { a[$0] < 0 }) && !incident[bus].isEmpty {
                    var e = LinearExpression()
                    for k in incident[bus] { e.add(status(k)) }
                    builder.addGreaterEqual(rules, e, 1)
                }
            }
            P.append(p); Q.append(q); L.append(l); F.append(f); A.append(a); W.append(w)
            P0.append(p0); Q0.append(q0); balances.append(activeBalance)
        }

        // switching budget
        let counted = options.countFromInitialStatus
        if options.switchingBudget != nil || options.perSwitchLimit != nil {
            let g = builder.addGroup(prefix + "switching", .nonnegative)
            var total = LinearExpression()
            for k in 0..<lineCount where graph.switchable[k] {
                var perSwitch = LinearExpression()
                for t in 0..<T where t > 0 || counted {
                    let previous: LinearExpression = t > 0 ? .variable(A[t - 1][k]) : .constant(lines[k].closed ? 1 : 0)
                    let s = builder.addVariable(prefix + "t\(t).switch")
                    let change = LinearExpression.variable(A[t][k]) - previous
                    builder.addGreaterEqual(g, .variable(s) - change, 0)
                    builder.addGreaterEqual(g, .variable(s) + change, 0)
                    perSwitch.add(s, 1)
                }
                if let k = options.perSwitchLimit, !perSwitch.terms.isEmpty { builder.addLessEqual(g, perSwitch, Double(max(k, 0))) }
                total.add(perSwitch)
            }
            if let budget = options.switchingBudget, !total.terms.isEmpty {
                builder.addLessEqual(g, total, Double(max(budget, 0)))
            }
        }
        return SwitchableBranchFlowModel(graph: graph, periods: T, baseKVA: base, p: P, q: Q, l: L, commodity: F,
                                         alpha: A, w: W, p0: P0, q0: Q0, activeBalance: balances, initial: lines.map(\.closed), r: r, x: x)
    }
}
