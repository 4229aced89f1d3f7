// Ruiz equilibration of the KKT data [P Aᵀ; A 0] and scaling of the cost.
//
// The solver works on  P̂ = c·DPD,  q̂ = c·Dq,  Â = EAD,  b̂ = Eb  with positive diagonal D (n)
// and E (m) and a scalar c. A solution (x̂, ŝ, ẑ) of the scaled problem maps back as
//     x = D x̂,   s = E⁻¹ ŝ,   y = E ẑ / c.
// E must map each cone onto itself: within a second-order cone all its rows share one factor
// (the mean of the block's factors at each sweep).

struct Equilibration {
    var d: [Double]
    var e: [Double]
    var c: Double = 1

    init(n: Int, m: Int) {
        d = [Double](repeating: 1, count: n)
        e = [Double](repeating: 1, count: m)
    }

    /// Equilibrates P (upper triangle), A, q and b in place, recording D, E and c.
    mutating func run(P: inout SparseMatrixCSC, A: inout SparseMatrixCSC, q: inout [Double], b: inout [Double],
                      cones: CompositeCone, settings: SolverSettings) {
        let n = A.n, m = A.m
        let lo = settings.equilibrationMinScaling, hi = settings.equilibrationMaxScaling
        var colNorm = [Double](repeating: 0, count: n)
        var rowNorm = [Double](repeating: 0, count: m)
        var dx = [Double](repeating: 1, count: n)
        var dz = [Double](repeating: 1, count: m)
        func factor(_ norm: Double, current: Double) -> Double {
            if norm < 1e-12 { return 1 }
            let target = min(max(current / norm.squareRoot(), lo), hi)
            return target / current
        }
        if settings.equilibrate {
            for _ in 0..<settings.equilibrationIterations {
                for j in 0..<n { colNorm[j] = 0 }
                for i in 0..<m { rowNorm[i] = 0 }
                for j in 0..<n {
                    for k in P.colptr[j]..<P.colptr[j + 1] {
                        let a = abs(P.nzval[k])
                        let i = P.rowval[k]
                        if a > colNorm[j] { colNorm[j] = a }
                        if a > colNorm[i] { colNorm[i] = a }
                    }
                    for k in A.colptr[j]..<A.colptr[j + 1] {
                        let a = abs(A.nzval[k])
                        if a > colNorm[j] { colNorm[j] = a }
                        if a > rowNorm[A.rowval[k]] { rowNorm[A.rowval[k]] = a }
                    }
                }
                for j in 0..<n { dx[j] = factor(colNorm[j], current: d[j]) }
                for i in 0..<m { dz[i] = factor(rowNorm[i], current: e[i]) }
                for blk in cones.blocks where blk.kind == .secondOrder {
                    var mean = 0.0
                    for i in blk.range { mean += e[i] * dz[i] }
                    mean /= Double(blk.range.count)
                    for i in blk.range { dz[i] = mean / e[i] }
                }
                for j in 0..<n {
                    for k in P.colptr[j]..<P.colptr[j + 1] { P.nzval[k] *= dx[P.rowval[k]] * dx[j] }
                    for k in A.colptr[j]..<A.colptr[j + 1] { A.nzval[k] *= dz[A.rowval[k]] * dx[j] }
                    d[j] *= dx[j]
                }
                for i in 0..<m { e[i] *= dz[i] }
            }
        }
        for j in 0..<n { q[j] *= d[j] }
        for i in 0..<m { b[i] *= e[i] }
        if settings.equilibrate {
            // Cost scaling: c = 1 / max(mean column norm of P̂, ‖q̂‖∞), within the bounds.
            for j in 0..<n { colNorm[j] = 0 }
            for j in 0..<n {
                for k in P.colptr[j]..<P.colptr[j + 1] {
                    let a = abs(P.nzval[k])
                    if a > colNorm[j] { colNorm[j] = a }
                    if a > colNorm[P.rowval[k]] { colNorm[P.rowval[k]] = a }
                }
            }
            var meanP = 0.0
            for v in colNorm { meanP += v }
            meanP = n > 0 ? meanP / Double(n) : 0
            var qNorm = 0.0
            for v in q where abs(v) > qNorm { qNorm = abs(v) }
            let scale = max(meanP, qNorm)
            c = scale < 1e-12 ? 1 : 1 / min(max(scale, lo), hi)
            for k in 0..<P.nnz { P.nzval[k] *= c }
            for j in 0..<n { q[j] *= c }
        }
    }
}
