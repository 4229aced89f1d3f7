// Unit tests of the cone numerics and the ordering, through internal API: compiled in debug
// builds only (`@testable import` needs -enable-testing, which release builds lack).
#if DEBUG
import Testing
@testable import ESMSolver

private func withBuffers<R>(_ a: [Double], _ b: [Double],
                            _ body: (UnsafeBufferPointer<Double>, UnsafeBufferPointer<Double>) -> R) -> R {
    a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in body(pa, pb) } }
}

private func socStep(_ u: [Double], _ d: [Double], max: Double = .infinity) -> Double {
    withBuffers(u, d) { SecondOrderCone.stepLength(u: $0, du: $1, range: 0..<u.count, alphaMax: max) }
}

@Test func socStepLengthCases() {
    // straight into the boundary: u = e, d = (−1, 0, 0) hits the apex at α = 1
    #expect(abs(socStep([1, 0, 0], [-1, 0, 0]) - 1) < 1e-15)
    // a cone direction never leaves
    #expect(socStep([1, 0.5, 0], [2, 1, 1]) == .infinity)
    #expect(socStep([1, 0.5, 0], [1, 0, 0], max: 3) == 3)
    // sideways: (1, t, 0) leaves at t = 1
    #expect(abs(socStep([1, 0, 0], [0, 1, 0]) - 1) < 1e-15)
    // a = det(d) = 0 (d on the boundary of −K): linear case, root c/t without 0/0
    // u = (2, 0, 0), d = (−1, 1, 0): det(u + αd) = (2 − α)² − α² = 4 − 4α → α = 1
    #expect(abs(socStep([2, 0, 0], [-1, 1, 0]) - 1) < 1e-15)
    // u near the boundary, where u₀² − ‖u₁‖² cancels: u = (1 + 1e-12, 1, 0), d = (0, 1, 0):
    // exact step (√((1+1e-12)²) − 1) = 1e-12
    let alpha = socStep([1 + 1e-12, 1, 0], [0, 1, 0])
    #expect(abs(alpha - 1e-12) < 1e-16)
    // the point reached is on the boundary, not outside: det ≥ −tiny
    let u = [3.0, 1, 2], d = [-1.0, 0.5, 0.25]
    let a = socStep(u, d)
    let p = zip(u, d).map { $0 + a * $1 }
    #expect(abs(p[0] - (p[1] * p[1] + p[2] * p[2]).squareRoot()) < 1e-13)
}

/// A direction through the apex: u on the axis (tails at rounding level, as an iterate's can be),
/// d pointing back along it. det(u + αd) = (u₀ + αd₀)² − ‖·‖² has a double root at α = −u₀/d₀,
/// where the ray passes the apex into −K with det ≥ 0 on both sides; rounding makes the
/// discriminant slightly negative half the time. The step must still stop at the apex.
/// (Found by two_layer_voltage at 1,000 prosumers: "iterate left the cone".)
@Test func socStepThroughTheApexStopsThere() {
    var state: UInt64 = 0x9E3779B97F4A7C15
    func uniform() -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Double(state >> 11) / Double(1 << 53)
    }
    var failures = 0
    for _ in 0..<2000 {
        let u0 = 0.1 + 10 * uniform(), d0 = -(0.1 + 10 * uniform())
        let u = [u0, (uniform() - 0.5) * 1e-16, (uniform() - 0.5) * 1e-15]
        let d = [d0, (uniform() - 0.5) * 1e-16, (uniform() - 0.5) * 1e-15]
        let alpha = socStep(u, d, max: 1e6)
        if !(u0 + alpha * d0 >= -1e-12 * u0) { failures += 1 }
    }
    #expect(failures == 0, "\(failures) of 2000 steps crossed the apex into −K")
}

