// The reduced KKT system of one interior-point iteration,
//     K = [ P + εI      Aᵀ       ]
//         [ A       −(H + εI)    ],   H = WᵀW (0 on zero cones, W² of each cone otherwise),
// stored as the upper triangle of a CSC matrix whose pattern is built once: column j < n holds
// P's upper entries then its diagonal; column n+i holds row i of A, then (small second-order
// cones) the entries of the dense W² block above the diagonal, then the diagonal.
//
// Second-order cones of dimension > `settings.socDenseMaxDimension` are not stored densely
// (a d-dimensional cone would add d²/2 entries and fill). With W² = η²(I + uuᵀ − vvᵀ)
// (SecondOrderCone.sparseFactors) the cone block becomes, with two extra rows p₁ and p₂,
//     [ −(η² + ε)I   ηu   ηv ]
//     [    ηuᵀ       +1    0 ]      whose Schur complement on the cone rows is −(W² + εI).
//     [    ηvᵀ        0   −1 ]
// p₁ joins the positive (primal) block and p₂ the negative one; since ‖v‖ < 1 the negative
// block [−η²I, ηv; ηvᵀ, −1] stays negative definite, so the matrix stays quasi-definite.
//
// Only the cone block changes from one iteration to the next; its values are written in place
// and the factorization reuses the symbolic analysis (ordering, elimination tree, counts).

final class KKTSystem {
    let n: Int
    let m: Int
    /// n + m + 2·(number of expanded cones).
    let dimension: Int
    private var values: [Double]
    private let diagonalSlots: [Int]
    /// For row i of the cone block: the slot of its first H entry in column n+i.
    private let blockStart: [Int]
    /// Per cone block: index of its first expansion column (−1 if stored densely or not a SOC).
    private let expansionColumn: [Int]
    private let ldl: QuasiDefiniteLDL
    private let staticRegularization: Double
    private let dynamicEpsilon: Double
    private let dynamicDelta: Double
    private let refinementSteps: Int
    private let refinementAbs: Double
    private let refinementRel: Double
    private let refinementStopRatio: Double
    private var paddedRHS: [Double]
    private var paddedSolution: [Double]
    /// u, v of the expanded cones (per row), and their η (per row), from the last setConeBlock.
    private var uScratch: [Double]
    private var vScratch: [Double]
    private var etaOfRow: [Double]
    /// Pattern of the KKT upper triangle (kept for the reduced-system refinement).
    private let colptr: [Int]
    private let rowval: [Int]
    private let expandedRanges: [Range<Int>]
    private var residual: [Double]
    private var correction: [Double]
    private var previous: [Double]

    /// Fill of the factor (strict lower triangle of L) and entries of the KKT upper triangle.
    var nnzL: Int { ldl.nnzL }
    let nnzKKT: Int

