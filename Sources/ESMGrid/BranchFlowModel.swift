import ESMSolver

/// What the branch-flow formulations (`LinDistFlow.swift`, `SOCBranchFlow.swift`) share: the
/// caller's injections, the handles they return, and reading a solution back in kW / kVAr.
///
/// Variables, per unit on `Feeder.baseKVA`, indexed by bus (branch j = the line from j's parent):
///   P_j, Q_j  flow entering branch j at the parent's end, parent → j; at the root, the import
///             from upstream (P_0, Q_0);
///   v_j       squared voltage magnitude;
///   ℓ_j       squared current of branch j (SOC model, branches with impedance only).
/// Balance at every bus j (rows of `activeBalance` / `reactiveBalance`, row i = bus i):
///   P_j − r_j ℓ_j − Σ_{k child of j} P_k + p_j^inj − p_j^load = 0
///   Q_j − x_j ℓ_j − Σ_{k child of j} Q_k + b_j v_j + q_j^inj − q_j^load = 0
/// so the dual `y` of bus j's active row, divided by the base, is the marginal cost of one more
/// kW of demand at j (`activePrices`).

/// Per-bus net injections into the feeder, kW / kVAr (positive = into the grid: generation minus
/// consumption), on top of the feeder's passive loads and capacitors, as affine expressions in
/// the caller's variables. An array may be empty (no injection anywhere) or have one entry per bus.
public struct BusInjections: Sendable {
    public var activeKW: [LinearExpression]
    public var reactiveKVAr: [LinearExpression]

    public init(activeKW: [LinearExpression] = [], reactiveKVAr: [LinearExpression] = []) {
        self.activeKW = activeKW
        self.reactiveKVAr = reactiveKVAr
    }

    /// Fixed injections (no variables).
    public static func fixed(kW: [Double], kVAr: [Double] = []) -> BusInjections {
        BusInjections(activeKW: kW.map { .constant($0) }, reactiveKVAr: kVAr.map { .constant($0) })
    }

    func active(_ bus: Int) -> LinearExpression? { bus < activeKW.count ? activeKW[bus] : nil }
    func reactive(_ bus: Int) -> LinearExpression? { bus < reactiveKVAr.count ? reactiveKVAr[bus] : nil }
}

/// Which limits a formulation adds.
public struct BranchFlowOptions: Sendable {
    /// `vMin² ≤ v_j ≤ vMax²` at every bus but the substation.
    public var voltageLimits = true
    /// `P² + Q² ≤ rating²` on lines with `rateKVA` (both ends in the SOC model).
    public var thermalLimits = true
    /// Prefix of the variable and group names (e.g. "t3." for a period), for diagnostics.
    public var namePrefix = ""
    /// Add the active power balance rows (false: the caller prices them instead, as the
    /// decomposed P2P market does with the operator's own problem; the group is then empty).
    public var activeBalance = true
    /// The SOC model's linearized voltage ceiling (`VoltageCeiling.swift`); nil for none. Ignored
    /// by LinDistFlow, whose voltages are the linearized ones.
    public var voltageCeiling: VoltageCeiling?
    /// SOC model: objective weight per pu of apparent series loss |z_j|·ℓ_j (0: none). Makes the
    /// relaxation exact where nothing else prices ℓ (reactive losses with free reactive power,
    /// near-zero resistance); set by the relaxation-exactness policy (`RelaxationRecovery`).
    public var lossPenalty = 0.0

    public init() {}
}

