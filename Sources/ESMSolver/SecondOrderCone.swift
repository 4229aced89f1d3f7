// The second-order cone K = {(u₀, u₁) : u₀ ≥ ‖u₁‖₂}, self-dual, with J = diag(1, −1, …, −1),
// det(u) = uᵀJu = u₀² − ‖u₁‖², Jordan product u∘v = (uᵀv, u₀v₁ + v₀u₁), e = (1, 0, …, 0).
//
// Nesterov–Todd scaling (Vandenberghe's CVXOPT notes): with ū = u/√det(u),
//   γ = √((1 + s̄ᵀz̄)/2),  w̄ = (s̄ + J z̄)/(2γ)  (so w̄ᵀJw̄ = 1),  η = (det s / det z)^{1/4},
//   W = η W̄,  W̄ = [w̄₀  w̄₁ᵀ; w̄₁  I + w̄₁w̄₁ᵀ/(1 + w̄₀)],  W̄⁻¹ = J W̄ J,  W z = W⁻¹ s = λ,
//   W² = η² (2 w̄ w̄ᵀ − J).
// W² enters the KKT matrix as a dense block for small cones (the 3- and 4-dimensional cones of
// branch-flow models, where that is cheapest) and as a diagonal plus two rank-one terms for
// large ones (see `sparseFactors` and KKTSystem).
//
// Each cone's data lives in flat arrays at the cone's row offset: w̄ in `w`, η in `eta[cone]`.

enum SecondOrderCone {
    /// det(u) computed as (u₀ − ‖u₁‖)(u₀ + ‖u₁‖): near the boundary u₀² − ‖u₁‖² would subtract
    /// two nearly equal squares and lose all significant digits.
    @inline(__always)
    static func det(_ u: UnsafeBufferPointer<Double>, _ r: Range<Int>) -> Double {
        let t = tailNorm(u, r)
        let u0 = u[r.lowerBound]
        return (u0 - t) * (u0 + t)
    }

    @inline(__always)
    static func tailNorm(_ u: UnsafeBufferPointer<Double>, _ r: Range<Int>) -> Double {
        var acc = 0.0
        var i = r.lowerBound + 1
        while i < r.upperBound { acc += u[i] * u[i]; i += 1 }
        return acc.squareRoot()
    }

    /// Computes w̄, η and λ = W z; false if s or z is not strictly interior.
    @inline(__always)
    static func updateScaling(s: UnsafeBufferPointer<Double>, z: UnsafeBufferPointer<Double>,
                              w: UnsafeMutableBufferPointer<Double>, lambda: UnsafeMutableBufferPointer<Double>,
                              eta: inout Double, range r: Range<Int>) -> Bool {
        let r0 = r.lowerBound
        let detS = det(s, r), detZ = det(z, r)
        if !(detS > 0 && detZ > 0 && s[r0] > 0 && z[r0] > 0) { return false }
        let sqS = detS.squareRoot(), sqZ = detZ.squareRoot()
        var sz = 0.0
        for i in r { sz += s[i] * z[i] }
        // s̄ᵀz̄ ≥ 1 for interior points (equality iff s̄ = J z̄).
        let dotBar = sz / (sqS * sqZ)
        let gamma = ((1 + max(dotBar, 1)) / 2).squareRoot()
        w[r0] = (s[r0] / sqS + z[r0] / sqZ) / (2 * gamma)
        var i = r0 + 1
        while i < r.upperBound {
            w[i] = (s[i] / sqS - z[i] / sqZ) / (2 * gamma)
            i += 1
        }
        eta = (sqS / sqZ).squareRoot()
        mulW(w: UnsafeBufferPointer(w), eta: eta, v: z, out: lambda, range: r)
        return true
    }