    init(P: SparseMatrixCSC, A: SparseMatrixCSC, cones: CompositeCone, settings: SolverSettings,
         variableStages: [Int]? = nil) throws {
        n = A.n
        m = A.m
        var socStart = [Int](repeating: -1, count: m)   // dense SOC rows: the first row of their cone
        var expansion = [Int](repeating: -1, count: cones.blocks.count)
        var extra = 0
        for (k, blk) in cones.blocks.enumerated() where blk.kind == .secondOrder {
            if blk.range.count > settings.socDenseMaxDimension {
                expansion[k] = n + m + extra
                extra += 2
            } else {
                for i in blk.range { socStart[i] = blk.range.lowerBound }
            }
        }
        let dim = n + m + extra
        dimension = dim
        expansionColumn = expansion
        var count = [Int](repeating: 0, count: dim + 1)
        for j in 0..<n {
            var c = 1
            for k in P.colptr[j]..<P.colptr[j + 1] where P.rowval[k] < j { c += 1 }
            count[j + 1] = c
        }
        for r in A.rowval { count[n + r + 1] += 1 }
        for i in 0..<m {
            count[n + i + 1] += 1 + (socStart[i] >= 0 ? i - socStart[i] : 0)
        }
        for (k, blk) in cones.blocks.enumerated() where expansion[k] >= 0 {
            count[expansion[k] + 1] = blk.range.count + 1
            count[expansion[k] + 2] = blk.range.count + 1
        }
        for c in 0..<dim { count[c + 1] += count[c] }
        let colptr = count
        var rowval = [Int](repeating: 0, count: colptr[dim])
        var diag = [Int](repeating: 0, count: dim)
        var pSlot = [Int](repeating: 0, count: P.nnz)
        var aSlot = [Int](repeating: 0, count: A.nnz)
        var next = colptr
        for j in 0..<n {
            for k in P.colptr[j]..<P.colptr[j + 1] where P.rowval[k] < j {
                rowval[next[j]] = P.rowval[k]
                pSlot[k] = next[j]
                next[j] += 1
            }
            diag[j] = next[j]
            rowval[next[j]] = j
            for k in P.colptr[j]..<P.colptr[j + 1] where P.rowval[k] == j { pSlot[k] = diag[j] }
        }
        for j in 0..<n {
            for k in A.colptr[j]..<A.colptr[j + 1] {
                let c = n + A.rowval[k]
                rowval[next[c]] = j
                aSlot[k] = next[c]
                next[c] += 1
            }
        }
        var bs = [Int](repeating: 0, count: m)
        for i in 0..<m {
            let c = n + i
            bs[i] = next[c]
            if socStart[i] >= 0 {
                for r in socStart[i]..<i { rowval[next[c]] = n + r; next[c] += 1 }
            }
            diag[c] = next[c]
            rowval[next[c]] = c
        }
        for (k, blk) in cones.blocks.enumerated() where expansion[k] >= 0 {
            for c in [expansion[k], expansion[k] + 1] {
                var t = colptr[c]
                for i in blk.range { rowval[t] = n + i; t += 1 }
                diag[c] = t
                rowval[t] = c
            }
        }
        var v = [Double](repeating: 0, count: colptr[dim])
        for k in 0..<P.nnz { v[pSlot[k]] += P.nzval[k] }
        for k in 0..<A.nnz { v[aSlot[k]] = A.nzval[k] }
        values = v
        diagonalSlots = diag
        blockStart = bs
        nnzKKT = colptr[dim]
        var signs = [Double](repeating: 1, count: dim)
        for i in 0..<m { signs[n + i] = -1 }
        for k in 0..<expansion.count where expansion[k] >= 0 { signs[expansion[k] + 1] = -1 }
        // Stages of the KKT nodes when the problem gives them: a row takes its latest variable's.
        var stages: [Int]?
        if let given = variableStages, given.count == A.n {
            var s = [Int](repeating: 0, count: dim)
            let columns = A.n
            for j in 0..<columns { s[j] = given[j] }
            for j in 0..<columns {
                for k in A.colptr[j]..<A.colptr[j + 1] { s[columns + A.rowval[k]] = max(s[columns + A.rowval[k]], given[j]) }
            }
            for (k, blk) in cones.blocks.enumerated() where expansion[k] >= 0 {
                var stage = 0
                for i in blk.range { stage = max(stage, s[A.n + i]) }
                s[expansion[k]] = stage
                s[expansion[k] + 1] = stage
            }
            stages = s
        }
        ldl = try QuasiDefiniteLDL(n: dim, colptr: colptr, rowval: rowval, signs: signs,
                                   useOrdering: settings.fillReducingOrdering, stages: stages)
        staticRegularization = settings.staticRegularization
        dynamicEpsilon = settings.dynamicRegularizationEpsilon
        dynamicDelta = settings.dynamicRegularizationDelta
        refinementSteps = settings.iterativeRefinementSteps
        refinementAbs = settings.iterativeRefinementAbsTolerance
        refinementRel = settings.iterativeRefinementRelTolerance
        refinementStopRatio = settings.iterativeRefinementStopRatio
        paddedRHS = [Double](repeating: 0, count: extra > 0 ? dim : 0)
        paddedSolution = [Double](repeating: 0, count: extra > 0 ? dim : 0)
        uScratch = [Double](repeating: 0, count: m)
        vScratch = [Double](repeating: 0, count: m)
        etaOfRow = [Double](repeating: 0, count: m)
        self.colptr = colptr
        self.rowval = rowval
        expandedRanges = cones.blocks.enumerated().filter { expansion[$0.offset] >= 0 }.map { $0.element.range }
        let base = extra > 0 ? n + m : 0
        residual = [Double](repeating: 0, count: base)
        correction = [Double](repeating: 0, count: base)
        previous = [Double](repeating: 0, count: base)
    }

    /// Writes −H (the cones' current scaling) into the cone block.
    func setConeBlock(_ cones: CompositeCone) {
        let n = self.n
        values.withUnsafeMutableBufferPointer { v in
        cones.w.withUnsafeBufferPointer { w in
        uScratch.withUnsafeMutableBufferPointer { u in
        vScratch.withUnsafeMutableBufferPointer { vv in
            for (k, blk) in cones.blocks.enumerated() {
                switch blk.kind {
                case .zero:
                    for i in blk.range { v[diagonalSlots[n + i]] = 0 }
                case .nonnegative:
                    for i in blk.range { v[diagonalSlots[n + i]] = -w[i] * w[i] }
                case .secondOrder:
                    let eta = cones.eta[k]
                    let r0 = blk.range.lowerBound
                    let column = expansionColumn[k]
                    if column < 0 {
                        for i in blk.range {
                            let start = blockStart[i]
                            for r in r0...i {
                                v[start + (r - r0)] = -SecondOrderCone.squaredScalingEntry(
                                    w: w, eta: eta, row: r, col: i, range: blk.range)
                            }
                        }
                    } else {
                        SecondOrderCone.sparseFactors(w: w, u: u, v: vv, range: blk.range)
                        for i in blk.range { etaOfRow[i] = eta }
                        for i in blk.range { v[diagonalSlots[n + i]] = -eta * eta }
                        var tu = diagonalSlots[column] - blk.range.count
                        var tv = diagonalSlots[column + 1] - blk.range.count
                        for i in blk.range {
                            v[tu] = eta * u[i]
                            v[tv] = eta * vv[i]
                            tu += 1
                            tv += 1
                        }
                        v[diagonalSlots[column]] = 1
                        v[diagonalSlots[column + 1]] = -1
                    }
                }
            }
        }}}}
    }

