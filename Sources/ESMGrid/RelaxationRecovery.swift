import ESMSolver

/// The relaxation-exactness policy of every mechanism that clears over the SOC branch-flow model:
/// no answer is called solved unless the AC power flow of its injections is the relaxation's state
/// and meets the voltage limits.
///
/// 1. Solve the relaxation as posed and check it (`BranchFlowModel.exactness`): the AC power flow
///    of the cleared injections must converge, agree with the relaxation's voltages and keep every
///    bus within [vMin, vMax], each to `tolerancePu`. Exact: done, nothing changes.
/// 2. Otherwise (phantom losses, typically under reverse flow against an upper voltage limit)
///    solve again with the linearized voltage ceiling v̂ ≤ vMax² (`VoltageCeiling.swift`): on a
///    radial feeder v ≤ v̂ at every point, and the ceiling makes the relaxation exact when the
///    objective rewards less loss (Gan, Li, Topcu, Low 2015).
/// 3. The ceiling is conservative by v̂ − v_AC (second order in the currents). Loosen it bus by
///    bus by that amount measured at the last answer, δ_j = v̂_j − v_AC,j², and solve again while the
///    answer stays exact and AC-feasible and the allowances still move: each step's constraint is
///    the AC limit with the gap frozen at the previous point, and the answers approach the AC limit
///    from inside (more export, larger δ, so v_AC stays below vMax²). The last exact answer is
///    reported, then polished (step 5).
/// 4. When the ceiling of step 2 leaves no feasible point (or an inexact one), search for an
///    AC-feasible start by least violation: the elastic ceiling v̂ − s ≤ vMax² + δ, s ≥ 0 priced at
///    `elasticWeight`, with δ loosened as in step 3 after each solve. The first answer whose AC
///    power flow meets the limits starts step 3; if none does, `Outcome.noFeasiblePoint` with the
///    closest answer and its AC power flow, whose worst bus the caller names (`infeasible`). This
///    is a search, not a proof: the claim is "no AC-feasible point found".
/// 5. Polish (`polish`): at the buses near vMax, correct the ceiling row to the AC voltage
///    linearized at the answer (sensitivities by central differences of the AC power flow), and
///    iterate — a sequential linearization whose fixed point meets the AC optimality conditions
///    (step 3's fixed point freezes the gap, which moves with the injections: 1.7e-3 above the AC
///    optimum on a small case, 5e-8 after the polish; Tests/python/test_relaxation_exactness.py).
///    Only answers solved to the full tolerances are kept; the polish stops at the first that is not.
///
/// An answer inexact *within* the voltage limits has phantom losses that nothing prices (reactive
/// losses while reactive power is free, near-zero resistances): it is solved again with a small
/// penalty on the apparent series loss |z|ℓ (`lossPenalties`, at most 1 % of the price scale per
/// kVA), the first exact answer kept. One that stays inexact (e.g. a negative import price rewards
/// burning power in phantom losses) is returned with `exact == false`: the caller must not call it
/// solved (status `relaxation_inexact`).
///
/// Generic over what one solve returns (`T`): the caller supplies `solve(tightening)` (nil: as
/// posed), building its problem with `RelaxationTightening.apply(to:)` on its branch-flow options,
/// and reads the point back with `point(_:)` (nil when that solve has no solution). The answer
/// reported is optimal for its tightened problem; the tightening is in `Outcome.tightening`.
public struct RelaxationRecovery: Sendable {
    /// The AC check's tolerance on voltages, pu.
    public var tolerancePu = 1e-6
    /// Solves after the first, at most, in steps 2–4 (each is one convex solve; the polish has its
    /// own `maxPolishSolves`).
    public var maxRefinements = 12
    /// Stop refining when no allowance moves by more than this, pu².
    public var allowanceStepPu2 = 1e-9
    /// S_ref of the relative relaxation gap (the feeder's total apparent demand, kVA).
    public var referenceKVA: Double

    public init(referenceKVA: Double) { self.referenceKVA = referenceKVA }

    /// What one solve returned, for the check.
    public struct Point {
        public var x: [Double]
        public var flow: BranchFlowModel
        public var injections: BusInjections
        /// The solve met its full tolerances (the polish keeps only such answers: its prices are
        /// duals).
        public var accurate: Bool

