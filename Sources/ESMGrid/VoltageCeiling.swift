import ESMSolver

/// The linearized (LinDistFlow) voltage ceiling of the SOC branch-flow model: the recovery's tool
/// when the relaxation is not exact (`RelaxationRecovery.swift`).
///
/// With r, x ≥ 0 the LinDistFlow voltages v̂ of the same injections bound the branch-flow voltages
/// from above at every point of the relaxation, v ≤ v̂ (Gan, Li, Topcu and Low, "Exact convex
/// relaxation of optimal power flow in radial networks", IEEE TAC 2015, Lemma 1), and constraining
/// v̂_j ≤ vMax² makes the relaxation exact when the objective rewards less loss (their Theorem 1,
/// under a mild condition on the impedances). The ceiling is conservative by v̂ − v, so the recovery
/// loosens it by an allowance δ_j per bus, learnt from the AC power flow of the previous answer.
///
/// v̂ is written through the state of the SOC model itself, so the caller's injections appear in
/// the balance rows only (the balance duals stay the buses' marginal costs):
///
///   LP_j = r_j ℓ_j − g_j D_j + Σ_k LP_k                    (and the conductances' extra draw at v̂)
///   LQ_j = x_j ℓ_j + b_j D_j + Σ_k LQ_k                    (and the capacitors' extra output at v̂)
///   D_j  = D_par(j) + 2 (r_j LP_j + x_j LQ_j) − (r_j² + x_j²) ℓ_j,  D_root = 0   (D_j = v̂_j − v_j)
///   v_j + D_j ≤ vMax² + δ_j                                           (every bus but the substation)
///
/// since the lossless flows are P̂_j = P_j − LP_j, Q̂_j = Q_j − LQ_j, with the capacitors at v̂ as in
/// LinDistFlow. v̂ then depends on the injections only: with the capacitors at the relaxation's v
/// instead, a phantom loss would lower v, hence the capacitors' output, hence v̂ — an incentive to
/// be inexact (seen on ieee123 under heavy export).
/// Per unit throughout; LP, LQ and D are of the order of the losses. With a ceiling the model's own
/// upper limit v ≤ vMax² is lifted to (2 vMax)² (`addBranchFlowCore`): the ceiling implies it up
/// to the allowance, and the AC check of the recovery verifies the rest.
public struct VoltageCeiling: Sendable, Equatable {
    /// Per bus, what the ceiling allows above vMax², pu² (empty or shorter: 0).
    public var allowancePu2: [Double]

    /// Elastic ceiling: `v̂_j − s_j ≤ vMax² + δ_j` with s_j ≥ 0 costing `elasticWeight` per pu² in
    /// the objective — the least-violation search of `RelaxationRecovery` when the ceiling leaves
    /// no feasible point. nil: hard ceiling.
    public var elasticWeight: Double?

    /// Buses whose ceiling row is corrected to the AC voltage linearized at a point (the recovery's
    /// polish): `v_j + D_j + Σ_i c_i ψ_i ≤ bound`, ψ_i the lossless net injection of bus i written
    /// through the state, ψ_i = −(P_i − LP_i) + Σ_{k child} (P_k − LP_k). Empty: none.
    public var linearized: [LinearizedVoltage]

    /// The ceiling v̂ ≤ vMax² itself, no allowance.
    public init(allowancePu2: [Double] = [], elasticWeight: Double? = nil, linearized: [LinearizedVoltage] = []) {
        self.allowancePu2 = allowancePu2
        self.elasticWeight = elasticWeight
        self.linearized = linearized
    }

    public func allowance(_ bus: Int) -> Double {
        bus < allowancePu2.count && allowancePu2[bus].isFinite ? max(allowancePu2[bus], 0) : 0
    }
}

/// One bus's ceiling row corrected to its AC voltage linearized at a point x_k:
/// `v̂_j + Σ_i c_i ψ_i ≤ bound` with c_i = ∂v_AC,j²/∂ψ_i − ∂v̂_j/∂ψ_i (pu² per pu) and
/// bound = vMax² − v_AC,j(x_k)² + v̂_j(x_k) + Σ_i c_i ψ_i(x_k): v̂ is linear in ψ, so this is
/// v_AC,j(x_k)² + ∇v_AC,j² · (ψ − ψ(x_k)) ≤ vMax², written as a small correction of the ceiling.
public struct LinearizedVoltage: Sendable, Equatable {
    public var bus: Int
    /// (bus i, c_i) for the buses whose injection moves.
    public var sensitivity: [(bus: Int, pu2PerPu: Double)]
    public var bound: Double

    public init(bus: Int, sensitivity: [(bus: Int, pu2PerPu: Double)], bound: Double) {
        self.bus = bus
        self.sensitivity = sensitivity
        self.bound = bound
    }

