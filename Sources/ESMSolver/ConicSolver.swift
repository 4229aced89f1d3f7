// The interior-point method: homogeneous self-dual embedding, Nesterov–Todd scaling,
// Mehrotra predictor–corrector.
//
// Embedding (Clarabel's, for quadratic objectives), on the equilibrated data:
//     P x + Aᵀz + q τ = 0,     A x + s − b τ = 0,     κ + qᵀx + bᵀz + xᵀPx/τ = 0,
//     (s, z) ∈ K × K*,  τ, κ ≥ 0,  s∘z = 0,  τκ = 0.
// A solution with τ > 0 gives the optimum (x, s, z)/τ; one with κ > 0 a certificate of
// infeasibility. Each iteration linearizes these equations at the current point; with
// H = WᵀW the Newton system reduces to two solves with the same quasi-definite matrix
//     K = [P  Aᵀ; A  −H]:   K[x₁; z₁] = [−q; b],   K[x₂; z₂] = [−d_x; d_s − d_z],
// and then, with ξ = x/τ,
//     Δτ = (d_κ/τ − d_τ − (q + 2Pξ)ᵀx₂ − bᵀz₂) / ((q + 2Pξ)ᵀx₁ + bᵀz₁ − ξᵀPξ − κ/τ),
// where the denominator equals −(‖x₁ − ξ‖²_P + ‖z₁‖²_H + κ/τ) < 0 for an exact solve;
//     Δx = x₂ + Δτ x₁,  Δz = z₂ + Δτ z₁,  Δs = −d_s − HΔz,  Δκ = −(d_κ + κΔτ)/τ.
// Predictor: d = residuals, d_s = s (= W(λ ⊘ λ∘λ)), d_κ = τκ. Corrector: d = (1 − σ)·residuals
// with σ = (1 − α_aff)³, d_s = W(λ ⊘ (λ∘λ + (W⁻¹Δs_a)∘(WΔz_a) − σμe)), d_κ = τκ + Δτ_aΔκ_a − σμ.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@inline(__always)
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// A vector owned by the solver, allocated once in setup.
private final class Workspace {
    let buffer: UnsafeMutableBufferPointer<Double>
    init(_ count: Int) {
        buffer = .allocate(capacity: count)
        buffer.initialize(repeating: 0)
    }
    deinit { buffer.deallocate() }
}

/// Solves `min ½xᵀPx + qᵀx  s.t.  Ax + s = b, s ∈ K`. Setup (validation, equilibration,
/// KKT pattern, ordering and symbolic factorization) happens once in `init`; `solve()` can be
/// called again after `update(q:)` / `update(b:)`, reusing all of it.
/// Not thread-safe per instance; distinct instances are independent.
public final class ConicSolver {
    public let settings: SolverSettings
    /// Number of variables and of constraint rows.
    public let n: Int
    public let m: Int
    /// Called once per iteration; returning true stops the solve with status `interrupted`.
    public var onIteration: ((ConicIterationInfo) -> Bool)?

    // User data (canonicalized), for the objective and residuals reported in the solution.
    private let userP: SparseMatrixCSC
    private let userA: SparseMatrixCSC
    private var userQ: [Double]
    private var userB: [Double]
    private var userQNorm = 0.0
    private var userBNorm = 0.0

    // Equilibrated data.
    private let P: SparseMatrixCSC
    private let A: SparseMatrixCSC
    private let equil: Equilibration
    private var cones: CompositeCone
    private let kkt: KKTSystem

    private let q: Workspace, b: Workspace
    private let dInv: Workspace, eInv: Workspace
    // Iterate, direction, residuals and temporaries.
    private let x: Workspace, s: Workspace, z: Workspace
    private let dx: Workspace, ds: Workspace, dz: Workspace
    private let rx: Workspace, rz: Workspace
    private let px: Workspace, ax: Workspace, atz: Workspace
    private let rhs: Workspace, sol: Workspace, sol1: Workspace
    private let dsRHS: Workspace, t1: Workspace, t2: Workspace, t3: Workspace, tn: Workspace
    private var tau = 1.0, kappa = 1.0, dtau = 0.0, dkappa = 0.0, rtau = 0.0
    // The iterate closest to the stopping criteria so far, restored if the solve ends early.
    private let bestX: Workspace, bestS: Workspace, bestZ: Workspace
    private var bestTau = 1.0, bestKappa = 1.0, bestMerit = Double.infinity

    /// Entries of the KKT upper triangle and of the strict lower triangle of its factor L.
    public var kktNonzeros: Int { kkt.nnzKKT }
    public var factorNonzeros: Int { kkt.nnzL }

