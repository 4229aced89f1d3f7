// LDLᵀ of a dense symmetric quasi-definite block, for the trailing part of a sparse factor that
// the ordering leaves completely dense (random sparse problems end in a dense root of hundreds
// to thousands of columns; radial feeders have none). The sparse up-looking loop spends one
// indirect load and store per multiply-add there; the dense form runs the same arithmetic as
// contiguous dot products, four columns at a time, in column blocks that stay in cache.
//
// Left-looking blocked Crout: for each block of columns J, first subtract the contributions of
// every column before J (the bulk of the work), then factor J column by column.

enum DenseLDL {
    /// Columns per block: the block's scaled rows (block × t doubles) stay in the L2 cache.
    static let blockWidth = 48

    /// Factors the `t`×`t` row-major matrix `a` (only its lower triangle, diagonal included, is
    /// read) in place: on return its strict lower triangle holds L (unit diagonal implied) and
    /// `d` the pivots. `signs[j]` is the expected sign of pivot j; `rule` regularizes the pivots
    /// (bumps counted in `bumps`; the first non-finite one's index in `firstNonFinite`, −1 if
    /// none). `scaled` needs
    /// `blockWidth`·t entries, `column` `blockWidth`.
    static func factor(_ a: UnsafeMutablePointer<Double>, _ t: Int, signs: UnsafePointer<Double>,
                       d: UnsafeMutablePointer<Double>, scaled: UnsafeMutablePointer<Double>,
                       column: UnsafeMutablePointer<Double>, rule: PivotRule)
        -> (bumps: Int, firstNonFinite: Int) {
        var bumps = 0
        var firstNonFinite = -1
        var j0 = 0
        while j0 < t {
            let j1 = min(j0 + blockWidth, t)
            if j0 > 0 {
                // scaled row jj = L[j0 + jj, 0..<j0] ∘ d[0..<j0]
                for jj in 0..<(j1 - j0) {
                    let src = a + (j0 + jj) * t, dst = scaled + jj * j0
                    for p in 0..<j0 { dst[p] = src[p] * d[p] }
                }
                // A[i, j] −= L[i, 0..<j0] · scaled[j], for j in the block and j ≤ i
                for i in j0..<t {
                    let row = a + i * t
                    let end = min(i + 1, j1)
                    var j = j0
                    while j + 4 <= end {
                        let s = dot4(row, scaled + (j - j0) * j0, j0)
                        row[j] -= s.0
                        row[j + 1] -= s.1
                        row[j + 2] -= s.2
                        row[j + 3] -= s.3
                        j += 4
                    }
                    while j < end {
                        row[j] -= dot(row, scaled + (j - j0) * j0, j0)
                        j += 1
                    }
                }
            }
            // Within the block: what columns j0..<j add to column j, then the pivot.
            for j in j0..<j1 {
                let rowJ = a + j * t
                var pivot = rowJ[j]
                for p in j0..<j {
                    let v = rowJ[p] * d[p]
                    column[p - j0] = v
                    pivot -= rowJ[p] * v
                }
                let chosen = rule.pivot(pivot, sign: signs[j])
                if chosen.nonFinite && firstNonFinite < 0 { firstNonFinite = j }
                if chosen.bumped { bumps += 1 }
                pivot = chosen.value
                d[j] = pivot
                let inverse = 1 / pivot
                var i = j + 1
                while i < t {
                    let row = a + i * t
                    var s = row[j]
                    for p in j0..<j { s -= row[p] * column[p - j0] }
                    row[j] = s * inverse
                    i += 1
                }
            }
            j0 = j1
        }
        return (bumps, firstNonFinite)
    }

    /// Σ x[p]·y[p] for p < count.
    @inline(__always)
    static func dot(_ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>, _ count: Int) -> Double {
        var acc = SIMD4<Double>()
        var p = 0
        while p + 4 <= count {
            acc += load4(x + p) * load4(y + p)
            p += 4
        }
        var s = acc.sum()
        while p < count { s += x[p] * y[p]; p += 1 }
        return s
    }

    /// The dot products of x with four consecutive rows of `rows` (stride `count`).
    @inline(__always)
    static func dot4(_ x: UnsafePointer<Double>, _ rows: UnsafePointer<Double>, _ count: Int)
        -> (Double, Double, Double, Double) {
        let y0 = rows, y1 = rows + count, y2 = rows + 2 * count, y3 = rows + 3 * count
        var a0 = SIMD4<Double>(), a1 = SIMD4<Double>(), a2 = SIMD4<Double>(), a3 = SIMD4<Double>()
        var p = 0
        while p + 4 <= count {
            let v = load4(x + p)
            a0 += v * load4(y0 + p)
            a1 += v * load4(y1 + p)
            a2 += v * load4(y2 + p)
            a3 += v * load4(y3 + p)
            p += 4
        }
        var s0 = a0.sum(), s1 = a1.sum(), s2 = a2.sum(), s3 = a3.sum()
        while p < count {
            let v = x[p]
            s0 += v * y0[p]
            s1 += v * y1[p]
            s2 += v * y2[p]
            s3 += v * y3[p]
            p += 1
        }
        return (s0, s1, s2, s3)
    }

    @inline(__always)
    static func load4(_ p: UnsafePointer<Double>) -> SIMD4<Double> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Double>.self)
    }
}