    public static func == (a: LinearizedVoltage, b: LinearizedVoltage) -> Bool {
        a.bus == b.bus && a.bound == b.bound && a.sensitivity.elementsEqual(b.sensitivity) { $0.bus == $1.bus && $0.pu2PerPu == $1.pu2PerPu }
    }
}

/// Where the ceiling's variables and rows are (`BranchFlowModel.ceiling`).
public struct VoltageCeilingRows: Sendable {
    /// The buses that carry the rows, in row order (every bus but the substation).
    public let buses: [Int]
    /// Variable index per bus (-1 at the substation): LP, LQ and D = v̂ − v.
    public let lossP: [Int]
    public let lossQ: [Int]
    public let drift: [Int]
    /// Rows, one per entry of `buses`, in that order.
    public let lossPRows: ConstraintGroup
    public let lossQRows: ConstraintGroup
    public let driftRows: ConstraintGroup
    /// `v_j + D_j ≤ vMax² + δ_j`; nil when the formulation's voltage limits are off (the caller,
    /// e.g. an infeasibility diagnosis, writes its own).
    public let limits: ConstraintGroup?
    /// Per entry of `buses`, the coefficient of each P_k (bus k's flow variable) in its ceiling row
    /// beyond v_j + D_j (the LP_k coefficients are their negatives; empty unless linearized): what
    /// the price decomposition needs.
    public let flowCoefficients: [[(bus: Int, coefficient: Double)]]
    /// Thermal cones on the lossless flows, one per bus of `losslessRated` in order; nil for none.
    public let losslessThermal: ConstraintGroup?
    public let losslessRated: [Int]
}