    /// Validates the problem (throwing a `ConicSolverError` that names the offending field),
    /// equilibrates it and performs the symbolic analysis of the KKT system.
    public init(problem: ConicProblem, settings: SolverSettings = SolverSettings()) throws {
        if let error = settings.validationError() { throw error }
        if let error = ConicSolver.validationError(problem) { throw error }
        self.settings = settings
        let n = problem.q.count, m = problem.b.count
        self.n = n
        self.m = m
        userP = (problem.P ?? .zeros(n, n)).canonicalized()
        userA = problem.A.canonicalized()
        userQ = problem.q
        userB = problem.b
        cones = CompositeCone(cones: problem.cones)
        var P = userP, A = userA, qs = problem.q, bs = problem.b
        var eq = Equilibration(n: n, m: m)
        eq.run(P: &P, A: &A, q: &qs, b: &bs, cones: cones, settings: settings)
        self.P = P
        self.A = A
        equil = eq
        do {
            kkt = try KKTSystem(P: P, A: A, cones: cones, settings: settings, variableStages: problem.variableStages)
        } catch {
            throw ConicSolverError(field: "P", message: "the KKT matrix could not be analysed")
        }
        q = Workspace(n); b = Workspace(m)
        dInv = Workspace(n); eInv = Workspace(m)
        x = Workspace(n); s = Workspace(m); z = Workspace(m)
        dx = Workspace(n); ds = Workspace(m); dz = Workspace(m)
        rx = Workspace(n); rz = Workspace(m)
        px = Workspace(n); ax = Workspace(m); atz = Workspace(n)
        rhs = Workspace(n + m); sol = Workspace(n + m); sol1 = Workspace(n + m)
        dsRHS = Workspace(m); t1 = Workspace(m); t2 = Workspace(m); t3 = Workspace(m); tn = Workspace(n)
        bestX = Workspace(n); bestS = Workspace(m); bestZ = Workspace(m)
        for j in 0..<n { q.buffer[j] = qs[j]; dInv.buffer[j] = 1 / eq.d[j] }
        for i in 0..<m { b.buffer[i] = bs[i]; eInv.buffer[i] = 1 / eq.e[i] }
        userQNorm = userQ.withUnsafeBufferPointer { normInf($0) }
        userBNorm = userB.withUnsafeBufferPointer { normInf($0) }
    }

    /// The first problem of `problem` as a descriptive error, or nil if it is well formed.
    public static func validationError(_ problem: ConicProblem) -> ConicSolverError? {
        let n = problem.q.count, m = problem.b.count
        for (j, v) in problem.q.enumerated() where !v.isFinite {
            return ConicSolverError(field: "q[\(j)]", message: "q[\(j)] is not finite")
        }
        for (i, v) in problem.b.enumerated() where !v.isFinite {
            return ConicSolverError(field: "b[\(i)]", message: "b[\(i)] is not finite")
        }
        if let e = problem.A.structuralError(name: "A", rows: m, cols: n) { return e }
        if let P = problem.P {
            if let e = P.structuralError(name: "P", rows: n, cols: n) { return e }
            for j in 0..<n {
                for k in P.colptr[j]..<P.colptr[j + 1] where P.rowval[k] > j {
                    return ConicSolverError(field: "P.rowval[\(k)]", message:
                        "P must be upper triangular: entry P.rowval[\(k)] = \(P.rowval[k]) lies below the diagonal of column \(j)")
                }
            }
        }
        var total = 0
        for (k, cone) in problem.cones.enumerated() {
            let d = cone.dimension
            if d < 0 || d > m {
                return ConicSolverError(field: "cones[\(k)]", message: "cones[\(k)] has dimension \(d), outside 0...\(m)")
            }
            if case .secondOrder = cone, d < 1 {
                return ConicSolverError(field: "cones[\(k)]", message: "cones[\(k)] is a second-order cone of dimension 0")
            }
            total += d
            if total > m {
                return ConicSolverError(field: "cones[\(k)]", message:
                    "cone dimensions up to cones[\(k)] sum to \(total), more than the \(m) rows of A and b")
            }
        }
        if total != m {
            return ConicSolverError(field: "cones", message: "cone dimensions sum to \(total) but A and b have \(m) rows")
        }
        for (k, v) in problem.integers.enumerated() where v < 0 || v >= n {
            return ConicSolverError(field: "integers[\(k)]", message: "integers[\(k)] = \(v) is not a variable index in 0..<\(n)")
        }
        return nil
    }

