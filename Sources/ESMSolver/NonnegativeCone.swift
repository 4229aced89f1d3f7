// The nonnegative orthant {s : s ≥ 0}, self-dual. Jordan algebra: elementwise product, e = 1.
// NT scaling is diagonal: W = diag(√(s/z)), λ = W z = √(s∘z).

enum NonnegativeCone {
    /// w = √(s/z), λ = √(s z); false if a point is not strictly interior.
    @inline(__always)
    static func updateScaling(s: UnsafeBufferPointer<Double>, z: UnsafeBufferPointer<Double>,
                              w: UnsafeMutableBufferPointer<Double>, lambda: UnsafeMutableBufferPointer<Double>,
                              range: Range<Int>) -> Bool {
        for i in range {
            let si = s[i], zi = z[i]
            if !(si > 0 && zi > 0) { return false }
            w[i] = (si / zi).squareRoot()
            lambda[i] = (si * zi).squareRoot()
        }
        return true
    }

    /// Largest α ≤ αmax with u + α du ≥ 0.
    @inline(__always)
    static func stepLength(u: UnsafeBufferPointer<Double>, du: UnsafeBufferPointer<Double>,
                           range: Range<Int>, alphaMax: Double) -> Double {
        var alpha = alphaMax
        for i in range where du[i] < 0 {
            let a = -u[i] / du[i]
            if a < alpha { alpha = a }
        }
        return max(alpha, 0)
    }

    /// −min eigenvalue: the shift that would put u on the boundary.
    @inline(__always)
    static func boundaryShift(_ u: UnsafeBufferPointer<Double>, range: Range<Int>) -> Double {
        var r = -Double.infinity
        for i in range where -u[i] > r { r = -u[i] }
        return r
    }
}
