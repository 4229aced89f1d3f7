import ESMSolver

/// The linearized power flow of the P2P game-theoretic market (p2p_gne spec §3.5): the network
/// operator's variables are bus voltage angles θ and magnitudes |V|, branch flows and the
/// substation injection, linked by the first-order expansion of the AC branch flow around the
/// flat profile (|V| = 1, θ = 0), with g = r/|z|², b = x/|z|²:
///
///     P_j = g (V_par − V_j) + b (θ_par − θ_j)        (flow parent → j, per unit)
///     Q_j = b (V_par − V_j) − g (θ_par − θ_j)
///
/// Only active power is balanced at the buses (the paper has no reactive balance: Q enters only the
/// thermal limit P² + Q² ≤ s̄²). Signs are the physical ones (a load bus lags the substation, and
/// resistance makes a flow lower the voltage downstream); the paper writes the G terms with the
/// opposite sign and reads its balance with flows into the bus, which changes neither flows nor
/// limits where it matters (its own test cases have G = 0). Lossless: the substation delivers
/// exactly the feeder's net load. A zero-impedance branch ties both ends (same θ and |V|).
public struct LinearAngleModel: Sendable {
    public let feeder: Feeder
    /// Per bus: angle (rad) and magnitude (pu) variables.
    public let theta: [Int]
    public let vm: [Int]
    /// Per bus j ≠ root: active and reactive flow on its branch, parent → j (pu); at the root the
    /// substation's injection (P) and -1 (Q; also -1 on unrated zero-impedance branches).
    public let p: [Int]
    public let q: [Int]
    /// Row i = bus i: injections − withdrawals − Σ outflows = 0.
    public let activeBalance: ConstraintGroup
    /// The thermal-limit cones, with the bus (branch) of each cone in order.
    public let thermalLimits: ConstraintGroup?
    public let ratedBranches: [Int]

    /// Substation import, kW, as an expression for the caller.
    public var substationImportKW: LinearExpression { .variable(p[feeder.root], feeder.baseKVA) }

    /// Marginal cost of one more kW withdrawn at each bus (objective units per kW).
    public func activePrices(y: [Double], model built: ConicModel) -> [Double] {
        let duals = built.values(of: activeBalance, in: y)
        guard duals.count == feeder.busCount else { return [Double](repeating: 0, count: feeder.busCount) }
        return duals.map { Feeder.finite($0 / feeder.baseKVA) }
    }

    /// Per network line: the marginal value of one more kVA of rating (objective units per kVA;
    /// ≥ 0, 0 on unrated or slack lines): the dual of the cone's radius row.
    public func ratingPrices(y: [Double], model built: ConicModel) -> [Double] {
        var out = [Double](repeating: 0, count: feeder.lineCount)
        guard let group = thermalLimits else { return out }
        let duals = built.values(of: group, in: y)
        for (k, bus) in ratedBranches.enumerated() {
            let row = duals.startIndex + 3 * k
            let line = feeder.parentLine[bus]
            guard row < duals.endIndex, line >= 0, line < out.count else { continue }
            out[line] = Feeder.finite(duals[row] / feeder.baseKVA)
        }
        return out
    }

    /// Bus voltages (pu), angles (degrees) and line flows at the `from` end (kW, kVAr).
    public func solution(x: [Double]) -> (vPu: [Double], angleDeg: [Double], pKW: [Double], qKVAr: [Double]) {
        let f = feeder
        func value(_ i: Int) -> Double { i >= 0 && i < x.count ? Feeder.finite(x[i]) : 0 }
        let vPu = vm.map(value)
        let angle = theta.map { value($0) * 180 / Double.pi }
        var pKW = [Double](repeating: 0, count: f.lineCount), qKVAr = pKW
        for bus in 0..<f.busCount where f.parent[bus] >= 0 {
            let k = f.parentLine[bus]
            guard k >= 0, k < f.lineCount else { continue }
            let sign = f.parentLineForward[bus] ? 1.0 : -1.0
            pKW[k] = f.kW(sign * value(p[bus]))
            qKVAr[k] = f.kW(sign * value(q[bus]))
        }
        return (vPu, angle, pKW, qKVAr)
    }
}