        public init(x: [Double], flow: BranchFlowModel, injections: BusInjections, accurate: Bool = true) {
            self.x = x
            self.flow = flow
            self.injections = injections
            self.accurate = accurate
        }
    }

    public struct Outcome<T> {
        /// The solve to report.
        public var value: T
        /// How it was solved (nil: the relaxation as posed).
        public var tightening: RelaxationTightening?
        /// Its check; nil when it has no point (then `tightening` non-nil means: no AC-feasible
        /// point found under the ceiling).
        public var check: ExactnessCheck?
        /// Solves beyond the first.
        public var recoverySolves: Int
        /// No AC-feasible point was found: `value` is the least-violation answer under the elastic
        /// `ceiling`, and `check` its AC power flow (the caller answers infeasible, naming the bus
        /// of `check.worstBus`).
        public var noFeasiblePoint = false
        public var exact: Bool { check?.exact ?? false }
    }

    public func run<T>(solve: (RelaxationTightening?) throws -> T, point: (T) -> Point?) rethrows -> Outcome<T> {
        let first = try solve(nil)
        guard let p = point(first), p.flow.model == .socp else {
            return Outcome(value: first, tightening: nil, check: nil, recoverySolves: 0)
        }
        let check = exactness(p)
        if check.exact { return Outcome(value: first, tightening: nil, check: check, recoverySolves: 0) }

        var solves = 0
        if check.powerFlow.converged && check.violationPu <= tolerancePu {
            // Within the limits: phantom losses that nothing prices (reactive losses with free
            // reactive power, near-zero resistance, or a price that rewards losses). Price them.
            for weight in Self.lossPenalties {
                let tightening = RelaxationTightening(lossPenalty: weight)
                let attempt = try solve(tightening)
                solves += 1
                guard let q = point(attempt) else { break }
                let c = exactness(q)
                if c.exact { return Outcome(value: attempt, tightening: tightening, check: c, recoverySolves: solves) }
            }
            return Outcome(value: first, tightening: nil, check: check, recoverySolves: solves)
        }
        // Step 2: the hard ceiling; where Gan's condition fails (heavy flows) the relaxation can
        // stay inexact under it, and a loss penalty, the least that works, is kept for what follows.
        var ceiling = VoltageCeiling()
        var penalty = 0.0
        var attempt = try solve(RelaxationTightening(ceiling: ceiling))
        solves += 1
        var exactUnderCeiling = point(attempt).map { exactness($0).exact } ?? false
        if !exactUnderCeiling && point(attempt) != nil {
            for weight in Self.lossPenalties {
                let tried = try solve(RelaxationTightening(ceiling: ceiling, lossPenalty: weight))
                solves += 1
                guard let q = point(tried) else { break }
                if exactness(q).exact {
                    (attempt, penalty, exactUnderCeiling) = (tried, weight, true)
                    break
                }
            }
        }
        if !exactUnderCeiling {
            // The ceiling overstates the voltages: find an AC-feasible start by least violation.
            let search = try leastViolation(solve: solve, point: point, solves: &solves)
            guard let start = search.start else {
                guard let (value, tightening, c) = search.last else {
                    return Outcome(value: attempt, tightening: RelaxationTightening(ceiling: ceiling), check: nil, recoverySolves: solves)
                }
                // Infeasible only on the word of an exact answer: its AC power flow is its state.
                if c.powerFlow.converged && c.voltageErrorPu <= tolerancePu && c.violationPu > tolerancePu {
                    return Outcome(value: value, tightening: tightening, check: c, recoverySolves: solves, noFeasiblePoint: true)
                }
                // Not exact even so (e.g. a negative import price rewards losses): report the
                // relaxation as posed, inexact.
                return Outcome(value: first, tightening: nil, check: check, recoverySolves: solves)
            }
            (ceiling, penalty) = (start.ceiling ?? VoltageCeiling(), start.lossPenalty)
            attempt = try solve(RelaxationTightening(ceiling: ceiling, lossPenalty: penalty))
            solves += 1
        }
        // Step 3.
        var best: Outcome<T>?
        while true {
            guard let q = point(attempt) else { break }
            let c = exactness(q)
            guard c.exact else { break }
            best = Outcome(value: attempt, tightening: RelaxationTightening(ceiling: ceiling, lossPenalty: penalty),
                           check: c, recoverySolves: solves)
            let next = loosened(ceiling, at: q, check: c)
            if next.moved <= allowanceStepPu2 || solves > maxRefinements { break }
            ceiling = next.ceiling
            attempt = try solve(RelaxationTightening(ceiling: ceiling, lossPenalty: penalty))
            solves += 1
        }
        if var best {
            if let start = best.check, let q = point(best.value) {
                try polish(&best, from: q, check: start, penalty: penalty, solve: solve, point: point, solves: &solves)
            }
            best.recoverySolves = solves
            return best
        }
        // A start was found but the hard ceiling lost it (solver accuracy): report the relaxation.
        return Outcome(value: first, tightening: nil, check: check, recoverySolves: solves)
    }

