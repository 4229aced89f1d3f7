import Testing
import ESMSolver

/// A random sparse QP/SOCP that is feasible and bounded by construction: b = Ax₀ + s₀ with
/// s₀ ∈ K, and q = −Px₁ − Aᵀy₀ with y₀ ∈ K* (so the dual is feasible).
func randomConicProblem(n: Int, zeroRows: Int, nonnegRows: Int, socCount: Int, socDim: Int,
                        density: Double, seed: UInt64) -> ConicProblem {
    var rng = TestRandom(seed: seed)
    let m = zeroRows + nonnegRows + socCount * socDim
    var t = [(row: Int, col: Int, value: Double)]()
    for i in 0..<m {
        t.append((i, rng.int(n), rng.uniform(-1, 1)))   // no empty rows
        for j in 0..<n where rng.uniform() < density { t.append((i, j, rng.uniform(-1, 1))) }
    }
    let A = SparseMatrixCSC(m: m, n: n, triplets: t)
    // P = diag(d) + a few symmetric couplings, kept diagonally dominant (PSD); some d = 0.
    var pt = [(row: Int, col: Int, value: Double)]()
    for j in 0..<n where j % 3 != 0 { pt.append((j, j, 1 + rng.uniform())) }
    for _ in 0..<(n / 4) {
        let i = rng.int(n), j = rng.int(n)
        if i < j && i % 3 != 0 && j % 3 != 0 {
            let v = 0.2 * rng.uniform(-1, 1)
            pt.append((i, j, v))
            pt.append((i, i, abs(v)))
            pt.append((j, j, abs(v)))
        }
    }
    let P = SparseMatrixCSC(m: n, n: n, triplets: pt)
    var cones: [Cone] = [.zero(zeroRows), .nonnegative(nonnegRows)]
    for _ in 0..<socCount { cones.append(.secondOrder(socDim)) }
    // s₀, y₀ interior to K (zero rows: s₀ = 0, y₀ free)
    var s0 = [Double](repeating: 0, count: m), y0 = [Double](repeating: 0, count: m)
    for i in 0..<zeroRows { y0[i] = rng.uniform(-1, 1) }
    for i in zeroRows..<(zeroRows + nonnegRows) {
        // strict complementarity-ish pattern: half active, half inactive
        if rng.uniform() < 0.5 { s0[i] = rng.uniform(0.1, 1) } else { y0[i] = rng.uniform(0.1, 1) }
    }
    var off = zeroRows + nonnegRows
    for _ in 0..<socCount {
        var norm = 0.0
        for i in (off + 1)..<(off + socDim) { s0[i] = rng.uniform(-1, 1); y0[i] = rng.uniform(-1, 1); norm += s0[i] * s0[i] }
        s0[off] = norm.squareRoot() + rng.uniform(0.1, 1)
        var ny = 0.0
        for i in (off + 1)..<(off + socDim) { ny += y0[i] * y0[i] }
        y0[off] = ny.squareRoot() + rng.uniform(0.1, 1)
        off += socDim
    }
    let x0 = (0..<n).map { _ in rng.uniform(-1, 1) }
    let x1 = (0..<n).map { _ in rng.uniform(-1, 1) }
    var b = s0
    var q = [Double](repeating: 0, count: n)
    for j in 0..<n {
        for k in A.colptr[j]..<A.colptr[j + 1] {
            b[A.rowval[k]] += A.nzval[k] * x0[j]
            q[j] -= A.nzval[k] * y0[A.rowval[k]]
        }
        for k in P.colptr[j]..<P.colptr[j + 1] {
            let i = P.rowval[k]
            q[i] -= P.nzval[k] * x1[j]
            if i != j { q[j] -= P.nzval[k] * x1[i] }
        }
    }
    return ConicProblem(P: P, q: q, A: A, b: b, cones: cones)
}

@Test func randomSparseQPSOCPMeetsKKTTolerances() {
    for seed: UInt64 in [1, 2, 3] {
        let p = randomConicProblem(n: 120, zeroRows: 10, nonnegRows: 120, socCount: 15, socDim: 4,
                                   density: 0.03, seed: seed)
        let sol = solveConic(p)
        #expect(sol.status == .solved)
        let e = kktErrors(p, sol)
        let scale = max(1, p.b.map(abs).max() ?? 0, p.q.map(abs).max() ?? 0)
        #expect(e.primal <= 1e-8 * scale && e.dual <= 1e-8 * scale)
        #expect(e.cone <= 1e-8)
        #expect(sol.primalResidual <= 1e-8 && sol.dualResidual <= 1e-8)
        #expect(sol.iterations <= 40)
    }
}

