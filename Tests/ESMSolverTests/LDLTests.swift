import Testing
import ESMSolver

/// Dense reference solve (Gaussian elimination with partial pivoting).
func denseSolve(_ a: [[Double]], _ b: [Double]) -> [Double] {
    var m = a
    var x = b
    let n = b.count
    for c in 0..<n {
        var p = c
        for r in c..<n where abs(m[r][c]) > abs(m[p][c]) { p = r }
        m.swapAt(c, p)
        x.swapAt(c, p)
        for r in (c + 1)..<max(n, c + 1) {
            let f = m[r][c] / m[c][c]
            for k in c..<n { m[r][k] -= f * m[c][k] }
            x[r] -= f * x[c]
        }
    }
    for c in stride(from: n - 1, through: 0, by: -1) {
        var acc = x[c]
        for k in (c + 1)..<max(n, c + 1) { acc -= m[c][k] * x[k] }
        x[c] = acc / m[c][c]
    }
    return x
}

@Test func ldlSolvesSmallQuasiDefiniteSystem() throws {
    // [H Bᵀ; B −G] with H = [[4,1],[1,3]], G = [[2]], B = [[1, 2]]
    let dense: [[Double]] = [[4, 1, 1], [1, 3, 2], [1, 2, -2]]
    let ldl = try QuasiDefiniteLDL(upperTriangle: upper(dense), signs: [1, 1, -1])
    try ldl.factor(values: upper(dense).nzval)
    let b = [1.0, -2, 3]
    #expect(maxDiff(ldl.solve(b), denseSolve(dense, b)) < 1e-12)
    #expect(ldl.dynamicBumps == 0)
}

@Test func ldlZeroDiagonalIsRegularizedAndRefined() throws {
    // [[0, 1], [1, 0]]: the first pivot is 0 and is bumped to +δ; refinement against the true
    // matrix recovers x = (2, 1) for b = (1, 2).
    let dense: [[Double]] = [[0, 1], [1, 0]]
    let K = SparseMatrixCSC(m: 2, n: 2, colptr: [0, 1, 3], rowval: [0, 0, 1], nzval: [0, 1, 0])
    let ldl = try QuasiDefiniteLDL(upperTriangle: K, signs: [1, -1], useOrdering: false)
    try ldl.factor(values: K.nzval)
    #expect(ldl.dynamicBumps >= 1)
    #expect(maxDiff(ldl.solve([1, 2], refinementSteps: 20), denseSolve(dense, [1, 2])) < 1e-9)
}

@Test func ldlSingletonAndEmpty() throws {
    let one = try QuasiDefiniteLDL(upperTriangle: upper([[-4]]), signs: [-1])
    try one.factor(values: [-4])
    #expect(maxDiff(one.solve([2]), [-0.5]) < 1e-15)
    let empty = try QuasiDefiniteLDL(upperTriangle: .zeros(0, 0), signs: [])
    try empty.factor(values: [])
    #expect(empty.solve([]).isEmpty)
    #expect(empty.nnzL == 0)
}

@Test func ldlRejectsLowerTriangleAndBadLengths() {
    let lower = SparseMatrixCSC(m: 2, n: 2, colptr: [0, 2, 3], rowval: [0, 1, 1], nzval: [1, 1, 1])
    #expect(throws: LDLFailure.self) { try QuasiDefiniteLDL(upperTriangle: lower, signs: [1, 1]) }
    #expect(throws: LDLFailure.self) { try QuasiDefiniteLDL(upperTriangle: upper([[1]]), signs: [1, 1]) }
}