    /// out = W v (W symmetric). `out` must not alias `v`.
    @inline(__always)
    static func mulW(w: UnsafeBufferPointer<Double>, eta: Double, v: UnsafeBufferPointer<Double>,
                     out: UnsafeMutableBufferPointer<Double>, range r: Range<Int>) {
        let r0 = r.lowerBound
        let w0 = w[r0], v0 = v[r0]
        var zeta = 0.0
        var i = r0 + 1
        while i < r.upperBound { zeta += w[i] * v[i]; i += 1 }
        out[r0] = eta * (w0 * v0 + zeta)
        let c = v0 + zeta / (1 + w0)
        i = r0 + 1
        while i < r.upperBound { out[i] = eta * (v[i] + c * w[i]); i += 1 }
    }

    /// out = W⁻¹ v = (1/η) J W̄ J v. `out` must not alias `v`.
    @inline(__always)
    static func mulWInverse(w: UnsafeBufferPointer<Double>, eta: Double, v: UnsafeBufferPointer<Double>,
                            out: UnsafeMutableBufferPointer<Double>, range r: Range<Int>) {
        let r0 = r.lowerBound
        let w0 = w[r0], v0 = v[r0]
        var zeta = 0.0
        var i = r0 + 1
        while i < r.upperBound { zeta += w[i] * v[i]; i += 1 }
        out[r0] = (w0 * v0 - zeta) / eta
        let c = v0 - zeta / (1 + w0)
        i = r0 + 1
        while i < r.upperBound { out[i] = (v[i] - c * w[i]) / eta; i += 1 }
    }

    /// out = u ∘ v.
    @inline(__always)
    static func jordanProduct(_ u: UnsafeBufferPointer<Double>, _ v: UnsafeBufferPointer<Double>,
                              out: UnsafeMutableBufferPointer<Double>, range r: Range<Int>) {
        let r0 = r.lowerBound
        var acc = 0.0
        for i in r { acc += u[i] * v[i] }
        let u0 = u[r0], v0 = v[r0]
        var i = r0 + 1
        while i < r.upperBound { out[i] = u0 * v[i] + v0 * u[i]; i += 1 }
        out[r0] = acc
    }

    /// out = λ ⊘ v, the solution x of λ ∘ x = v:
    /// x₀ = (λ₀v₀ − λ₁ᵀv₁)/det λ,  x₁ = (v₁ − x₀λ₁)/λ₀.
    @inline(__always)
    static func jordanDivide(lambda l: UnsafeBufferPointer<Double>, _ v: UnsafeBufferPointer<Double>,
                             out: UnsafeMutableBufferPointer<Double>, range r: Range<Int>) {
        let r0 = r.lowerBound
        let l0 = l[r0]
        var lv = 0.0
        var i = r0 + 1
        while i < r.upperBound { lv += l[i] * v[i]; i += 1 }
        let x0 = (l0 * v[r0] - lv) / det(l, r)
        i = r0 + 1
        while i < r.upperBound { out[i] = (v[i] - x0 * l[i]) / l0; i += 1 }
        out[r0] = x0
    }