    /// Replaces q (same length, finite); the next `solve()` uses it. The equilibration computed
    /// at setup (including the cost scale) is kept, so the KKT pattern and its symbolic
    /// factorization are reused as they are.
    public func update(q newQ: [Double]) throws {
        guard newQ.count == n else {
            throw ConicSolverError(field: "q", message: "q has \(newQ.count) entries, \(n) required")
        }
        for (j, v) in newQ.enumerated() where !v.isFinite {
            throw ConicSolverError(field: "q[\(j)]", message: "q[\(j)] is not finite")
        }
        userQ = newQ
        for j in 0..<n { q.buffer[j] = equil.c * equil.d[j] * newQ[j] }
        userQNorm = newQ.withUnsafeBufferPointer { normInf($0) }
    }

    /// Replaces b (same length, finite); the next `solve()` uses it (setup reused as for q).
    public func update(b newB: [Double]) throws {
        guard newB.count == m else {
            throw ConicSolverError(field: "b", message: "b has \(newB.count) entries, \(m) required")
        }
        for (i, v) in newB.enumerated() where !v.isFinite {
            throw ConicSolverError(field: "b[\(i)]", message: "b[\(i)] is not finite")
        }
        userB = newB
        for i in 0..<m { b.buffer[i] = equil.e[i] * newB[i] }
        userBNorm = newB.withUnsafeBufferPointer { normInf($0) }
    }

    // MARK: - Iteration state summaries

    private struct Measures {
        var pobj = 0.0, dobj = 0.0
        var primalResidual = 0.0, dualResidual = 0.0   // relative, unscaled
        var gapAbs = 0.0, gapRel = 0.0
        var mu = 0.0
    }

    private struct Tolerances {
        var gapAbs: Double, gapRel: Double, feas: Double, infeas: Double
    }

    /// Residuals of the embedding at the current point, and their unscaled measures. The
    /// residuals are relative to the data (1 + ‖b‖∞, 1 + ‖q‖∞), as a user checks them.
    private func computeResiduals() -> Measures {
        let n = self.n, m = self.m
        let x = self.x.buffer, s = self.s.buffer, z = self.z.buffer
        let q = self.q.buffer, b = self.b.buffer, px = self.px.buffer, ax = self.ax.buffer, atz = self.atz.buffer
        let rx = self.rx.buffer, rz = self.rz.buffer, dInv = self.dInv.buffer, eInv = self.eInv.buffer
        for j in 0..<n { px[j] = 0; atz[j] = 0 }
        for i in 0..<m { ax[i] = 0 }
        symmetricUpperMulAdd(P, UnsafeBufferPointer(x), px)
        sparseMulAdd(A, UnsafeBufferPointer(x), ax)
        sparseMulTransposeAdd(A, UnsafeBufferPointer(z), atz)
        let xPx = dot(UnsafeBufferPointer(x), UnsafeBufferPointer(px))
        let qx = dot(UnsafeBufferPointer(q), UnsafeBufferPointer(x))
        let bz = dot(UnsafeBufferPointer(b), UnsafeBufferPointer(z))
        var rxN = 0.0
        for j in 0..<n {
            rx[j] = px[j] + atz[j] + q[j] * tau
            rxN = max(rxN, abs(rx[j] * dInv[j]))
        }
        var rzN = 0.0
        for i in 0..<m {
            rz[i] = ax[i] + s[i] - b[i] * tau
            rzN = max(rzN, abs(rz[i] * eInv[i]))
        }
        rtau = kappa + qx + bz + xPx / tau
        let c = equil.c
        var meas = Measures()
        let it = 1 / tau
        meas.pobj = (0.5 * xPx * it * it + qx * it) / c
        meas.dobj = (-0.5 * xPx * it * it - bz * it) / c
        meas.primalResidual = rzN * it / (1 + userBNorm)
        meas.dualResidual = rxN * it / c / (1 + userQNorm)
        meas.gapAbs = abs(meas.pobj - meas.dobj)
        meas.gapRel = meas.gapAbs / max(1, min(abs(meas.pobj), abs(meas.dobj)))
        let sz = dot(UnsafeBufferPointer(s), UnsafeBufferPointer(z))
        meas.mu = (sz + tau * kappa) / Double(cones.degree + 1)
        return meas
    }

    private func isSolved(_ meas: Measures, _ tol: Tolerances) -> Bool {
        meas.primalResidual <= tol.feas && meas.dualResidual <= tol.feas
            && (meas.gapAbs <= tol.gapAbs || meas.gapRel <= tol.gapRel)
    }

