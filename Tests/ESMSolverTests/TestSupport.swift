import ESMSolver

/// Largest absolute difference between two vectors (∞ if lengths differ).
func maxDiff(_ a: [Double], _ b: [Double]) -> Double {
    guard a.count == b.count else { return .infinity }
    var r = 0.0
    for i in 0..<a.count { r = max(r, abs(a[i] - b[i])) }
    return r
}

/// Upper triangle of a dense symmetric matrix.
func upper(_ dense: [[Double]]) -> SparseMatrixCSC {
    var t = [(row: Int, col: Int, value: Double)]()
    for (i, row) in dense.enumerated() {
        for (j, v) in row.enumerated() where j >= i && v != 0 { t.append((i, j, v)) }
    }
    return SparseMatrixCSC(m: dense.count, n: dense.count, triplets: t)
}

/// A small deterministic generator (splitmix64), so tests are reproducible.
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Double = 0, _ hi: Double = 1) -> Double {
        lo + (hi - lo) * Double(next() >> 11) / Double(1 << 53)
    }
    mutating func int(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// Checks the KKT conditions of a solution on the problem's own data:
/// returns (primal residual, dual residual, complementarity |⟨s,y⟩|, cone violation of s and y).
func kktErrors(_ p: ConicProblem, _ sol: ConicSolution) -> (primal: Double, dual: Double, comp: Double, cone: Double) {
    let n = p.q.count, m = p.b.count
    var ax = [Double](repeating: 0, count: m)
    var aty = [Double](repeating: 0, count: n)
    var px = [Double](repeating: 0, count: n)
    for j in 0..<n {
        for k in p.A.colptr[j]..<p.A.colptr[j + 1] {
            ax[p.A.rowval[k]] += p.A.nzval[k] * sol.x[j]
            aty[j] += p.A.nzval[k] * sol.y[p.A.rowval[k]]
        }
        if let P = p.P {
            for k in P.colptr[j]..<P.colptr[j + 1] {
                let i = P.rowval[k]
                px[i] += P.nzval[k] * sol.x[j]
                if i != j { px[j] += P.nzval[k] * sol.x[i] }
            }
        }
    }
    var primal = 0.0, dual = 0.0, comp = 0.0, cone = 0.0
    for i in 0..<m { primal = max(primal, abs(ax[i] + sol.s[i] - p.b[i])); comp += sol.s[i] * sol.y[i] }
    for j in 0..<n { dual = max(dual, abs(px[j] + aty[j] + p.q[j])) }
    var off = 0
    for c in p.cones {
        let d = c.dimension
        switch c {
        case .zero: for i in off..<off + d { cone = max(cone, abs(sol.s[i])) }
        case .nonnegative: for i in off..<off + d { cone = max(cone, -sol.s[i], -sol.y[i]) }
        case .secondOrder:
            for v in [sol.s, sol.y] {
                var t = 0.0
                for i in off + 1..<off + d { t += v[i] * v[i] }
                cone = max(cone, t.squareRoot() - v[off])
            }
        }
        off += d
    }
    return (primal, dual, abs(comp), cone)
}