    /// Loss penalties tried, in turn, when an inexact answer is within the voltage limits: at most
    /// 1 % of the price scale per kVA of series loss, so the answer stays an optimum of nearly the
    /// same market; beyond that the answer is left inexact.
    public static let lossPenalties = [1e-6, 1e-4, 1e-2]

    /// Linearized solves at most (step 5).
    public var maxPolishSolves = 10
    /// Buses whose AC voltage is within this of vMax (pu) get a linearized row.
    public var linearizationBand = 0.005
    /// Above this many buses with moving injections the linearization is skipped (it costs two
    /// AC power flows per such bus).
    public var maxLinearizedInjections = 400

    /// Step 5: the ceiling's fixed point is AC-feasible but freezes the gap v̂ − v_AC, which moves with
    /// the injections; replace it at the buses near vMax by the AC voltage linearized at the current
    /// point (sensitivities by central differences of the AC power flow) and solve again, a
    /// sequential linear approximation whose fixed point satisfies the AC optimality conditions.
    /// Keeps the last exact, AC-feasible answer.
    private func polish<T>(_ best: inout Outcome<T>, from start: Point, check: ExactnessCheck, penalty: Double,
                           solve: (RelaxationTightening?) throws -> T, point: (T) -> Point?, solves: inout Int) rethrows {
        var q = start, c = check
        var allowance = best.tightening?.ceiling?.allowancePu2 ?? []
        for _ in 0..<maxPolishSolves {
            guard let rows = linearization(at: q, check: c) else { return }
            let tightening = RelaxationTightening(ceiling: VoltageCeiling(allowancePu2: allowance, linearized: rows),
                                                  lossPenalty: penalty)
            let attempt = try solve(tightening)
            solves += 1
            guard let next = point(attempt) else { return }
            guard next.accurate else { return }
            let nc = exactness(next)
            guard nc.powerFlow.converged && nc.voltageErrorPu <= tolerancePu else { return }
            if nc.exact { best = Outcome(value: attempt, tightening: tightening, check: nc, recoverySolves: solves) }
            let before = q.flow.losslessInjectionPu(x: q.x), after = next.flow.losslessInjectionPu(x: next.x)
            var moved = 0.0, size = 1.0
            for i in before.indices where i < after.count {
                moved = max(moved, abs(after[i] - before[i]))
                size = max(size, abs(after[i]))
            }
            // Linear convergence (the constraint's curvature is not in the model): stop once the
            // injections settle to 1e-7 of their size.
            if moved <= 1e-7 * size && nc.exact { return }
            allowance = loosened(VoltageCeiling(allowancePu2: allowance), at: next, check: nc).ceiling.allowancePu2
            q = next
            c = nc
        }
    }