/// A radial feeder as a branch-flow SOCP (the relaxation used for distribution-grid markets):
/// bus k > 0 hangs from parent[k] by line k (r, x); per line P_k, Q_k, ℓ_k (squared current),
/// per bus v_k (squared voltage) and a flexible generator g_k ∈ [0, 0.002] with cost ½·a·g² + c·g.
///   P_k − r ℓ_k − Σ_children P_c + g_k = pLoad_k        (and the same for Q without g)
///   v_k = v_parent − 2(r P_k + x Q_k) + (r² + x²) ℓ_k,   v_0 = 1,  0.81 ≤ v ≤ 1.21
///   P_k² + Q_k² ≤ v_parent ℓ_k  as  ‖(2P_k, 2Q_k, v_parent − ℓ_k)‖ ≤ v_parent + ℓ_k
/// plus the substation import P₀ (root balance) priced at 1. Returns the problem and its size.
func radialFeederSOCP(buses: Int, seed: UInt64) -> ConicProblem {
    var rng = TestRandom(seed: seed)
    var parent = [Int](repeating: -1, count: buses)
    for k in 1..<buses { parent[k] = rng.uniform() < 0.3 ? k - 1 : max(0, k - 1 - rng.int(40)) }
    var children = [[Int]](repeating: [], count: buses)
    for k in 1..<buses { children[parent[k]].append(k) }
    // variables: per bus k: P_k, Q_k, l_k, v_k, g_k at 5k..5k+4 (for k = 0: P_0, Q_0 = import; l_0 unused = 0)
    let n = 5 * buses
    func P(_ k: Int) -> Int { 5 * k }
    func Q(_ k: Int) -> Int { 5 * k + 1 }
    func L(_ k: Int) -> Int { 5 * k + 2 }
    func V(_ k: Int) -> Int { 5 * k + 3 }
    func G(_ k: Int) -> Int { 5 * k + 4 }
    var eq = [(row: Int, col: Int, value: Double)](), beq = [Double]()
    var ineq = [(row: Int, col: Int, value: Double)](), bineq = [Double]()
    var soc = [(row: Int, col: Int, value: Double)]()
    var q = [Double](repeating: 0, count: n)
    var pd = [(row: Int, col: Int, value: Double)]()
    var socRows = 0
    for k in 0..<buses {
        let r = 0.001 + 0.002 * rng.uniform(), x = 0.001 + 0.002 * rng.uniform()
        let pl = 0.002 * rng.uniform(), ql = 0.001 * rng.uniform()
        // P balance
        var row = beq.count
        eq.append((row, P(k), 1))
        if k > 0 { eq.append((row, L(k), -r)) }
        for c in children[k] { eq.append((row, P(c), -1)) }
        eq.append((row, G(k), 1))
        beq.append(pl)
        // Q balance
        row = beq.count
        eq.append((row, Q(k), 1))
        if k > 0 { eq.append((row, L(k), -x)) }
        for c in children[k] { eq.append((row, Q(c), -1)) }
        beq.append(ql)
        // voltage
        row = beq.count
        if k == 0 {
            eq.append((row, V(0), 1))
            beq.append(1)
            row = beq.count
            eq.append((row, L(0), 1))
            beq.append(0)
        } else {
            eq.append((row, V(k), 1))
            eq.append((row, V(parent[k]), -1))
            eq.append((row, P(k), 2 * r))
            eq.append((row, Q(k), 2 * x))
            eq.append((row, L(k), -(r * r + x * x)))
            beq.append(0)
            // cone rows: s = −A x with A = −[v_p + l; 2P; 2Q; v_p − l]
            soc.append((socRows, V(parent[k]), -1)); soc.append((socRows, L(k), -1))
            soc.append((socRows + 1, P(k), -2))
            soc.append((socRows + 2, Q(k), -2))
            soc.append((socRows + 3, V(parent[k]), -1)); soc.append((socRows + 3, L(k), 1))
            socRows += 4
        }
        // bounds: 0 ≤ g ≤ 0.02, 0.81 ≤ v ≤ 1.21, ℓ ≥ 0
        let i = bineq.count
        ineq.append((i, G(k), -1)); ineq.append((i + 1, G(k), 1))
        ineq.append((i + 2, V(k), -1)); ineq.append((i + 3, V(k), 1))
        ineq.append((i + 4, L(k), -1))
        bineq.append(contentsOf: [0, 0.002, -0.81, 1.21, 0])
        // cost: generator ½a g² + c g, import at price 1
        pd.append((G(k), G(k), 20 + 10 * rng.uniform()))
        q[G(k)] = 0.5 + 0.5 * rng.uniform()
    }
    q[P(0)] = 1
    let me = beq.count, mi = bineq.count
    var t = eq
    for e in ineq { t.append((me + e.row, e.col, e.value)) }
    for e in soc { t.append((me + mi + e.row, e.col, e.value)) }
    let A = SparseMatrixCSC(m: me + mi + socRows, n: n, triplets: t)
    var cones: [Cone] = [.zero(me), .nonnegative(mi)]
    for _ in 0..<(socRows / 4) { cones.append(.secondOrder(4)) }
    return ConicProblem(P: SparseMatrixCSC(m: n, n: n, triplets: pd), q: q, A: A,
                        b: beq + bineq + [Double](repeating: 0, count: socRows), cones: cones)
}