@Test func ldlRandomQuasiDefiniteMatchesDense() throws {
    var rng = TestRandom(seed: 11)
    let nx = 30, nz = 20, n = nx + nz
    var dense = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    for i in 0..<n { dense[i][i] = i < nx ? 1 + rng.uniform() : -(1 + rng.uniform()) }
    for _ in 0..<80 {
        let i = rng.int(n), j = rng.int(n)
        if i == j { continue }
        let v = rng.uniform(-1, 1)
        // keep quasi-definite: couplings only between the two blocks, plus weak within-block ones
        let sameBlock = (i < nx) == (j < nx)
        let w = sameBlock ? 0.05 * v : v
        dense[i][j] += w
        dense[j][i] += w
    }
    let signs = (0..<n).map { $0 < nx ? 1.0 : -1.0 }
    let K = upper(dense)
    let ldl = try QuasiDefiniteLDL(upperTriangle: K, signs: signs)
    try ldl.factor(values: K.nzval)
    let b = (0..<n).map { _ in rng.uniform(-1, 1) }
    #expect(maxDiff(ldl.solve(b, refinementSteps: 2), denseSolve(dense, b)) < 1e-10)
}

/// A random radial tree of `buses` buses (parent[k] < k), as a LinDistFlow KKT matrix:
/// per line (into bus k) variables P_k, Q_k, per bus v_k; per bus the P and Q balance and the
/// voltage drop v_k − v_parent + 2(rP_k + xQ_k) = 0. Returns the upper triangle of
/// [I Aᵀ; A −I] and the signs.
func distFlowTreeKKT(buses: Int, seed: UInt64) -> (SparseMatrixCSC, [Double]) {
    var rng = TestRandom(seed: seed)
    var parent = [Int](repeating: -1, count: buses)
    for k in 1..<buses { parent[k] = max(0, k - 1 - rng.int(4)) }   // mostly chain-like, with branches
    // variable indices: P_k = 3k, Q_k = 3k+1, v_k = 3k+2 (P_0, Q_0: the substation injection)
    let n = 3 * buses
    var rows = [(row: Int, col: Int, value: Double)]()
    var m = 0
    for k in 0..<buses {
        // P balance at k: P_k − Σ_children P_c = load
        rows.append((m, 3 * k, 1))
        for c in 1..<buses where parent[c] == k { rows.append((m, 3 * c, -1)) }
        m += 1
        rows.append((m, 3 * k + 1, 1))
        for c in 1..<buses where parent[c] == k { rows.append((m, 3 * c + 1, -1)) }
        m += 1
        if k > 0 {
            rows.append((m, 3 * k + 2, 1))
            rows.append((m, 3 * parent[k] + 2, -1))
            rows.append((m, 3 * k, 0.02))
            rows.append((m, 3 * k + 1, 0.04))
        } else {
            rows.append((m, 2, 1))
        }
        m += 1
    }
    var t = [(row: Int, col: Int, value: Double)]()
    for i in 0..<n { t.append((i, i, 1)) }
    for (r, c, v) in rows { t.append((c, n + r, v)) }   // Aᵀ in the upper-right block
    for i in 0..<m { t.append((n + i, n + i, -1)) }
    let K = SparseMatrixCSC(m: n + m, n: n + m, triplets: t)
    return (K, (0..<(n + m)).map { $0 < n ? 1.0 : -1.0 })
}

@Test func ldlFillOnRadialTreeIsNearZero() throws {
    let (K, signs) = distFlowTreeKKT(buses: 400, seed: 5)
    let ldl = try QuasiDefiniteLDL(upperTriangle: K, signs: signs)
    try ldl.factor(values: K.nzval)
    let natural = try QuasiDefiniteLDL(upperTriangle: K, signs: signs, useOrdering: false)
    let strictLower = K.nnz - K.n
    print("radial tree KKT (\(K.n)×\(K.n)): nnz(tril K) = \(K.nnz), strict lower = \(strictLower), "
          + "nnz(L) with AMD = \(ldl.nnzL), natural order = \(natural.nnzL)")
    #expect(Double(ldl.nnzL) <= 1.25 * Double(K.nnz))
    #expect(ldl.nnzL < natural.nnzL)
    #expect(ldl.dynamicBumps == 0)
    // the factor solves the system
    var rng = TestRandom(seed: 1)
    let b = (0..<K.n).map { _ in rng.uniform(-1, 1) }
    let x = ldl.solve(b, refinementSteps: 1)
    var r = b
    for j in 0..<K.n {
        for k in K.colptr[j]..<K.colptr[j + 1] {
            let i = K.rowval[k]
            r[i] -= K.nzval[k] * x[j]
            if i != j { r[j] -= K.nzval[k] * x[i] }
        }
    }
    #expect(r.map { abs($0) }.max() ?? 0 < 1e-10)
}