    /// The AC voltage of every bus within `linearizationBand` of vMax, linearized at `q`; nil when
    /// there is none, or too many moving injections.
    private func linearization(at q: Point, check: ExactnessCheck) -> [LinearizedVoltage]? {
        let f = q.flow.feeder
        guard q.flow.ceiling != nil else { return nil }
        let near = (0..<f.busCount).filter { $0 != f.root && check.powerFlow.vPu[$0] >= f.vMax - linearizationBand }
        let moving = (0..<f.busCount).filter { $0 != f.root && !(q.injections.active($0)?.terms.isEmpty ?? true) }
        guard !near.isEmpty, !moving.isEmpty, moving.count <= maxLinearizedInjections else { return nil }
        var kW = [Double](repeating: 0, count: f.busCount), kVAr = kW
        for bus in 0..<f.busCount {
            if let e = q.injections.active(bus) { kW[bus] = Feeder.finite(e.value(at: q.x)) }
            if let e = q.injections.reactive(bus) { kVAr[bus] = Feeder.finite(e.value(at: q.x)) }
        }
        let step = 1e-3   // pu of injection
        var sensitivity = [[(bus: Int, pu2PerPu: Double)]](repeating: [], count: near.count)
        for i in moving {
            var up = kW, down = kW
            up[i] += f.kW(step)
            down[i] -= f.kW(step)
            let a = f.powerFlow(injectionKW: up, injectionKVAr: kVAr), b = f.powerFlow(injectionKW: down, injectionKVAr: kVAr)
            guard a.converged, b.converged else { return nil }
            for (row, j) in near.enumerated() {
                let slope = (a.vPu[j] * a.vPu[j] - b.vPu[j] * b.vPu[j]) / (2 * step)
                if slope != 0 && slope.isFinite { sensitivity[row].append((i, slope)) }
            }
        }
        let psi = q.flow.losslessInjectionPu(x: q.x)
        let vHat = q.flow.linearizedVoltagePu2(x: q.x)
        return near.enumerated().map { row, j in
            // c_i = ∂v_AC,j²/∂ψ_i − ∂v̂_j/∂ψ_i, the latter 2 Σ r over the path shared by i and j.
            let path = Set(f.pathToSubstation(from: j))
            let corrections: [(bus: Int, pu2PerPu: Double)] = sensitivity[row].map { i, slope in
                var shared = 0.0
                for b in f.pathToSubstation(from: i) where path.contains(b) && f.parent[b] >= 0 { shared += f.r[b] }
                return (i, slope - 2 * shared)
            }
            let v = check.powerFlow.vPu[j]
            let at = corrections.reduce(0.0) { $0 + $1.pu2PerPu * psi[$1.bus] }
            return LinearizedVoltage(bus: j, sensitivity: corrections, bound: f.vMax * f.vMax - v * v + vHat[j] + at)
        }
    }

    /// Weight of the elastic ceiling's violation (pu²) in the scaled objective: the cost of a
    /// market is of order one per unit, so this puts the voltage far ahead of it.
    public static let elasticWeight = 1e4

    /// Elastic ceilings, loosened by the measured v̂ − v_AC after each solve, until the AC power
    /// flow of an answer meets the limits (`start`: the hard ceiling, with the loss penalty, that
    /// keeps it feasible) or the allowances stop moving (`last`: the least-violation answer, how it
    /// was solved and its check). The loss penalty is the least of 0 and `lossPenalties` that makes
    /// the first elastic answer exact.
    private func leastViolation<T>(solve: (RelaxationTightening?) throws -> T, point: (T) -> Point?, solves: inout Int) rethrows
        -> (start: RelaxationTightening?, last: (T, RelaxationTightening, ExactnessCheck)?) {
        var elastic = VoltageCeiling(elasticWeight: Self.elasticWeight)
        var penalty = 0.0
        var last: (T, RelaxationTightening, ExactnessCheck)?
        var previous = Double.infinity
        var penalties = Self.lossPenalties[...]
        while solves <= maxRefinements + Self.lossPenalties.count {
            let tightening = RelaxationTightening(ceiling: elastic, lossPenalty: penalty)
            let value = try solve(tightening)
            solves += 1
            guard let q = point(value) else { break }
            let c = exactness(q)
            last = (value, tightening, c)
            if c.voltageErrorPu > tolerancePu && last != nil && previous == .infinity, let weight = penalties.popFirst() {
                penalty = weight   // not exact even with the elastic ceiling: price the losses
                continue
            }
            let next = loosened(elastic, at: q, check: c)
            if c.exact { return (RelaxationTightening(ceiling: VoltageCeiling(allowancePu2: next.ceiling.allowancePu2), lossPenalty: penalty), last) }
            if !c.powerFlow.converged || next.moved <= allowanceStepPu2 { break }
            // A violation far above the tolerance that no longer shrinks will not reach it.
            if c.violationPu > 100 * tolerancePu && abs(previous - c.violationPu) <= 0.01 * c.violationPu { break }
            previous = c.violationPu
            elastic = next.ceiling
        }
        return (nil, last)
    }