@Test func radialFeederSOCPSolvesFast() throws {
    let p = radialFeederSOCP(buses: 800, seed: 3)
    let solver = try ConicSolver(problem: p)
    let sol = solver.solve()
    print("feeder SOCP: n = \(p.q.count), m = \(p.b.count), cones = \(p.cones.count), "
          + "nnz(KKT) = \(solver.kktNonzeros), nnz(L) = \(solver.factorNonzeros), "
          + "iterations = \(sol.iterations), solve = \(sol.solveSeconds) s, status = \(sol.status)")
    #expect(sol.status == .solved)
    let e = kktErrors(p, sol)
    #expect(e.primal < 1e-7 && e.dual < 1e-7 && e.cone < 1e-7)
    #expect(sol.iterations < 40)
    #expect(Double(solver.factorNonzeros) < 3 * Double(solver.kktNonzeros))
    // the relaxation is tight at the optimum (losses cost import): v_parent ℓ = P² + Q²
    var maxGap = 0.0
    for k in 1..<800 {
        let P = sol.x[5 * k], Q = sol.x[5 * k + 1], l = sol.x[5 * k + 2]
        let parentV = sol.s[sol.s.count - 4 * (800 - k)] - l   // first cone row is v_parent + ℓ
        maxGap = max(maxGap, parentV * l - (P * P + Q * Q))
    }
    print("feeder SOCP: max relaxation gap v·ℓ − (P² + Q²) = \(maxGap)")
    #expect(maxGap < 1e-6)
}

@Test func largeSecondOrderConesUseSparseExpansion() throws {
    // Big cones (dimension 40): expanded (default) and dense give the same solution; the
    // expanded KKT matrix is much sparser.
    let p = randomConicProblem(n: 60, zeroRows: 5, nonnegRows: 40, socCount: 3, socDim: 40, density: 0.05, seed: 8)
    var dense = SolverSettings()
    dense.socDenseMaxDimension = 1000
    let expandedSolver = try ConicSolver(problem: p)
    let denseSolver = try ConicSolver(problem: p, settings: dense)
    let a = expandedSolver.solve(), b = denseSolver.solve()
    #expect(a.status == .solved && b.status == .solved)
    #expect(maxDiff(a.x, b.x) < 1e-6)
    #expect(abs(a.objective - b.objective) < 1e-7 * max(1, abs(a.objective)))
    #expect(expandedSolver.kktNonzeros < denseSolver.kktNonzeros / 2)
    let e = kktErrors(p, a)
    #expect(e.cone < 1e-8 && e.primal < 1e-7 && e.dual < 1e-7)
}

@Test func everyConeExpandedStillSolvesTheSmallCases() {
    var s = SolverSettings()
    s.socDenseMaxDimension = 0
    let socp = solveConic(smallSOCP(), settings: s)
    #expect(socp.status == .solved)
    #expect(abs(socp.objective + 2.0.squareRoot()) < 1e-7)
    let rotated = solveConic(rotatedConeProblem(w: 1), settings: s)
    #expect(rotated.status == .solved)
    #expect(abs(rotated.objective - 2.0.squareRoot()) < 1e-7)
    var twin = smallSOCP()
    twin.A = SparseMatrixCSC(dense: [[0, 0], [-1, 0], [0, -1], [-1, 0]])
    twin.b = [1, 0, 0, -2]
    twin.cones = [.secondOrder(3), .nonnegative(1)]
    #expect(solveConic(twin, settings: s).status == .primalInfeasible)
    let feeder = solveConic(radialFeederSOCP(buses: 100, seed: 2), settings: s)
    #expect(feeder.status == .solved)
    let feederDense = solveConic(radialFeederSOCP(buses: 100, seed: 2))
    #expect(abs(feeder.objective - feederDense.objective) < 1e-7)
}