/// Where a formulation put its variables and rows in the builder.
public struct BranchFlowModel: Sendable {
    public let model: NetworkModel
    public let feeder: Feeder
    /// Variable index per bus: P_j, Q_j (pu, the root's entry is the substation import), v_j.
    public let p: [Int]
    public let q: [Int]
    public let v: [Int]
    /// Squared current per bus's branch; -1 at the root, on zero-impedance branches, and
    /// everywhere in LinDistFlow.
    public let l: [Int]
    /// Per-bus active / reactive balance rows (row i of the group is bus i).
    public let activeBalance: ConstraintGroup
    public let reactiveBalance: ConstraintGroup
    /// Voltage-drop rows, one per bus (the root's row fixes v_root = vSubstation²).
    public let voltageDrop: ConstraintGroup
    /// Voltage limit rows: lower then upper, row 2i and 2i+1 for bus i (the root's rows are kept
    /// slack by widening its bounds to include vSubstation); nil when not enforced.
    public let voltageLimits: ConstraintGroup?
    /// Relaxed branch equations `‖(2P, 2Q, v_par − ℓ)‖ ≤ v_par + ℓ` (SOC model).
    public internal(set) var branchCones: ConstraintGroup?
    /// Thermal-limit cones; nil when no line is rated or limits are off.
    public internal(set) var thermalLimits: ConstraintGroup?
    /// The linearized voltage ceiling (SOC model with `BranchFlowOptions.voltageCeiling`).
    public internal(set) var ceiling: VoltageCeilingRows?

    /// Substation import P_0 in kW, as an expression for the caller's objective.
    public var substationImportKW: LinearExpression { .variable(p[feeder.root], feeder.baseKVA) }
    /// Substation reactive import Q_0 in kVAr.
    public var substationImportKVAr: LinearExpression { .variable(q[feeder.root], feeder.baseKVA) }

    /// Marginal cost of one more kW of demand at each bus (objective units per kW), from the
    /// duals of the active balance rows; zeros when `y` does not belong to `model`.
    public func activePrices(y: [Double], model built: ConicModel) -> [Double] {
        prices(built.values(of: activeBalance, in: y))
    }

    /// Marginal cost of one more kVAr of reactive demand at each bus.
    public func reactivePrices(y: [Double], model built: ConicModel) -> [Double] {
        prices(built.values(of: reactiveBalance, in: y))
    }

    private func prices(_ duals: ArraySlice<Double>) -> [Double] {
        guard duals.count == feeder.busCount else { return [Double](repeating: 0, count: feeder.busCount) }
        return duals.map { Feeder.finite($0 / feeder.baseKVA) }
    }

    /// The solution in the caller's units (every number finite; zeros if `x` is too short).
    public func solution(x: [Double]) -> BranchFlowSolution {
        let f = feeder
        let n = f.busCount
        func value(_ i: Int) -> Double { i >= 0 && i < x.count ? Feeder.finite(x[i]) : 0 }
        var out = BranchFlowSolution(
            vPu: [Double](repeating: 0, count: n),
            pKW: [Double](repeating: 0, count: f.lineCount), qKVAr: [Double](repeating: 0, count: f.lineCount),
            lossKW: [Double](repeating: 0, count: f.lineCount), lossKVAr: [Double](repeating: 0, count: f.lineCount),
            substationPKW: f.kW(value(p[f.root])), substationQKVAr: f.kW(value(q[f.root])),
            relaxationGapPu: [Double](repeating: 0, count: n), relaxationLossKVA: [Double](repeating: 0, count: n))
        for bus in 0..<n { out.vPu[bus] = max(value(v[bus]), 0).squareRoot() }
        for bus in 0..<n where f.parent[bus] >= 0 {
            let k = f.parentLine[bus]
            let pj = value(p[bus]), qj = value(q[bus]), lj = value(l[bus])
            let lossP = f.r[bus] * lj, lossQ = f.x[bus] * lj
            if f.parentLineForward[bus] {
                out.pKW[k] = f.kW(pj)
                out.qKVAr[k] = f.kW(qj)
            } else {
                // The `from` end is bus j: what leaves j towards the parent.
                out.pKW[k] = f.kW(-(pj - lossP))
                out.qKVAr[k] = f.kW(-(qj - lossQ))
            }
            out.lossKW[k] = f.kW(lossP)
            out.lossKVAr[k] = f.kW(lossQ)
            if l[bus] >= 0 {
                let vp = max(value(v[f.parent[bus]]), 0)
                let s2 = pj * pj + qj * qj
                out.relaxationGapPu[bus] = Feeder.finite(vp * lj - s2)
                // ℓ beyond what the flow needs, (vℓ − P² − Q²)/v, times |z|: phantom series loss.
                let z = (f.r[bus] * f.r[bus] + f.x[bus] * f.x[bus]).squareRoot()
                out.relaxationLossKVA[bus] = vp > 0 ? f.kW(z * (vp * lj - s2) / vp) : 0
            }
        }
        return out
    }
}