/// A random quasi-definite matrix with heavy fill, so that the ordering ends in a dense block.
func denseFillQuasiDefinite(nx: Int, nz: Int, couplings: Int, seed: UInt64) -> ([[Double]], [Double]) {
    var rng = TestRandom(seed: seed)
    let n = nx + nz
    var dense = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    for i in 0..<n { dense[i][i] = i < nx ? 0.5 + rng.uniform() : -(0.5 + rng.uniform()) }
    for _ in 0..<couplings {
        let i = rng.int(nx), j = nx + rng.int(nz)
        let v = rng.uniform(-1, 1)
        dense[i][j] += v
        dense[j][i] += v
    }
    return (dense, (0..<n).map { $0 < nx ? 1.0 : -1.0 })
}

/// The dense-tail path (DenseLDL on the trailing Schur complement) gives the factor of the
/// sparse up-looking path: same fill, same pivots, same solutions, over more than one of its
/// column blocks.
@Test func ldlDenseTailMatchesSparseFactor() throws {
    let (dense, signs) = denseFillQuasiDefinite(nx: 160, nz: 120, couplings: 1400, seed: 21)
    let n = dense.count
    let K = upper(dense)
    let tail = try QuasiDefiniteLDL(upperTriangle: K, signs: signs, denseTailMinimum: 1)
    let sparse = try QuasiDefiniteLDL(upperTriangle: K, signs: signs, denseTailMinimum: Int.max)
    #expect(sparse.denseTailStart == n)
    #expect(n - tail.denseTailStart > 2 * 48, "dense tail of \(n - tail.denseTailStart) columns")
    // the tail is stored full: its structural zeros (at most 5 % of it by default) are explicit
    let t = n - tail.denseTailStart
    #expect(tail.nnzL >= sparse.nnzL && tail.nnzL - sparse.nnzL <= t * (t - 1) / 20 + 1)
    let exact = try QuasiDefiniteLDL(upperTriangle: K, signs: signs, denseTailMinimum: 1, denseTailDensity: 1)
    #expect(exact.nnzL == sparse.nnzL && exact.denseTailStart >= tail.denseTailStart)
    try exact.factor(values: K.nzval)
    try tail.factor(values: K.nzval)
    try sparse.factor(values: K.nzval)
    #expect(tail.dynamicBumps == 0 && sparse.dynamicBumps == 0)
    var rng = TestRandom(seed: 3)
    let b = (0..<n).map { _ in rng.uniform(-1, 1) }
    let reference = denseSolve(dense, b)
    #expect(maxDiff(tail.solve(b), reference) < 1e-10)
    #expect(maxDiff(tail.solve(b), sparse.solve(b)) < 1e-11)
    #expect(maxDiff(exact.solve(b), sparse.solve(b)) < 1e-11)
}

/// A pivot of the wrong sign inside the dense tail is regularized as in the sparse path (the
/// same bumps, the same factor).
@Test func ldlDenseTailRegularizesAWrongSignPivot() throws {
    var (dense, signs) = denseFillQuasiDefinite(nx: 60, nz: 50, couplings: 400, seed: 8)
    let n = dense.count
    let probe = try QuasiDefiniteLDL(upperTriangle: upper(dense), signs: signs, denseTailMinimum: 1)
    #expect(probe.denseTailStart < n - 10)
    let last = probe.perm[n - 1]          // eliminated last: inside the tail
    dense[last][last] = -signs[last] * 100
    let K = upper(dense)
    let tail = try QuasiDefiniteLDL(upperTriangle: K, signs: signs, denseTailMinimum: 1)
    let sparse = try QuasiDefiniteLDL(upperTriangle: K, signs: signs, denseTailMinimum: Int.max)
    try tail.factor(values: K.nzval)
    try sparse.factor(values: K.nzval)
    #expect(tail.dynamicBumps == sparse.dynamicBumps)
    #expect(tail.dynamicBumps >= 1)
    var rng = TestRandom(seed: 4)
    let b = (0..<n).map { _ in rng.uniform(-1, 1) }
    let x = sparse.solve(b), y = tail.solve(b)
    let scale = x.map { abs($0) }.max() ?? 1
    #expect(maxDiff(x, y) <= 1e-9 * scale)
}