    /// Numeric factorization of the current values; false on failure.
    func factor() -> Bool {
        values.withUnsafeBufferPointer { ldl.setValues($0, staticRegularization: staticRegularization) }
        do {
            try ldl.factor(epsilon: dynamicEpsilon, delta: dynamicDelta)
            return true
        } catch {
            return false
        }
    }

    /// Solves K x = b for b, x of length n+m, refining against K without static regularization.
    /// With expanded cones the expansion rows get a zero right-hand side and their solution is
    /// dropped; refinement is then done on the reduced (n+m) system, with the exact action of
    /// −W² on the cone rows: a small residual in an expansion row would otherwise be magnified
    /// by ‖ηu‖ (which grows like η·w̄₀ near the cone boundary) in the reduced equations.
    func solve(_ b: UnsafeBufferPointer<Double>, _ x: UnsafeMutableBufferPointer<Double>) {
        if dimension == n + m {
            ldl.solve(b, x, refinementSteps: refinementSteps, absTol: refinementAbs, relTol: refinementRel,
                      stopRatio: refinementStopRatio)
            return
        }
        let base = n + m
        paddedRHS.withUnsafeMutableBufferPointer { pb in
        paddedSolution.withUnsafeMutableBufferPointer { px in
        residual.withUnsafeMutableBufferPointer { r in
        correction.withUnsafeMutableBufferPointer { c in
        previous.withUnsafeMutableBufferPointer { prev in
            for i in base..<dimension { pb[i] = 0 }
            for i in 0..<base { pb[i] = b[i] }
            ldl.solve(UnsafeBufferPointer(pb), px, refinementSteps: 1, absTol: refinementAbs, relTol: refinementRel)
            for i in 0..<base { x[i] = px[i] }
            let tol = refinementAbs + refinementRel * normInf(b)
            var rNorm = reducedResidual(b, UnsafeBufferPointer(x), r)
            var step = 0
            while step < refinementSteps && rNorm > tol {
                for i in 0..<base { pb[i] = r[i]; prev[i] = x[i] }
                ldl.solve(UnsafeBufferPointer(pb), px, refinementSteps: 0, absTol: 0, relTol: 0)
                for i in 0..<base { c[i] = px[i]; x[i] += c[i] }
                let newNorm = reducedResidual(b, UnsafeBufferPointer(x), r)
                if !(newNorm < rNorm) {
                    for i in 0..<base { x[i] = prev[i] }
                    break
                }
                let improvement = rNorm / newNorm
                rNorm = newNorm
                step += 1
                if improvement < refinementStopRatio { break }
            }
        }}}}}
    }

    /// r ← b − K_red·x on the n+m system; returns ‖r‖∞.
    private func reducedResidual(_ b: UnsafeBufferPointer<Double>, _ x: UnsafeBufferPointer<Double>,
                                 _ r: UnsafeMutableBufferPointer<Double>) -> Double {
        let base = n + m, n = self.n
        colptr.withUnsafeBufferPointer { cp in
        rowval.withUnsafeBufferPointer { ri in
        values.withUnsafeBufferPointer { v in
        uScratch.withUnsafeBufferPointer { u in
        vScratch.withUnsafeBufferPointer { vv in
        etaOfRow.withUnsafeBufferPointer { eta in
            for i in 0..<base { r[i] = b[i] }
            for j in 0..<base {
                let xj = x[j]
                var acc = 0.0
                for k in cp[j]..<cp[j + 1] {
                    let i = ri[k]
                    let a = v[k]
                    if i == j { acc += a * xj } else { r[i] -= a * xj; acc += a * x[i] }
                }
                r[j] -= acc
            }
            // the rank-two part −η²(uuᵀ − vvᵀ) of each expanded cone block
            for range in expandedRanges {
                var ux = 0.0, vx = 0.0
                for i in range { ux += u[i] * x[n + i]; vx += vv[i] * x[n + i] }
                for i in range {
                    let e2 = eta[i] * eta[i]
                    r[n + i] += e2 * (u[i] * ux - vv[i] * vx)
                }
            }
        }}}}}}
        return normInf(UnsafeBufferPointer(r))
    }
}