/// A branch-flow solution in kW / kVAr and pu.
public struct BranchFlowSolution: Sendable {
    /// Per bus: voltage magnitude, pu (√v).
    public var vPu: [Double]
    /// Per network line: flow at the `from` end, positive from `from` to `to`; 0 when out of service.
    public var pKW: [Double]
    public var qKVAr: [Double]
    /// Per network line: series losses r·ℓ, x·ℓ (0 in LinDistFlow).
    public var lossKW: [Double]
    public var lossKVAr: [Double]
    public var substationPKW: Double
    public var substationQKVAr: Double
    /// Per bus's branch: v_par·ℓ − P² − Q² (pu²), 0 where there is no ℓ. Zero when the relaxation
    /// is exact.
    public var relaxationGapPu: [Double]
    /// The same gap as the series loss it invents: |z|·(ℓ − (P² + Q²)/v_par), kVA.
    public var relaxationLossKVA: [Double]

    public var totalLossKW: Double { lossKW.reduce(0, +) }
    public var totalLossKVAr: Double { lossKVAr.reduce(0, +) }
    public var maxRelaxationGapPu: Double { relaxationGapPu.map { abs($0) }.max() ?? 0 }
    public var maxRelaxationLossKVA: Double { relaxationLossKVA.map { abs($0) }.max() ?? 0 }
}

extension Feeder {
    /// Adds the network model `model` to `builder` (PowerModels style: the same market runs on
    /// either formulation).
    public func addModel(_ model: NetworkModel, to builder: inout ConicBuilder, injections: BusInjections,
                         options: BranchFlowOptions = BranchFlowOptions()) -> BranchFlowModel {
        switch model {
        // linear_angle is p2p_gne's own formulation (`addLinearAngleFlow`), which the decoder
        // keeps away from the branch-flow mechanisms; LinDistFlow is its nearest branch-flow kin.
        case .lindistflow, .linearAngle: return addLinDistFlow(to: &builder, injections: injections, options: options)
        case .socp: return addSOCBranchFlow(to: &builder, injections: injections, options: options)
        }
    }