    private func exactness(_ q: Point) -> ExactnessCheck {
        q.flow.exactness(x: q.x, injections: q.injections, referenceKVA: referenceKVA, tolerancePu: tolerancePu)
    }

    /// The ceiling's allowance set to what it overstates the AC voltages at `q`: δ_j = v̂_j − v_AC,j².
    private func loosened(_ ceiling: VoltageCeiling, at q: Point, check: ExactnessCheck) -> (ceiling: VoltageCeiling, moved: Double) {
        let vHat = q.flow.linearizedVoltagePu2(x: q.x)
        var next = ceiling, moved = 0.0
        next.allowancePu2 = (0..<q.flow.feeder.busCount).map { bus in
            let ac = check.powerFlow.vPu[bus]
            return Feeder.finite(max(vHat[bus] - ac * ac, 0))
        }
        for bus in next.allowancePu2.indices { moved = max(moved, abs(next.allowancePu2[bus] - ceiling.allowance(bus))) }
        return (next, moved)
    }
}

/// What the recovery changes in the SOC model (`BranchFlowOptions.voltageCeiling`, `.lossPenalty`).
public struct RelaxationTightening: Sendable, Equatable {
    public var ceiling: VoltageCeiling?
    /// Objective weight per pu of apparent series loss, in the caller's scaled objective (1 = the
    /// price scale per kVA of base).
    public var lossPenalty: Double

    public init(ceiling: VoltageCeiling? = nil, lossPenalty: Double = 0) {
        self.ceiling = ceiling
        self.lossPenalty = lossPenalty
    }

    public func apply(to options: inout BranchFlowOptions) {
        options.voltageCeiling = ceiling
        options.lossPenalty = lossPenalty
    }
}

/// How a solved branch-flow model compares with the AC power flow of its own injections.
public struct ExactnessCheck: Sendable {
    public var powerFlow: PowerFlowResult
    /// max |V − V_AC| over buses, pu.
    public var voltageErrorPu: Double
    /// Largest excursion of the AC voltages beyond [vMin, vMax] (buses but the substation), pu;
    /// 0 when within.
    public var violationPu: Double
    /// max (v_par ℓ − P² − Q²) / S_ref² over branches (S_ref in pu; 1 when zero).
    public var relaxationGap: Double
    /// The AC power flow converged, agrees with the model's voltages and meets the limits.
    public var exact: Bool
    /// Lowest and highest AC voltage over the buses but the substation (its voltage when alone).
    public var minPu: Double
    public var maxPu: Double
    /// The bus of the largest excursion beyond the limits (-1 when within), and whether it is above
    /// vMax.
    public var worstBus: Int
    public var worstIsHigh: Bool
}

extension BranchFlowModel {
    /// Runs the AC power flow of the injections at `x` and compares it with the model's state.
    public func exactness(x: [Double], injections: BusInjections, referenceKVA: Double,
                          tolerancePu: Double = 1e-6) -> ExactnessCheck {
        let (ac, error) = verifyWithPowerFlow(x: x, injections: injections)
        let f = feeder
        var violation = 0.0, worstBus = -1, worstIsHigh = false
        var low = Double.infinity, high = -Double.infinity
        for bus in 0..<f.busCount where bus != f.root {
            let v = ac.vPu[bus]
            low = min(low, v)
            high = max(high, v)
            if v - f.vMax > violation { violation = v - f.vMax; worstBus = bus; worstIsHigh = true }
            if f.vMin - v > violation { violation = f.vMin - v; worstBus = bus; worstIsHigh = false }
        }
        if !low.isFinite { low = ac.vPu.first ?? 0; high = low }
        let reference = f.pu(referenceKVA)
        let scale = reference > 0 ? reference * reference : 1
        let gap = (solution(x: x).relaxationGapPu.max() ?? 0) / scale
        let exact = ac.converged && error <= tolerancePu && violation <= tolerancePu
        return ExactnessCheck(powerFlow: ac, voltageErrorPu: Feeder.finite(error), violationPu: Feeder.finite(max(violation, 0)),
                              relaxationGap: Feeder.finite(max(gap, 0)), exact: exact,
                              minPu: Feeder.finite(low), maxPu: Feeder.finite(high),
                              worstBus: worstBus, worstIsHigh: worstIsHigh)
    }
}