    /// Aᵀy ≈ 0 relative to bᵀy < 0, y = E z (a positive multiple of the unscaled dual).
    private func isPrimalInfeasible(_ tol: Double) -> Bool { primalCertificateRatio() <= tol }

    /// ‖Aᵀy‖∞ / (−bᵀy) of the current iterate as a certificate of primal infeasibility (+∞ when
    /// it is none: κ ≤ τ or bᵀy ≥ 0).
    private func primalCertificateRatio() -> Double {
        if !(kappa > tau) { return .infinity }
        let bz = dot(UnsafeBufferPointer(b.buffer), UnsafeBufferPointer(z.buffer))
        if !(bz < 0) { return .infinity }
        var atyN = 0.0
        for j in 0..<n { atyN = max(atyN, abs(atz.buffer[j] * dInv.buffer[j])) }
        return atyN / -bz
    }

    /// Px ≈ 0 and Ax + s ≈ 0 relative to qᵀx < 0, on the unscaled direction (D x, E⁻¹ s).
    private func isDualInfeasible(_ tol: Double) -> Bool { dualCertificateRatio() <= tol }

    /// max(‖Px‖∞, ‖Ax + s‖∞) / (−qᵀx) as a certificate of dual infeasibility (+∞ when it is none).
    private func dualCertificateRatio() -> Double {
        if !(kappa > tau) { return .infinity }
        let qx = dot(UnsafeBufferPointer(q.buffer), UnsafeBufferPointer(x.buffer)) / equil.c
        if !(qx < 0) { return .infinity }
        var pxN = 0.0, resN = 0.0
        for j in 0..<n { pxN = max(pxN, abs(px.buffer[j] * dInv.buffer[j])) }
        pxN /= equil.c
        for i in 0..<m { resN = max(resN, abs((ax.buffer[i] + s.buffer[i]) * eInv.buffer[i])) }
        return max(pxN, resN) / -qx
    }

    private var fullTolerances: Tolerances {
        Tolerances(gapAbs: settings.gapAbsTolerance, gapRel: settings.gapRelTolerance,
                   feas: settings.feasibilityTolerance, infeas: settings.infeasibilityTolerance)
    }
    private var reducedTolerances: Tolerances {
        Tolerances(gapAbs: settings.reducedGapAbsTolerance, gapRel: settings.reducedGapRelTolerance,
                   feas: settings.reducedFeasibilityTolerance, infeas: settings.reducedInfeasibilityTolerance)
    }

    /// The status the reduced tolerances allow, or `fallback`.
    private func reducedStatus(_ meas: Measures, fallback: ConicStatus) -> ConicStatus {
        let tol = reducedTolerances
        if isSolved(meas, tol) { return .solvedInaccurate }
        if isPrimalInfeasible(tol.infeas) { return .primalInfeasible }
        if isDualInfeasible(tol.infeas) { return .dualInfeasible }
        return fallback
    }

    /// How far the iterate is from the nearest full stopping criterion — solved, or a certificate
    /// of infeasibility (≤ 1 means met). The certificates count too: an infeasible problem's
    /// iterates can break down numerically (τ → 0) just after their best certificate, which the
    /// reduced tolerances must still see.
    private func merit(_ meas: Measures) -> Double {
        let gap = min(meas.gapAbs / settings.gapAbsTolerance, meas.gapRel / settings.gapRelTolerance)
        let solved = max(meas.primalResidual / settings.feasibilityTolerance,
                         meas.dualResidual / settings.feasibilityTolerance, gap)
        let certificate = min(primalCertificateRatio(), dualCertificateRatio()) / settings.infeasibilityTolerance
        return min(solved, certificate)
    }

    private func saveBest(_ meas: Measures) {
        let value = merit(meas)
        if !(value < bestMerit) { return }
        bestMerit = value
        for j in 0..<n { bestX.buffer[j] = x.buffer[j] }
        for i in 0..<m { bestS.buffer[i] = s.buffer[i]; bestZ.buffer[i] = z.buffer[i] }
        bestTau = tau
        bestKappa = kappa
    }