    /// Variables and rows common to both formulations: P, Q, v, the substation voltage, the
    /// balances (with the loss terms r·ℓ, x·ℓ where `l[bus] ≥ 0`), the voltage drops (with the
    /// (r² + x²)·ℓ term likewise) and the voltage limits. The caller adds the rest and fills in
    /// the returned model's cone groups.
    func addBranchFlowCore(to builder: inout ConicBuilder, injections: BusInjections, options: BranchFlowOptions,
                           model: NetworkModel, l: [Int], p: [Int], q: [Int], v: [Int]) -> BranchFlowModel {
        let n = busCount
        let name = options.namePrefix
        let activeBalance = builder.addGroup(name + "active balance", .zero)
        let reactiveBalance = builder.addGroup(name + "reactive balance", .zero)
        let scale = 1 / baseKVA
        for bus in 0..<n {
            var ep = LinearExpression([LinearTerm(p[bus], 1)], constant: -pLoad[bus])
            var eq = LinearExpression([LinearTerm(q[bus], 1)], constant: -qLoad[bus])
            if l[bus] >= 0 {
                if r[bus] != 0 { ep.add(l[bus], -r[bus]) }
                if x[bus] != 0 { eq.add(l[bus], -x[bus]) }
            }
            for child in children(of: bus) {
                ep.add(p[child], -1)
                eq.add(q[child], -1)
            }
            // Shunts are linear in v = |V|²: the susceptance injects b·v, the conductance draws g·v.
            if bCap[bus] != 0 { eq.add(v[bus], bCap[bus]) }
            if gShunt[bus] != 0 { ep.add(v[bus], -gShunt[bus]) }
            if let inj = injections.active(bus) { ep.add(inj, times: scale) }
            if let inj = injections.reactive(bus) { eq.add(inj, times: scale) }
            if options.activeBalance { builder.addRow(activeBalance, ep) }
            builder.addRow(reactiveBalance, eq)
        }

        // v_j − v_par + 2(r P + x Q) − (r² + x²) ℓ = 0; the root: v_root = vSubstation².
        // A zero-impedance branch reduces to v_j = v_par.
        let voltageDrop = builder.addGroup(name + "voltage drop", .zero)
        for bus in 0..<n {
            let par = parent[bus]
            guard par >= 0 else {
                builder.addEquality(voltageDrop, .variable(v[bus]), vSubstation * vSubstation)
                continue
            }
            var e = LinearExpression([LinearTerm(v[bus], 1), LinearTerm(v[par], -1)])
            if r[bus] != 0 { e.add(p[bus], 2 * r[bus]) }
            if x[bus] != 0 { e.add(q[bus], 2 * x[bus]) }
            if l[bus] >= 0 { e.add(l[bus], -(r[bus] * r[bus] + x[bus] * x[bus])) }
            builder.addRow(voltageDrop, e)
        }

        var voltageLimits: ConstraintGroup?
        if options.voltageLimits {
            let g = builder.addGroup(name + "voltage limits", .nonnegative)
            let v0 = vSubstation
            for bus in 0..<n {
                let lo = bus == root ? min(vMin, v0) : vMin
                // The voltage ceiling (`VoltageCeiling`) takes over the upper limit: v ≤ v̂ makes
                // v ≤ vMax² redundant, and a second copy of the binding row (the loosened
                // ceiling meets vMax where the AC voltage does) would leave its dual undetermined.
                let ceiling = model == .socp && options.voltageCeiling != nil
                let hi = bus == root ? max(vMax, v0) : ceiling ? 2 * vMax : vMax
                builder.addGreaterEqual(g, .variable(v[bus]), lo * lo)
                builder.addLessEqual(g, .variable(v[bus]), hi * hi)
            }
            voltageLimits = g
        }
        return BranchFlowModel(model: model, feeder: self, p: p, q: q, v: v, l: l,
                               activeBalance: activeBalance, reactiveBalance: reactiveBalance,
                               voltageDrop: voltageDrop, voltageLimits: voltageLimits,
                               branchCones: nil, thermalLimits: nil, ceiling: nil)
    }

    /// P, Q and v, one of each per bus.
    func addFlowVariables(to builder: inout ConicBuilder, prefix: String) -> (p: [Int], q: [Int], v: [Int]) {
        let p = builder.addVariables(prefix + "P", count: busCount)
        let q = builder.addVariables(prefix + "Q", count: busCount)
        let v = builder.addVariables(prefix + "v", count: busCount)
        return (Array(p.range), Array(q.range), Array(v.range))
    }
}

extension BranchFlowModel {
    /// Checks a cleared solution against physics: evaluates the caller's injections at `x`, runs
    /// the exact AC power flow with them, and returns it with the largest voltage difference (pu)
    /// between the formulation's voltages and the power flow's (api.md `acVoltageErrorMaxPu`).
    public func verifyWithPowerFlow(x: [Double], injections: BusInjections,
                                    settings: PowerFlowSettings = PowerFlowSettings())
        -> (powerFlow: PowerFlowResult, maxVoltageErrorPu: Double) {
        let n = feeder.busCount
        var kW = [Double](repeating: 0, count: n), kVAr = [Double](repeating: 0, count: n)
        for bus in 0..<n {
            if let e = injections.active(bus) { kW[bus] = Feeder.finite(e.value(at: x)) }
            if let e = injections.reactive(bus) { kVAr[bus] = Feeder.finite(e.value(at: x)) }
        }
        let ac = feeder.powerFlow(injectionKW: kW, injectionKVAr: kVAr, settings: settings)
        let relaxed = solution(x: x)
        var worst = 0.0
        for bus in 0..<n { worst = max(worst, abs(ac.vPu[bus] - relaxed.vPu[bus])) }
        return (ac, worst)
    }
}