    /// Largest α ∈ [0, αmax] with u + α du ∈ K, for u strictly inside K.
    ///
    /// det(u + α du) = a α² + b α + c with a = det(du), b = 2 uᵀJ du, c = det(u) > 0, and
    /// u + α du leaves K exactly where this quadratic first reaches zero (at a point where
    /// u₀ + α du₀ hits zero the determinant is −‖·‖² ≤ 0, so the quadratic has reached zero no
    /// later than that). So α = the smallest positive root, if any. Three numerical points:
    /// • a and c are formed as products (x₀ − ‖x₁‖)(x₀ + ‖x₁‖), not differences of squares;
    /// • the roots use the cancellation-free pair t = −(b + sign(b)√disc)/2, roots t/a and c/t,
    ///   so a nearly-zero a (du near the boundary of ±K) gives c/t instead of 0/0;
    /// • if disc < 0 there is no root: with c > 0 the quadratic stays positive and the whole
    ///   ray stays inside, so the step is unbounded by this cone.
    @inline(__always)
    static func stepLength(u: UnsafeBufferPointer<Double>, du: UnsafeBufferPointer<Double>,
                           range r: Range<Int>, alphaMax: Double) -> Double {
        let r0 = r.lowerBound
        let a = det(du, r)
        var uJd = u[r0] * du[r0]
        var i = r0 + 1
        while i < r.upperBound { uJd -= u[i] * du[i]; i += 1 }
        let b = 2 * uJd
        let c = max(det(u, r), 0)
        if c == 0 { return 0 }
        // u₀ + α·du₀ > 0 as well: a ray through the apex has det ≥ 0 on both sides of it (a
        // double root, which rounding can turn into no root at all) and would land in −K.
        var alpha = alphaMax
        if du[r0] < 0 { alpha = min(alpha, -u[r0] / du[r0]) }
        let disc = b * b - 4 * a * c
        if disc < 0 { return alpha }
        let sq = disc.squareRoot()
        let t = b >= 0 ? -(b + sq) / 2 : -(b - sq) / 2
        if t != 0 {
            let r1 = c / t
            if r1 > 0 && r1 < alpha { alpha = r1 }
        }
        if a != 0 {
            let r2 = t / a
            if r2 > 0 && r2 < alpha { alpha = r2 }
        }
        // A cone direction (du₀ ≥ ‖du₁‖, a ≥ 0 and b ≥ 0) never leaves the cone; otherwise
        // the quadratic with no positive root also keeps the ray inside. Both are covered above.
        return alpha
    }

    /// −(u₀ − ‖u₁‖): the shift along e that puts u on the boundary.
    @inline(__always)
    static func boundaryShift(_ u: UnsafeBufferPointer<Double>, range r: Range<Int>) -> Double {
        return tailNorm(u, r) - u[r.lowerBound]
    }

    /// u, v with W̄² = 2w̄w̄ᵀ − J = I + uuᵀ − vvᵀ and ‖v‖ < 1 (so that I − vvᵀ ≻ 0).
    ///
    /// With r = ‖w̄₁‖ and ê = (0, w̄₁/r), W̄² − I vanishes off the plane span{e₀, ê}, and on it,
    /// in the basis (e₀, ê), equals 2r·[r w̄₀; w̄₀ r] (using w̄₀² − r² = 1), whose eigenpairs are
    /// (r + w̄₀, (e₀ + ê)/√2) and (r − w̄₀, (e₀ − ê)/√2). Hence
    ///     u = √(r(w̄₀ + r))·(e₀ + ê),   v = √(r(w̄₀ − r))·(e₀ − ê),
    /// and ‖v‖² = 2r(w̄₀ − r) = 2r/(w̄₀ + r) < 1. w̄₀ − r is formed as 1/(w̄₀ + r) (no
    /// cancellation), and ê's 1/r is folded into the coefficients so r → 0 gives u, v → 0.
    @inline(__always)
    static func sparseFactors(w: UnsafeBufferPointer<Double>, u: UnsafeMutableBufferPointer<Double>,
                              v: UnsafeMutableBufferPointer<Double>, range rg: Range<Int>) {
        let r0 = rg.lowerBound
        let r = tailNorm(w, rg)
        let w0 = w[r0]
        let sum = w0 + r
        if !(r > 0) || !(sum > 0) {
            for i in rg { u[i] = 0; v[i] = 0 }
            return
        }
        let diff = 1 / sum
        let au = (r * sum).squareRoot(), av = (r * diff).squareRoot()
        u[r0] = au
        v[r0] = av
        let cu = au / r, cv = av / r
        var i = r0 + 1
        while i < rg.upperBound {
            u[i] = cu * w[i]
            v[i] = -cv * w[i]
            i += 1
        }
    }

    /// Upper triangle of the dense block W² = η²(2w̄w̄ᵀ − J), column by column.
    @inline(__always)
    static func squaredScalingEntry(w: UnsafeBufferPointer<Double>, eta: Double, row: Int, col: Int,
                                    range r: Range<Int>) -> Double {
        var v = 2 * w[row] * w[col]
        if row == col { v += (row == r.lowerBound) ? -1 : 1 }
        return eta * eta * v
    }
}