extension Feeder {
    /// Adds the linear angle model with `injections` (kW; reactive injections are ignored: the
    /// model has no reactive balance). `angleMaxRad` bounds |θ| at every bus.
    public func addLinearAngleFlow(to builder: inout ConicBuilder, injections: BusInjections,
                                   angleMaxRad: Double, options: BranchFlowOptions = BranchFlowOptions()) -> LinearAngleModel {
        let n = busCount
        let name = options.namePrefix
        let theta = Array(builder.addVariables(name + "θ", count: n).range)
        let vm = Array(builder.addVariables(name + "|V|", count: n).range)
        let p = Array(builder.addVariables(name + "P", count: n).range)
        // Q only where a row reads it: branches with impedance, or rated ones (a free variable
        // in no row would leave the solver's system singular).
        var q = [Int](repeating: -1, count: n)
        for bus in 0..<n where parent[bus] >= 0 && (!zeroImpedance[bus] || (options.thermalLimits && rating[bus] != nil)) {
            q[bus] = builder.addVariable(name + "Q")
        }

        let activeBalance = builder.addGroup(name + "active balance", .zero)
        let scale = 1 / baseKVA
        for bus in 0..<n where options.activeBalance {
            var e = LinearExpression([LinearTerm(p[bus], 1)], constant: -pLoad[bus])
            for child in children(of: bus) { e.add(p[child], -1) }
            if let inj = injections.active(bus) { e.add(inj, times: scale) }
            builder.addRow(activeBalance, e)
        }

        let flow = builder.addGroup(name + "linearized branch flow", .zero)
        builder.addEquality(flow, .variable(theta[root]), 0)
        builder.addEquality(flow, .variable(vm[root]), vSubstation)
        for bus in 0..<n {
            let par = parent[bus]
            guard par >= 0 else { continue }
            if zeroImpedance[bus] {
                builder.addRow(flow, LinearExpression([LinearTerm(theta[par], 1), LinearTerm(theta[bus], -1)]))
                builder.addRow(flow, LinearExpression([LinearTerm(vm[par], 1), LinearTerm(vm[bus], -1)]))
                if q[bus] >= 0 { builder.addEquality(flow, .variable(q[bus]), 0) }
                continue
            }
            let z2 = r[bus] * r[bus] + x[bus] * x[bus]
            let g = r[bus] / z2, b = x[bus] / z2
            // P − g ΔV − b Δθ = 0 and Q − b ΔV + g Δθ = 0, Δ = parent − bus.
            builder.addRow(flow, LinearExpression([LinearTerm(p[bus], 1),
                                                   LinearTerm(vm[par], -g), LinearTerm(vm[bus], g),
                                                   LinearTerm(theta[par], -b), LinearTerm(theta[bus], b)]))
            builder.addRow(flow, LinearExpression([LinearTerm(q[bus], 1),
                                                   LinearTerm(vm[par], -b), LinearTerm(vm[bus], b),
                                                   LinearTerm(theta[par], g), LinearTerm(theta[bus], -g)]))
        }

        if options.voltageLimits {
            let limits = builder.addGroup(name + "voltage and angle limits", .nonnegative)
            for bus in 0..<n where bus != root {
                builder.addGreaterEqual(limits, .variable(vm[bus]), vMin)
                builder.addLessEqual(limits, .variable(vm[bus]), vMax)
                builder.addGreaterEqual(limits, .variable(theta[bus]), -angleMaxRad)
                builder.addLessEqual(limits, .variable(theta[bus]), angleMaxRad)
            }
        }

        var thermal: ConstraintGroup?
        var rated: [Int] = []
        if options.thermalLimits {
            for bus in 0..<n where parent[bus] >= 0 && rating[bus] != nil { rated.append(bus) }
            if !rated.isEmpty {
                let g = builder.addGroup(name + "thermal limits", .secondOrder)
                for bus in rated {
                    builder.addSecondOrderCone(g, [.constant(rating[bus] ?? 0), .variable(p[bus]), .variable(q[bus])])
                }
                thermal = g
            }
        }
        return LinearAngleModel(feeder: self, theta: theta, vm: vm, p: p, q: q, activeBalance: activeBalance,
                                thermalLimits: thermal, ratedBranches: rated)
    }
}