@Test func ntScalingIdentities() {
    let s = [2.0, 0.5, -0.7, 0.3], z = [1.5, -0.2, 0.4, 0.9]
    var w = [Double](repeating: 0, count: 4), lambda = w, ws = w, wiz = w, u = w, v = w
    var eta = 0.0
    let ok = withBuffers(s, z) { sb, zb in
        w.withUnsafeMutableBufferPointer { wb in
            lambda.withUnsafeMutableBufferPointer { lb in
                SecondOrderCone.updateScaling(s: sb, z: zb, w: wb, lambda: lb, eta: &eta, range: 0..<4)
            }
        }
    }
    #expect(ok)
    // w̄ᵀJw̄ = 1
    #expect(abs(w[0] * w[0] - w[1] * w[1] - w[2] * w[2] - w[3] * w[3] - 1) < 1e-14)
    // λ = Wz = W⁻¹s
    withBuffers(w, s) { wb, sb in
        wiz.withUnsafeMutableBufferPointer { SecondOrderCone.mulWInverse(w: wb, eta: eta, v: sb, out: $0, range: 0..<4) }
    }
    #expect(maxDiff(wiz, lambda) < 1e-14)
    // W²z = s, and the dense entries η²(2w̄w̄ᵀ − J) give the same product
    withBuffers(w, lambda) { wb, lb in
        ws.withUnsafeMutableBufferPointer { SecondOrderCone.mulW(w: wb, eta: eta, v: lb, out: $0, range: 0..<4) }
    }
    #expect(maxDiff(ws, s) < 1e-14)
    var dense = [Double](repeating: 0, count: 4)
    w.withUnsafeBufferPointer { wb in
        for r in 0..<4 {
            for c in 0..<4 {
                dense[r] += SecondOrderCone.squaredScalingEntry(w: wb, eta: eta, row: min(r, c), col: max(r, c),
                                                                range: 0..<4) * z[c]
            }
        }
    }
    #expect(maxDiff(dense, s) < 1e-13)
    // sparse expansion: W̄² = I + uuᵀ − vvᵀ with ‖v‖ < 1
    w.withUnsafeBufferPointer { wb in
        u.withUnsafeMutableBufferPointer { ub in
            v.withUnsafeMutableBufferPointer { vb in SecondOrderCone.sparseFactors(w: wb, u: ub, v: vb, range: 0..<4) }
        }
    }
    #expect(v.map { $0 * $0 }.reduce(0, +) < 1)
    w.withUnsafeBufferPointer { wb in
        for r in 0..<4 {
            for c in 0..<4 {
                let expected = SecondOrderCone.squaredScalingEntry(w: wb, eta: 1, row: min(r, c), col: max(r, c), range: 0..<4)
                let split = (r == c ? 1 : 0) + u[r] * u[c] - v[r] * v[c]
                #expect(abs(expected - split) < 1e-13)
            }
        }
    }
}

@Test func jordanDivisionInvertsTheProduct() {
    let l = [2.0, 0.3, -0.5], x = [0.7, -1.2, 0.4]
    var prod = [Double](repeating: 0, count: 3), back = prod
    withBuffers(l, x) { lb, xb in prod.withUnsafeMutableBufferPointer { SecondOrderCone.jordanProduct(lb, xb, out: $0, range: 0..<3) } }
    withBuffers(l, prod) { lb, pb in back.withUnsafeMutableBufferPointer { SecondOrderCone.jordanDivide(lambda: lb, pb, out: $0, range: 0..<3) } }
    #expect(maxDiff(back, x) < 1e-14)
}

@Test func minimumDegreeGivesAPermutationAndNoFillOnATree() {
    // a star (centre 0) and a path: both are trees, whose minimum-degree order has no fill
    for (n, edges) in [(6, [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5)]), (5, [(0, 1), (1, 2), (2, 3), (3, 4)])] {
        var t = [(row: Int, col: Int, value: Double)]()
        for i in 0..<n { t.append((i, i, 4)) }
        for (a, b) in edges { t.append((min(a, b), max(a, b), 1)) }
        let K = SparseMatrixCSC(m: n, n: n, triplets: t)
        let perm = MinimumDegreeOrdering.order(n: n, colptr: K.colptr, rowval: K.rowval)
        #expect(perm.sorted() == Array(0..<n))
        let ldl = try? QuasiDefiniteLDL(upperTriangle: K, signs: [Double](repeating: 1, count: n))
        #expect(ldl?.nnzL == edges.count)
    }
    // a dense row is ordered last
    let n = 400
    var t = [(row: Int, col: Int, value: Double)]()
    for i in 0..<n { t.append((i, i, 1)) }
    for i in 1..<n { t.append((0, i, 1)) }
    let K = SparseMatrixCSC(m: n, n: n, triplets: t)
    #expect(MinimumDegreeOrdering.order(n: n, colptr: K.colptr, rowval: K.rowval).last == 0)
}
#endif