    /// Ends a solve that did not meet the full tolerances: back to the best iterate seen (if
    /// the current one is worse), then the reduced tolerances decide between a reduced-accuracy
    /// status and `fallback`.
    private func finishEarly(_ meas: inout Measures, fallback: ConicStatus) -> ConicStatus {
        let now = reducedStatus(meas, fallback: fallback)
        if now.isInfeasible { return now }
        let current = merit(meas)
        if bestMerit < current || !current.isFinite {
            for j in 0..<n { x.buffer[j] = bestX.buffer[j] }
            for i in 0..<m { s.buffer[i] = bestS.buffer[i]; z.buffer[i] = bestZ.buffer[i] }
            tau = bestTau
            kappa = bestKappa
            meas = computeResiduals()
            return reducedStatus(meas, fallback: fallback)
        }
        return now
    }

    // MARK: - Newton step

    /// Solves the Newton system for the right-hand side (`residualScale`·residuals, d_s in
    /// `dsRHS`, `dkappaRHS`), leaving the direction in dx, ds, dz, dtau, dkappa.
    private func newtonDirection(residualScale: Double, dkappaRHS: Double) -> Bool {
        let n = self.n, m = self.m
        let rhs = self.rhs.buffer, sol = self.sol.buffer, sol1 = self.sol1.buffer
        let rx = self.rx.buffer, rz = self.rz.buffer, dsRHS = self.dsRHS.buffer
        for j in 0..<n { rhs[j] = -residualScale * rx[j] }
        for i in 0..<m { rhs[n + i] = dsRHS[i] - residualScale * rz[i] }
        kkt.solve(UnsafeBufferPointer(rhs), sol)
        let x = self.x.buffer, px = self.px.buffer, q = self.q.buffer, b = self.b.buffer, tn = self.tn.buffer
        let invTau = 1 / tau
        // (q + 2Pξ)ᵀx₂ + bᵀz₂
        var num2 = 0.0
        for j in 0..<n { num2 += (q[j] + 2 * px[j] * invTau) * sol[j] }
        for i in 0..<m { num2 += b[i] * sol[n + i] }
        // Denominator (q + 2Pξ)ᵀx₁ + bᵀz₁ − ξᵀPξ − κ/τ, in the form that matches the (regularized)
        // solve actually performed. For an exact solve it equals −(‖x₁ − ξ‖²_P + ‖z₁‖²_H + κ/τ) < 0;
        // should rounding give it the wrong sign, that form is used instead.
        var den = -kappa * invTau
        var xiPxi = 0.0
        for j in 0..<n {
            den += (q[j] + 2 * px[j] * invTau) * sol1[j]
            xiPxi += x[j] * px[j]
        }
        den -= xiPxi * invTau * invTau
        for i in 0..<m { den += b[i] * sol1[n + i] }
        if !(den < 0) {
            for j in 0..<n { tn[j] = sol1[j] - x[j] * invTau }
            var quad = 0.0
            if P.nnz > 0 {
                let tmp = dx.buffer   // scratch, overwritten below
                for j in 0..<n { tmp[j] = 0 }
                symmetricUpperMulAdd(P, UnsafeBufferPointer(tn), tmp)
                quad = dot(UnsafeBufferPointer(tn), UnsafeBufferPointer(tmp))
            }
            let z1 = UnsafeBufferPointer(rebasing: UnsafeBufferPointer(sol1)[n..<(n + m)])
            cones.mulW(z1, t1.buffer)
            var zHz = 0.0
            for i in 0..<m { zHz += t1.buffer[i] * t1.buffer[i] }
            den = -(max(quad, 0) + zHz + kappa * invTau)
        }
        let denominator = den
        let dtauRHS = residualScale * rtau
        let step = (dkappaRHS * invTau - dtauRHS - num2) / denominator
        if !step.isFinite { return false }
        dtau = step
        let dx = self.dx.buffer, dz = self.dz.buffer, ds = self.ds.buffer
        for j in 0..<n { dx[j] = sol[j] + step * sol1[j] }
        for i in 0..<m { dz[i] = sol[n + i] + step * sol1[n + i] }
        // Δs = −d_s − W(WΔz)
        cones.mulW(UnsafeBufferPointer(dz), t1.buffer)
        cones.mulW(UnsafeBufferPointer(t1.buffer), t2.buffer)
        for i in 0..<m { ds[i] = -dsRHS[i] - t2.buffer[i] }
        dkappa = -(dkappaRHS + kappa * step) * invTau
        return true
    }

    /// Largest step in [0, 1] keeping s, z, τ, κ in their cones.
    private func maxStep() -> Double {
        var alpha = 1.0
        if dtau < 0 { alpha = min(alpha, -tau / dtau) }
        if dkappa < 0 { alpha = min(alpha, -kappa / dkappa) }
        alpha = cones.stepLength(UnsafeBufferPointer(s.buffer), UnsafeBufferPointer(ds.buffer), alphaMax: alpha)
        alpha = cones.stepLength(UnsafeBufferPointer(z.buffer), UnsafeBufferPointer(dz.buffer), alphaMax: alpha)
        return max(alpha, 0)
    }

