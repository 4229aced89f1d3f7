// The reduced KKT system of one interior-point iteration,
//     K = [ P + εI      Aᵀ       ]
//         [ A       −(H + εI)    ],   H = WᵀW (0 on zero cones, W² of each cone otherwise),
// stored as the upper triangle of an (n+m)×(n+m) CSC matrix whose pattern is built once:
// column j < n holds P's upper entries then its diagonal; column n+i holds row i of A, then
// (second-order cones) the entries of the dense W² block above the diagonal, then the diagonal.
// Only the H block changes from one iteration to the next; its values are written in place and
// the factorization reuses the symbolic analysis (ordering, elimination tree, column counts).

final class KKTSystem {
    let n: Int
    let m: Int
    private var values: [Double]
    private let diagonalSlots: [Int]
    /// For row i of the cone block: the slot of its first H entry in column n+i.
    private let blockStart: [Int]
    private let ldl: QuasiDefiniteLDL
    private let staticRegularization: Double
    private let dynamicEpsilon: Double
    private let dynamicDelta: Double
    private let refinementSteps: Int
    private let refinementAbs: Double
    private let refinementRel: Double

    /// Fill of the factor (strict lower triangle of L) and entries of the KKT upper triangle.
    var nnzL: Int { ldl.nnzL }
    let nnzKKT: Int

    init(P: SparseMatrixCSC, A: SparseMatrixCSC, cones: CompositeCone, settings: SolverSettings) throws {
        n = A.n
        m = A.m
        let dim = n + m
        var socStart = [Int](repeating: -1, count: m)   // first row of the SOC a row belongs to
        for blk in cones.blocks where blk.kind == .secondOrder {
            for i in blk.range { socStart[i] = blk.range.lowerBound }
        }
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
        var v = [Double](repeating: 0, count: colptr[dim])
        for k in 0..<P.nnz { v[pSlot[k]] += P.nzval[k] }
        for k in 0..<A.nnz { v[aSlot[k]] = A.nzval[k] }
        values = v
        diagonalSlots = diag
        blockStart = bs
        nnzKKT = colptr[dim]
        var signs = [Double](repeating: 1, count: dim)
        for i in 0..<m { signs[n + i] = -1 }
        ldl = try QuasiDefiniteLDL(n: dim, colptr: colptr, rowval: rowval, signs: signs,
                                   useOrdering: settings.fillReducingOrdering)
        staticRegularization = settings.staticRegularization
        dynamicEpsilon = settings.dynamicRegularizationEpsilon
        dynamicDelta = settings.dynamicRegularizationDelta
        refinementSteps = settings.iterativeRefinementSteps
        refinementAbs = settings.iterativeRefinementAbsTolerance
        refinementRel = settings.iterativeRefinementRelTolerance
    }

    /// Writes −H (the cones' current scaling) into the cone block.
    func setConeBlock(_ cones: CompositeCone) {
        let n = self.n
        values.withUnsafeMutableBufferPointer { v in
            cones.w.withUnsafeBufferPointer { w in
                for (k, blk) in cones.blocks.enumerated() {
                    switch blk.kind {
                    case .zero:
                        for i in blk.range { v[diagonalSlots[n + i]] = 0 }
                    case .nonnegative:
                        for i in blk.range { v[diagonalSlots[n + i]] = -w[i] * w[i] }
                    case .secondOrder:
                        let eta = cones.eta[k]
                        let r0 = blk.range.lowerBound
                        for i in blk.range {
                            let start = blockStart[i]
                            for r in r0...i {
                                v[start + (r - r0)] = -SecondOrderCone.squaredScalingEntry(
                                    w: w, eta: eta, row: r, col: i, range: blk.range)
                            }
                        }
                    }
                }
            }
        }
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

    /// Solves K x = b (length n+m each; refinement against K without static regularization).
    func solve(_ b: UnsafeBufferPointer<Double>, _ x: UnsafeMutableBufferPointer<Double>) {
        ldl.solve(b, x, refinementSteps: refinementSteps, absTol: refinementAbs, relTol: refinementRel)
    }
}