extension Feeder {
    /// Adds the ceiling's variables and rows over the SOC model's `p`, `q`, `v`, `l`.
    func addVoltageCeiling(_ ceiling: VoltageCeiling, to builder: inout ConicBuilder, p: [Int], q: [Int], l: [Int], v: [Int],
                           options: BranchFlowOptions) -> VoltageCeilingRows {
        let name = options.namePrefix
        let buses = order.filter { parent[$0] >= 0 }
        let lpBlock = builder.addVariables(name + "ceiling LP", count: buses.count)
        let lqBlock = builder.addVariables(name + "ceiling LQ", count: buses.count)
        let dBlock = builder.addVariables(name + "ceiling v̂ − v", count: buses.count)
        var lossP = [Int](repeating: -1, count: busCount), lossQ = lossP, drift = lossP
        for (i, bus) in buses.enumerated() {
            lossP[bus] = lpBlock[i]
            lossQ[bus] = lqBlock[i]
            drift[bus] = dBlock[i]
        }
        let lpRows = builder.addGroup(name + "ceiling subtree losses P", .zero)
        let lqRows = builder.addGroup(name + "ceiling subtree losses Q", .zero)
        let dRows = builder.addGroup(name + "ceiling v̂ − v", .zero)
        for bus in buses {
            var ep = LinearExpression.variable(lossP[bus])
            var eq = LinearExpression.variable(lossQ[bus])
            var ed = LinearExpression.variable(drift[bus])
            if l[bus] >= 0 {
                if r[bus] != 0 { ep.add(l[bus], -r[bus]) }
                if x[bus] != 0 { eq.add(l[bus], -x[bus]) }
                ed.add(l[bus], r[bus] * r[bus] + x[bus] * x[bus])
            }
            for child in children(of: bus) {
                ep.add(lossP[child], -1)
                eq.add(lossQ[child], -1)
            }
            // Capacitors at the linearized voltage (LinDistFlow's own): b_j (v̂_j − v_j) = b_j D_j
            // more reactive injection in the lossless model.
            if bCap[bus] != 0 { eq.add(drift[bus], -bCap[bus]) }
            // Conductances likewise: g_j v̂_j = g_j v_j + g_j D_j, so the real model draws g_j D_j less.
            if gShunt[bus] != 0 { ep.add(drift[bus], gShunt[bus]) }
            if parent[bus] != root { ed.add(drift[parent[bus]], -1) }
            if r[bus] != 0 { ed.add(lossP[bus], -2 * r[bus]) }
            if x[bus] != 0 { ed.add(lossQ[bus], -2 * x[bus]) }
            builder.addRow(lpRows, ep)
            builder.addRow(lqRows, eq)
            builder.addRow(dRows, ed)
        }
        var limits: ConstraintGroup?
        var flowCoefficients = [[(bus: Int, coefficient: Double)]](repeating: [], count: buses.count)
        var correction = [Int: (e: LinearExpression, bound: Double, coefficients: [(bus: Int, coefficient: Double)])]()
        for row in ceiling.linearized where row.bus >= 0 && row.bus < busCount && row.bus != root {
            // Σ_i c_i ψ_i with ψ_i = −P̂_i + Σ_{k child} P̂_k: P̂_k's coefficient is c_par(k) − c_k.
            var byFlow = [Int: Double]()
            for (bus, c) in row.sensitivity where bus >= 0 && bus < busCount && bus != root {
                byFlow[bus, default: 0] -= c
                for child in children(of: bus) { byFlow[child, default: 0] += c }
            }
            var e = LinearExpression.zero
            var coefficients: [(bus: Int, coefficient: Double)] = []
            for (bus, c) in byFlow.sorted(by: { $0.key < $1.key }) where c != 0 && lossP[bus] >= 0 {
                e.add(p[bus], c)
                e.add(lossP[bus], -c)
                coefficients.append((bus, c))
            }
            correction[row.bus] = (e, row.bound, coefficients)
        }
        if options.voltageLimits {
            var slack: VariableBlock?
            if let weight = ceiling.elasticWeight {
                let block = builder.addVariables(name + "ceiling violation", count: buses.count)
                let signs = builder.addGroup(name + "ceiling violation ≥ 0", .nonnegative)
                for i in 0..<buses.count {
                    builder.addGreaterEqual(signs, .variable(block[i]), 0)
                    builder.addLinearCost(block[i], weight)
                }
                slack = block
            }
            let g = builder.addGroup(name + "linearized voltage ceiling", .nonnegative)
            for (i, bus) in buses.enumerated() {
                var e = LinearExpression([LinearTerm(v[bus], 1), LinearTerm(drift[bus], 1)])
                if let slack { e.add(slack[i], -1) }
                var bound = vMax * vMax + ceiling.allowance(bus)
                if let fix = correction[bus] {
                    e.add(fix.e)
                    bound = fix.bound
                    flowCoefficients[i] = fix.coefficients
                }
                builder.addLessEqual(g, e, bound)
            }
            limits = g
        }
        // Thermal limits on the lossless flows too, ‖(P_j − LP_j, Q_j − LQ_j)‖ ≤ rating: under
        // reverse flow a phantom loss would relieve the cone at the parent's end (P_j rises by
        // r ℓ), which is the same incentive the ceiling removes for voltages; the lossless flow
        // does not depend on ℓ and bounds the flow at the child's end from outside.
        var thermal: ConstraintGroup?
        var rated: [Int] = []
        if options.thermalLimits, rating.contains(where: { $0 != nil }) {
            let g = builder.addGroup(name + "lossless thermal limits", .secondOrder)
            for bus in buses {
                guard let rate = rating[bus] else { continue }
                builder.addSecondOrderCone(g, [
                    .constant(rate),
                    LinearExpression([LinearTerm(p[bus], 1), LinearTerm(lossP[bus], -1)]),
                    LinearExpression([LinearTerm(q[bus], 1), LinearTerm(lossQ[bus], -1)]),
                ])
                rated.append(bus)
            }
            thermal = g
        }
        return VoltageCeilingRows(buses: buses, lossP: lossP, lossQ: lossQ, drift: drift,
                                  lossPRows: lpRows, lossQRows: lqRows, driftRows: dRows, limits: limits,
                                  flowCoefficients: flowCoefficients, losslessThermal: thermal, losslessRated: rated)
    }
}

extension BranchFlowModel {
    /// The lossless net injection ψ_i = −(P_i − LP_i) + Σ_{k child} (P_k − LP_k) of every bus at
    /// `x` (pu; 0 at the root and without a ceiling).
    public func losslessInjectionPu(x: [Double]) -> [Double] {
        guard let ceiling else { return [Double](repeating: 0, count: feeder.busCount) }
        func value(_ i: Int) -> Double { i >= 0 && i < x.count && x[i].isFinite ? x[i] : 0 }
        func lossless(_ bus: Int) -> Double { value(p[bus]) - value(ceiling.lossP[bus]) }
        return (0..<feeder.busCount).map { bus in
            guard bus != feeder.root else { return 0 }
            return -lossless(bus) + feeder.children(of: bus).reduce(0) { $0 + lossless($1) }
        }
    }

    /// The LinDistFlow squared voltage v̂ = v + D of every bus at `x` (the SOC voltages where the
    /// model has no ceiling), pu².
    public func linearizedVoltagePu2(x: [Double]) -> [Double] {
        func value(_ i: Int) -> Double { i >= 0 && i < x.count && x[i].isFinite ? x[i] : 0 }
        return (0..<feeder.busCount).map { bus in
            value(v[bus]) + (ceiling.map { value($0.drift[bus]) } ?? 0)
        }
    }
}