    // MARK: - Solve

    /// Runs the interior-point method from a fresh initial point.
    public func solve() -> ConicSolution {
        let start = monotonicSeconds()
        let n = self.n, m = self.m
        if n == 0 && m == 0 {
            return ConicSolution(status: .solved, x: [], y: [], s: [], objective: 0, iterations: 0,
                                 solveSeconds: monotonicSeconds() - start, primalResidual: 0, dualResidual: 0)
        }
        let x = self.x.buffer, s = self.s.buffer, z = self.z.buffer
        let q = self.q.buffer, b = self.b.buffer
        let rhs = self.rhs.buffer, sol1 = self.sol1.buffer

        // Initial point, with H = I on the non-zero cones, then s and z shifted into the
        // interior along e. With a quadratic objective one solve, [x; z] = K⁻¹[−q; b], s = −z.
        // Without one (P = 0) that solve mixes the two problems' scales, so x, s come from the
        // least-squares fit min ‖s‖ s.t. Ax + s = b ([x; −s] = K⁻¹[0; b]) and z from the
        // least-norm dual min ‖z‖ s.t. Aᵀz + q = 0 (z = (K⁻¹[−q; 0])_z): far better centred
        // starts on LPs and SOCPs (CVXOPT's and Clarabel's choice).
        cones.setIdentityScaling()
        kkt.setConeBlock(cones)
        if !kkt.factor() { return failure(.numericalError, iterations: 0, start: start, message: "initial factorization failed") }
        // sol1 = K⁻¹[−q; b], with either part left out
        func startingSolve(cost: Bool, rightHandSide: Bool) {
            for j in 0..<n { rhs[j] = cost ? -q[j] : 0 }
            for i in 0..<m { rhs[n + i] = rightHandSide ? b[i] : 0 }
            kkt.solve(UnsafeBufferPointer(rhs), sol1)
        }
        let split = P.nnz == 0
        startingSolve(cost: !split, rightHandSide: true)
        for j in 0..<n { x[j] = sol1[j] }
        for i in 0..<m { s[i] = -sol1[n + i]; z[i] = sol1[n + i] }
        if split {
            startingSolve(cost: true, rightHandSide: false)
            for i in 0..<m { z[i] = sol1[n + i] }
        }
        cones.shiftToInterior(s, zeroOnZeroCones: true)
        cones.shiftToInterior(z, zeroOnZeroCones: false)
        tau = 1
        kappa = 1

        var status = ConicStatus.iterationLimit
        var message = ""
        var iteration = 0
        var lastStep = 0.0
        var shortSteps = 0
        var meas = computeResiduals()
        bestMerit = .infinity
        saveBest(meas)
        let full = fullTolerances
        while true {
            if !(meas.pobj.isFinite && meas.dobj.isFinite && meas.mu.isFinite && tau.isFinite && kappa.isFinite) {
                status = finishEarly(&meas, fallback: .numericalError)
                message = "non-finite iterate"
                break
            }
            if isSolved(meas, full) { status = .solved; break }
            if isPrimalInfeasible(full.infeas) { status = .primalInfeasible; break }
            if isDualInfeasible(full.infeas) { status = .dualInfeasible; break }
            if iteration >= settings.maxIterations {
                status = finishEarly(&meas, fallback: .iterationLimit)
                break
            }
            let elapsed = monotonicSeconds() - start
            if elapsed > settings.timeLimitSeconds {
                status = finishEarly(&meas, fallback: .timeLimit)
                break
            }
            if let callback = onIteration {
                let info = ConicIterationInfo(
                    iteration: iteration, primalObjective: meas.pobj, dualObjective: meas.dobj,
                    primalResidual: meas.primalResidual, dualResidual: meas.dualResidual, mu: meas.mu,
                    tau: tau, kappa: kappa, stepLength: lastStep, elapsedSeconds: elapsed)
                if callback(info) { status = .interrupted; break }
            }
            iteration += 1

            // Scaling and factorization.
            if !cones.updateScaling(s: UnsafeBufferPointer(s), z: UnsafeBufferPointer(z)) {
                status = finishEarly(&meas, fallback: .numericalError)
                message = "iterate left the cone"
                break
            }
            kkt.setConeBlock(cones)
            if !kkt.factor() {
                status = finishEarly(&meas, fallback: .numericalError)
                message = "KKT factorization failed"
                break
            }
            for j in 0..<n { rhs[j] = -q[j] }
            for i in 0..<m { rhs[n + i] = b[i] }
            kkt.solve(UnsafeBufferPointer(rhs), sol1)

            // Predictor (affine scaling).
            let dsRHS = self.dsRHS.buffer
            for i in 0..<m { dsRHS[i] = s[i] }
            if !newtonDirection(residualScale: 1, dkappaRHS: tau * kappa) {
                status = finishEarly(&meas, fallback: .numericalError)
                message = "non-finite Newton direction"
                break
            }
            let alphaAffine = maxStep()
            let sigma = pow(1 - alphaAffine, 3)
            let mu = meas.mu

            // Corrector: d_s = W(λ ⊘ (λ∘λ + (W⁻¹Δs_a)∘(WΔz_a) − σμe)).
            let t1 = self.t1.buffer, t2 = self.t2.buffer, t3 = self.t3.buffer
            cones.mulWInverse(UnsafeBufferPointer(ds.buffer), t1)
            cones.mulW(UnsafeBufferPointer(dz.buffer), t2)
            cones.jordanProduct(UnsafeBufferPointer(t1), UnsafeBufferPointer(t2), t3)
            cones.lambda.withUnsafeBufferPointer { l in
                cones.jordanProduct(l, l, t1)
            }
            for i in 0..<m { t1[i] += t3[i] }
            cones.addIdentity(t1, -sigma * mu)
            cones.lambdaDivide(UnsafeBufferPointer(t1), t2)
            cones.mulW(UnsafeBufferPointer(t2), dsRHS)
            let dkappaRHS = tau * kappa + dtau * dkappa - sigma * mu
            if !newtonDirection(residualScale: 1 - sigma, dkappaRHS: dkappaRHS) {
                status = finishEarly(&meas, fallback: .numericalError)
                message = "non-finite Newton direction"
                break
            }
            let alpha = min(1, settings.maxStepFraction * maxStep())
            lastStep = alpha

            let dx = self.dx.buffer, ds = self.ds.buffer, dz = self.dz.buffer
            for j in 0..<n { x[j] += alpha * dx[j] }
            for i in 0..<m { s[i] += alpha * ds[i]; z[i] += alpha * dz[i] }
            tau += alpha * dtau
            kappa += alpha * dkappa
            meas = computeResiduals()
            saveBest(meas)

            if alpha < settings.minStepLength { shortSteps += 1 } else { shortSteps = 0 }
            if shortSteps >= 3 || alpha == 0 {
                if isSolved(meas, full) { status = .solved; break }
                status = finishEarly(&meas, fallback: .numericalError)
                message = "insufficient progress"
                break
            }
        }
        if status.isInfeasible && !message.isEmpty {
            message = "certificate met at the reduced tolerance before the iteration stopped (\(message))"
        }
        return makeSolution(status: status, iterations: iteration, start: start, message: message)
    }