/// Stage hints: the ordering eliminates stage by stage (a permutation whose stages never
/// decrease), the factor still solves the system, and a chain of dense blocks linked by single
/// couplings — periods linked by storage — keeps its fill to the blocks' size, where the
/// problem's solution is the same with and without the hint.
@Test func stagedOrderingEliminatesBlockByBlock() throws {
    let blocks = 12, size = 14
    // Block t: a dense primal block (size) and a dense dual row set, coupled to block t+1 by one entry.
    let nx = blocks * size, nz = blocks * size
    let n = nx + nz
    var dense = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    var rng = TestRandom(seed: 3)
    var stages = [Int](repeating: 0, count: n)
    for t in 0..<blocks {
        for a in 0..<size {
            let i = t * size + a, z = nx + t * size + a
            stages[i] = t
            stages[z] = t
            dense[i][i] = 1 + rng.uniform()
            dense[z][z] = -(1 + rng.uniform())
            for b in 0..<size {
                let j = t * size + b
                let v = rng.uniform(-1, 1)
                dense[z][j] += v
                dense[j][z] += v
            }
        }
        if t + 1 < blocks {
            let i = t * size, j = nx + (t + 1) * size
            dense[i][j] += 0.5
            dense[j][i] += 0.5
        }
    }
    var colptr = [0], rowval = [Int](), nzval = [Double]()
    for j in 0..<n {
        for i in 0...j where dense[i][j] != 0 || i == j { rowval.append(i); nzval.append(dense[i][j]) }
        colptr.append(rowval.count)
    }
    let signs = (0..<n).map { $0 < nx ? 1.0 : -1.0 }
    let staged = try QuasiDefiniteLDL(n: n, colptr: colptr, rowval: rowval, signs: signs, stages: stages)
    #expect(staged.perm.map { stages[$0] } == staged.perm.map { stages[$0] }.sorted())
    #expect(Set(staged.perm).count == n)
    try staged.factor(values: nzval)
    // Fill bounded by a few dense blocks of 2·size per stage.
    #expect(staged.nnzL <= blocks * (2 * size) * (2 * size + 2))
    let b = (0..<n).map { _ in rng.uniform(-1, 1) }
    let x = staged.solve(b, refinementSteps: 2)
    var worst = 0.0
    for i in 0..<n {
        var r = b[i]
        for j in 0..<n { r -= dense[i][j] * x[j] }
        worst = max(worst, abs(r))
    }
    #expect(worst < 1e-10)
}

/// The same QP solved with and without stage hints gives the same answer.
@Test func stageHintsDoNotChangeTheSolution() throws {
    // min Σ (x_t − t)² + (x_t − x_{t+1})²  s.t.  x_t ≥ 0.5 t − 1, 20 "periods".
    var builder = ConicBuilder()
    let x = builder.addVariables("x", count: 20)
    let rows = builder.addGroup("floor", .nonnegative)
    for t in 0..<20 {
        builder.addQuadraticCost(x[t], 2)
        builder.addLinearCost(x[t], -2 * Double(t))
        builder.addGreaterEqual(rows, .variable(x[t]), 0.5 * Double(t) - 1)
        if t + 1 < 20 {
            builder.addQuadraticCost(x[t], 2)
            builder.addQuadraticCost(x[t + 1], 2)
            builder.addQuadraticCost(x[t], x[t + 1], -2)
        }
    }
    let plain = try builder.build().problem
    var hinted = plain
    hinted.variableStages = (0..<20).map { $0 / 5 }
    let a = solveConic(plain), b = solveConic(hinted)
    #expect(a.status == .solved && b.status == .solved)
    for (u, v) in zip(a.x, b.x) { #expect(abs(u - v) < 1e-7) }
}