    private func failure(_ status: ConicStatus, iterations: Int, start: Double, message: String) -> ConicSolution {
        ConicSolution(status: status, x: [Double](repeating: 0, count: n), y: [Double](repeating: 0, count: m),
                      s: [Double](repeating: 0, count: m), objective: 0, iterations: iterations,
                      solveSeconds: monotonicSeconds() - start, primalResidual: 0, dualResidual: 0, message: message)
    }

    /// Unscales the current point into a solution (or certificate) for `status`.
    private func makeSolution(status: ConicStatus, iterations: Int, start: Double, message: String) -> ConicSolution {
        let n = self.n, m = self.m
        var xs = [Double](repeating: 0, count: n)
        var ys = [Double](repeating: 0, count: m)
        var ss = [Double](repeating: 0, count: m)
        let d = equil.d, e = equil.e, c = equil.c
        switch status {
        case .primalInfeasible:
            for i in 0..<m { ys[i] = e[i] * z.buffer[i] }
            var by = 0.0
            for i in 0..<m { by += userB[i] * ys[i] }
            if by < 0 { for i in 0..<m { ys[i] /= -by } }
        case .dualInfeasible:
            for j in 0..<n { xs[j] = d[j] * x.buffer[j] }
            for i in 0..<m { ss[i] = s.buffer[i] / e[i] }
            var qx = 0.0
            for j in 0..<n { qx += userQ[j] * xs[j] }
            if qx < 0 {
                for j in 0..<n { xs[j] /= -qx }
                for i in 0..<m { ss[i] /= -qx }
            }
        default:
            let it = 1 / tau
            for j in 0..<n { xs[j] = d[j] * x.buffer[j] * it }
            for i in 0..<m {
                ss[i] = s.buffer[i] / e[i] * it
                ys[i] = e[i] * z.buffer[i] * it / c
            }
        }
        var solution = ConicSolution(status: status, x: xs, y: ys, s: ss, objective: 0, iterations: iterations,
                                     solveSeconds: 0, primalResidual: 0, dualResidual: 0, message: message)
        let allFinite = xs.allSatisfy { $0.isFinite } && ys.allSatisfy { $0.isFinite } && ss.allSatisfy { $0.isFinite }
        if !allFinite {
            return failure(.numericalError, iterations: iterations, start: start,
                           message: message.isEmpty ? "non-finite solution" : message)
        }
        if !status.isInfeasible {
            let (obj, pres, dres) = evaluate(x: xs, y: ys, s: ss)
            if obj.isFinite && pres.isFinite && dres.isFinite {
                solution.objective = obj
                solution.primalResidual = pres
                solution.dualResidual = dres
            } else {
                return failure(.numericalError, iterations: iterations, start: start, message: "non-finite residuals")
            }
        }
        solution.solveSeconds = monotonicSeconds() - start
        return solution
    }

    /// Objective and relative residuals of (x, y, s) on the user's data.
    func evaluate(x xs: [Double], y ys: [Double], s ss: [Double]) -> (Double, Double, Double) {
        var pxv = [Double](repeating: 0, count: n)
        var axv = [Double](repeating: 0, count: m)
        var atyv = [Double](repeating: 0, count: n)
        xs.withUnsafeBufferPointer { xb in
            pxv.withUnsafeMutableBufferPointer { symmetricUpperMulAdd(userP, xb, $0) }
            axv.withUnsafeMutableBufferPointer { sparseMulAdd(userA, xb, $0) }
        }
        ys.withUnsafeBufferPointer { yb in
            atyv.withUnsafeMutableBufferPointer { sparseMulTransposeAdd(userA, yb, $0) }
        }
        var obj = 0.0
        var dres = 0.0
        for j in 0..<n {
            obj += 0.5 * xs[j] * pxv[j] + userQ[j] * xs[j]
            dres = max(dres, abs(pxv[j] + atyv[j] + userQ[j]))
        }
        var pres = 0.0
        for i in 0..<m { pres = max(pres, abs(axv[i] + ss[i] - userB[i])) }
        return (obj, pres / (1 + userBNorm), dres / (1 + userQNorm))
    }
}

/// Solves `problem` in one call. Invalid input gives status `numericalError` with the reason in
/// `message` (use `ConicSolver(problem:settings:)` to get the structured `ConicSolverError`).
/// With `integers`, the binaries are handled by `solveMixedInteger` (default branch-and-bound
/// settings around `settings`) and `onIteration` is called once per node, with `iteration` the
/// node count, `primalObjective` the incumbent (greatestFiniteMagnitude before one exists) and
/// `dualObjective` the best bound.
public func solveConic(_ problem: ConicProblem, settings: SolverSettings = SolverSettings(),
                       onIteration: ((ConicIterationInfo) -> Bool)? = nil) -> ConicSolution {
    if !problem.integers.isEmpty {
        var bb = BranchAndBoundSettings()
        bb.solver = settings
        bb.timeLimitSeconds = settings.timeLimitSeconds
        let progress: ((BranchAndBoundProgress) -> Bool)? = onIteration.map { callback in
            { p in
                callback(ConicIterationInfo(iteration: p.nodes, primalObjective: p.incumbentObjective,
                                            dualObjective: p.bestBound, primalResidual: 0, dualResidual: 0,
                                            mu: 0, tau: 1, kappa: 0, stepLength: 0, elapsedSeconds: p.elapsedSeconds))
            }
        }
        return solveMixedInteger(problem, settings: bb, onProgress: progress).conicSolution
    }
    do {
        let solver = try ConicSolver(problem: problem, settings: settings)
        solver.onIteration = onIteration
        return solver.solve()
    } catch {
        let n = problem.q.count, m = problem.b.count
        return ConicSolution(status: .numericalError, x: [Double](repeating: 0, count: n),
                             y: [Double](repeating: 0, count: m), s: [Double](repeating: 0, count: m),
                             objective: 0, iterations: 0, solveSeconds: 0, primalResidual: 0, dualResidual: 0,
                             message: "invalid input: \(error)")
    }
}
