// Sparse LDLᵀ factorization of symmetric quasi-definite matrices (up-looking, in the manner of
// QDLDL): elimination tree and column counts once at setup, then numeric factorizations and
// solves on workspaces allocated at setup. A fill-reducing permutation (approximate minimum
// degree) is applied symmetrically: the factor is of Π K Πᵀ, and the caller never sees Π.
//
// Quasi-definite: K = [H Bᵀ; B −G] with H, G positive definite, so every symmetric permutation
// has an LDLᵀ factor with D of known sign pattern (+ for the H block, − for the G block). Each
// pivot is checked against that expected sign; one with the wrong sign or too small (|d| ≤ ε)
// is replaced by ±δ (dynamic regularization) and counted.
//
// When the ordering leaves the last columns of L completely dense (at least
// `denseTailMinimum` of them), the up-looking loop stops at that block's first column: for its
// rows it subtracts only the sparse columns, which leaves the Schur complement of the tail in a
// dense matrix, and DenseLDL factors that with the same pivot rules. L keeps its CSC layout.

/// Why a symbolic analysis or factorization failed.
public enum LDLFailure: Error, Sendable, Equatable {
    /// The pattern is not a valid CSC upper triangle of a square matrix (first bad column).
    case invalidPattern(column: Int)
    /// `signs` or `values` has the wrong length.
    case wrongLength
    /// A pivot was not finite (original index).
    case nonFinitePivot(index: Int)
}

/// Dynamic regularization of one pivot expected to have sign `sign` (±1): a non-finite pivot,
/// or one of the wrong sign or with |d| ≤ ε, becomes sign·δ. Shared by the sparse and the dense
/// parts of the factor.
struct PivotRule {
    let epsilon: Double
    let delta: Double

    @inline(__always)
    func pivot(_ value: Double, sign: Double) -> (value: Double, bumped: Bool, nonFinite: Bool) {
        if !value.isFinite { return (sign * delta, false, true) }
        if value * sign <= epsilon { return (sign * delta, true, false) }
        return (value, false, false)
    }
}

public final class QuasiDefiniteLDL {
    /// Matrix dimension.
    public let n: Int
    /// `perm[k]` = original index at permuted position k; `inversePerm` its inverse.
    public let perm: [Int]
    public let inversePerm: [Int]
    /// Permuted upper-triangular pattern and values.
    private let kp: [Int]
    private let ki: [Int]
    private var kx: [Double]
    /// Original entry index → permuted entry index.
    private let entryMap: [Int]
    /// Expected pivot sign (+1/−1) per permuted index.
    private let signs: [Double]
    /// Signed static regularization per permuted index (removed when refining).
    private var staticShift: [Double]
    /// Permuted entry index of each permuted diagonal, −1 if the pattern lacks it.
    private let diagonalEntry: [Int]

    private let etree: [Int]
    private let lp: [Int]
    private var li: [Int]
    private var lx: [Double]
    private var d: [Double]
    private var dInv: [Double]

    // Factorization workspaces.
    private var yVals: [Double]
    private var yMarked: [Bool]
    private var yIdx: [Int]
    private var elimBuffer: [Int]
    private var nextInCol: [Int]
    /// First column of the dense tail (n when there is none), its row-major Schur complement
    /// and DenseLDL's workspaces.
    public let denseTailStart: Int
    private var denseTail: [Double]
    private var denseScaled: [Double]
    private var denseColumn: [Double]
    // Solve workspaces.
    private var work: [Double]
    private var residual: [Double]
    private var correction: [Double]
    private var rhsPerm: [Double]

    /// Number of entries of the strict lower triangle of L (the fill measure).
    public var nnzL: Int { lp[n] }
    /// Number of entries of the factored matrix's upper triangle.
    public var nnzMatrix: Int { ki.count }
    /// Number of pivots bumped by dynamic regularization in the last factorization.
    public private(set) var dynamicBumps = 0

    /// Symbolic analysis of the `n`×`n` upper-triangular pattern (`colptr`, `rowval`; rows
    /// need not be sorted; duplicates are summed), with `signs[i]` = +1 or −1 the expected sign
    /// of pivot i. `useOrdering` enables the approximate-minimum-degree ordering. A dense tail
    /// of L with at least `denseTailMinimum` columns (and at most `denseTailMaximum`, for memory:
    /// the dense copy holds t² values), at least `denseTailDensity` full, is factored densely.
    public init(n: Int, colptr: [Int], rowval: [Int], signs: [Double], useOrdering: Bool = true,
                stages: [Int]? = nil,
                denseTailMinimum: Int = 96, denseTailMaximum: Int = 8192, denseTailDensity: Double = 0.95) throws {
        guard n >= 0, colptr.count == n + 1, signs.count == n, colptr[0] == 0 else {
            throw LDLFailure.wrongLength
        }
        for j in 0..<n {
            guard colptr[j + 1] >= colptr[j], colptr[j + 1] <= rowval.count else {
                throw LDLFailure.invalidPattern(column: j)
            }
            for k in colptr[j]..<colptr[j + 1] where rowval[k] > j || rowval[k] < 0 {
                throw LDLFailure.invalidPattern(column: j)
            }
        }
        self.n = n
        let p: [Int]
        if !useOrdering {
            p = Array(0..<n)
        } else if let stages, stages.count == n {
            p = MinimumDegreeOrdering.order(n: n, colptr: colptr, rowval: rowval, stages: stages)
        } else {
            p = MinimumDegreeOrdering.order(n: n, colptr: colptr, rowval: rowval)
        }
        var ip = [Int](repeating: 0, count: n)
        for k in 0..<n { ip[p[k]] = k }
        perm = p
        inversePerm = ip

        // Permuted pattern: entry (i, j) goes to column max(ip[i], ip[j]).
        let nnz = colptr[n]
        var count = [Int](repeating: 0, count: n + 1)
        for j in 0..<n {
            for k in colptr[j]..<colptr[j + 1] {
                count[max(ip[rowval[k]], ip[j]) + 1] += 1
            }
        }
        for j in 0..<n { count[j + 1] += count[j] }
        var next = count
        var rows = [Int](repeating: 0, count: nnz)
        var map = [Int](repeating: 0, count: nnz)
        for j in 0..<n {
            for k in colptr[j]..<colptr[j + 1] {
                let a = ip[rowval[k]], b = ip[j]
                let col = max(a, b)
                rows[next[col]] = min(a, b)
                map[k] = next[col]
                next[col] += 1
            }
        }
        var diagEntry = [Int](repeating: -1, count: n)
        for c in 0..<n {
            for t in count[c]..<count[c + 1] where rows[t] == c { diagEntry[c] = t }
        }
        diagonalEntry = diagEntry
        kp = count
        ki = rows
        kx = [Double](repeating: 0, count: nnz)
        entryMap = map
        var sg = [Double](repeating: 1, count: n)
        for k in 0..<n { sg[k] = signs[p[k]] >= 0 ? 1 : -1 }
        self.signs = sg
        staticShift = [Double](repeating: 0, count: n)

        // Elimination tree and column counts of L.
        var parent = [Int](repeating: -1, count: n)
        var lnz = [Int](repeating: 0, count: n)
        var flag = [Int](repeating: -1, count: n)
        for k in 0..<n {
            flag[k] = k
            for t in count[k]..<count[k + 1] {
                var i = rows[t]
                while flag[i] != k {
                    if parent[i] == -1 { parent[i] = k }
                    lnz[i] += 1
                    flag[i] = k
                    i = parent[i]
                }
            }
        }
        etree = parent
        // The longest trailing block at least `denseTailDensity` full; its columns are then
        // stored full (explicit zeros), which costs a little arithmetic on zeros and saves the
        // scattered updates of the nearly dense columns just before an exactly dense block.
        var tailStart = n
        var filled = 0
        for t in stride(from: 1, through: min(n, denseTailMaximum), by: 1) {
            filled += lnz[n - t]
            if Double(filled) >= denseTailDensity * Double(t * (t - 1) / 2) { tailStart = n - t }
        }
        if n - tailStart < max(denseTailMinimum, 1) { tailStart = n }
        for j in tailStart..<n { lnz[j] = n - 1 - j }
        denseTailStart = tailStart
        let t = n - tailStart
        denseTail = [Double](repeating: 0, count: t * t)
        denseScaled = [Double](repeating: 0, count: t > 0 ? DenseLDL.blockWidth * t : 0)
        denseColumn = [Double](repeating: 0, count: t > 0 ? DenseLDL.blockWidth : 0)
        var lptr = [Int](repeating: 0, count: n + 1)
        for i in 0..<n { lptr[i + 1] = lptr[i] + lnz[i] }
        lp = lptr
        li = [Int](repeating: 0, count: lptr[n])
        lx = [Double](repeating: 0, count: lptr[n])
        d = [Double](repeating: 0, count: n)
        dInv = [Double](repeating: 0, count: n)
        yVals = [Double](repeating: 0, count: n)
        yMarked = [Bool](repeating: false, count: n)
        yIdx = [Int](repeating: 0, count: n)
        elimBuffer = [Int](repeating: 0, count: n)
        nextInCol = [Int](repeating: 0, count: n)
        work = [Double](repeating: 0, count: n)
        residual = [Double](repeating: 0, count: n)
        correction = [Double](repeating: 0, count: n)
        rhsPerm = [Double](repeating: 0, count: n)
    }

    /// The symbolic analysis of `upperTriangle` (an n×n CSC upper triangle).
    public convenience init(upperTriangle K: SparseMatrixCSC, signs: [Double], useOrdering: Bool = true,
                            denseTailMinimum: Int = 96, denseTailDensity: Double = 0.95) throws {
        guard K.m == K.n, K.colptr.count == K.n + 1, K.rowval.count == K.nzval.count,
              K.colptr.last == K.rowval.count else { throw LDLFailure.wrongLength }
        try self.init(n: K.n, colptr: K.colptr, rowval: K.rowval, signs: signs, useOrdering: useOrdering,
                      denseTailMinimum: denseTailMinimum, denseTailDensity: denseTailDensity)
    }

    /// Copies the values of the original (unpermuted) pattern, entry by entry, into the
    /// permuted matrix; `staticRegularization` is added to every diagonal with its expected
    /// sign (and taken out again by iterative refinement).
    func setValues(_ values: UnsafeBufferPointer<Double>, staticRegularization: Double) {
        let n = self.n
        entryMap.withUnsafeBufferPointer { map in
            kx.withUnsafeMutableBufferPointer { x in
                for k in 0..<x.count { x[k] = 0 }
                for k in 0..<values.count { x[map[k]] += values[k] }
                for i in 0..<n where diagonalEntry[i] >= 0 { x[diagonalEntry[i]] += staticRegularization * signs[i] }
            }
        }
        for i in 0..<n { staticShift[i] = diagonalEntry[i] >= 0 ? staticRegularization * signs[i] : 0 }
    }

    /// Sets the values (in the order of the pattern given at init) and factors:
    /// K + static·diag(signs) = L D Lᵀ with dynamic regularization (ε, δ).
    public func factor(values: [Double], staticRegularization: Double = 0,
                       epsilon: Double = 1e-13, delta: Double = 2e-7) throws {
        guard values.count == entryMap.count else { throw LDLFailure.wrongLength }
        values.withUnsafeBufferPointer { setValues($0, staticRegularization: staticRegularization) }
        try factor(epsilon: epsilon, delta: delta)
    }

    /// x = K⁻¹b for the last factorization (with optional iterative refinement).
    public func solve(_ b: [Double], refinementSteps: Int = 0) -> [Double] {
        var x = [Double](repeating: 0, count: n)
        guard b.count == n else { return x }
        b.withUnsafeBufferPointer { bb in
            x.withUnsafeMutableBufferPointer { xb in
                solve(bb, xb, refinementSteps: refinementSteps, absTol: 1e-14, relTol: 1e-14)
            }
        }
        return x
    }

    /// Numeric factorization of the values last set. Pivots with |d| ≤ `epsilon` or the wrong
    /// sign are replaced by ±`delta`.
    func factor(epsilon: Double, delta: Double) throws {
        var bumps = 0
        var failedAt = -1
        let n = self.n
        let tailStart = denseTailStart, tailCount = n - denseTailStart
        let rule = PivotRule(epsilon: epsilon, delta: delta)
        kp.withUnsafeBufferPointer { Ap in
        ki.withUnsafeBufferPointer { Ai in
        kx.withUnsafeBufferPointer { Ax in
        etree.withUnsafeBufferPointer { parent in
        lp.withUnsafeBufferPointer { Lp in
        li.withUnsafeMutableBufferPointer { Li in
        lx.withUnsafeMutableBufferPointer { Lx in
        d.withUnsafeMutableBufferPointer { D in
        dInv.withUnsafeMutableBufferPointer { Dinv in
        yVals.withUnsafeMutableBufferPointer { y in
        yMarked.withUnsafeMutableBufferPointer { marked in
        yIdx.withUnsafeMutableBufferPointer { yIdx in
        elimBuffer.withUnsafeMutableBufferPointer { buffer in
        nextInCol.withUnsafeMutableBufferPointer { nextSpace in
        denseTail.withUnsafeMutableBufferPointer { tailRows in
        signs.withUnsafeBufferPointer { sign in
            for i in 0..<n { nextSpace[i] = Lp[i]; marked[i] = false; y[i] = 0 }
            for k in 0..<n {
                // Pattern of row k of L: the union of etree paths from the entries of column k.
                var nnzY = 0
                var diag = 0.0
                for t in Ap[k]..<Ap[k + 1] {
                    let i = Ai[t]
                    if i == k { diag += Ax[t]; continue }
                    y[i] += Ax[t]
                    if marked[i] { continue }
                    marked[i] = true
                    buffer[0] = i
                    var nE = 1
                    var nextIdx = parent[i]
                    while nextIdx != -1 && nextIdx < k {
                        if marked[nextIdx] { break }
                        marked[nextIdx] = true
                        buffer[nE] = nextIdx
                        nE += 1
                        nextIdx = parent[nextIdx]
                    }
                    while nE > 0 {
                        nE -= 1
                        yIdx[nnzY] = buffer[nE]
                        nnzY += 1
                    }
                }
                // Sparse triangular solve, descendants before ancestors; columns of the dense
                // tail are left to DenseLDL (no sparse column descends from them).
                var r = nnzY - 1
                while r >= 0 {
                    let c = yIdx[r]
                    if c >= tailStart { r -= 1; continue }
                    let yc = y[c]
                    let end = nextSpace[c]
                    var j = Lp[c]
                    while j < end {
                        y[Li[j]] -= Lx[j] * yc
                        j += 1
                    }
                    let lkc = yc * Dinv[c]
                    Li[end] = k
                    Lx[end] = lkc
                    diag -= yc * lkc
                    nextSpace[c] = end + 1
                    y[c] = 0
                    marked[c] = false
                    r -= 1
                }
                if k >= tailStart {
                    // Row k of the tail's Schur complement; its pivots come from DenseLDL.
                    let row = (k - tailStart) * tailCount - tailStart
                    for c in tailStart..<k { tailRows[row + c] = y[c]; y[c] = 0; marked[c] = false }
                    tailRows[row + k] = diag
                    continue
                }
                let pivot = rule.pivot(diag, sign: sign[k])
                if pivot.nonFinite && failedAt < 0 { failedAt = k }
                if pivot.bumped { bumps += 1 }
                diag = pivot.value
                D[k] = diag
                Dinv[k] = 1 / diag
            }
            if tailCount > 0 {
                denseScaled.withUnsafeMutableBufferPointer { scaled in
                denseColumn.withUnsafeMutableBufferPointer { column in
                    guard let a = tailRows.baseAddress, let signBase = sign.baseAddress, let dBase = D.baseAddress,
                          let scaledBase = scaled.baseAddress, let columnBase = column.baseAddress else { return }
                    let result = DenseLDL.factor(a, tailCount, signs: signBase + tailStart, d: dBase + tailStart,
                                                 scaled: scaledBase, column: columnBase, rule: rule)
                    bumps += result.bumps
                    if result.firstNonFinite >= 0 && failedAt < 0 { failedAt = tailStart + result.firstNonFinite }
                }}
                for c in tailStart..<n {
                    Dinv[c] = 1 / D[c]
                    let base = Lp[c], local = c - tailStart
                    for i in (c + 1)..<n {
                        Li[base + i - c - 1] = i
                        Lx[base + i - c - 1] = tailRows[(i - tailStart) * tailCount + local]
                    }
                }
            }
        }}}}}}}}}}}}}}}}
        dynamicBumps = bumps
        if failedAt >= 0 { throw LDLFailure.nonFinitePivot(index: perm[failedAt]) }
    }

    /// In place: x ← (L D Lᵀ)⁻¹ x, in permuted coordinates.
    private func solvePermuted(_ x: UnsafeMutableBufferPointer<Double>) {
        let n = self.n
        lp.withUnsafeBufferPointer { Lp in
        li.withUnsafeBufferPointer { Li in
        lx.withUnsafeBufferPointer { Lx in
        dInv.withUnsafeBufferPointer { Dinv in
            // Columns of the dense tail hold rows i+1..<n in order: contiguous loops there.
            var tailStart = denseTailStart
            let xBase = x.baseAddress, lxBase = Lx.baseAddress
            if xBase == nil || lxBase == nil { tailStart = n }
            for i in 0..<tailStart {
                let xi = x[i]
                if xi != 0 {
                    for j in Lp[i]..<Lp[i + 1] { x[Li[j]] -= Lx[j] * xi }
                }
            }
            if tailStart < n, let xBase, let lxBase {
                for i in tailStart..<n {
                    let xi = x[i], column = lxBase + Lp[i], below = xBase + i + 1
                    for r in 0..<(n - 1 - i) { below[r] -= column[r] * xi }
                }
            }
            for i in 0..<n { x[i] *= Dinv[i] }
            if tailStart < n, let xBase, let lxBase {
                for i in stride(from: n - 1, through: tailStart, by: -1) {
                    x[i] -= DenseLDL.dot(lxBase + Lp[i], xBase + i + 1, n - 1 - i)
                }
            }
            var i = tailStart - 1
            while i >= 0 {
                var acc = x[i]
                for j in Lp[i]..<Lp[i + 1] { acc -= Lx[j] * x[Li[j]] }
                x[i] = acc
                i -= 1
            }
        }}}}
    }

    /// r ← b − (K − static shift)·x, permuted coordinates; returns ‖r‖∞.
    private func refinementResidual(b: UnsafeBufferPointer<Double>, x: UnsafeBufferPointer<Double>,
                                    r: UnsafeMutableBufferPointer<Double>) -> Double {
        let n = self.n
        kp.withUnsafeBufferPointer { Ap in
        ki.withUnsafeBufferPointer { Ai in
        kx.withUnsafeBufferPointer { Ax in
        staticShift.withUnsafeBufferPointer { shift in
            for i in 0..<n { r[i] = b[i] + shift[i] * x[i] }
            for j in 0..<n {
                let xj = x[j]
                var acc = 0.0
                for t in Ap[j]..<Ap[j + 1] {
                    let i = Ai[t]
                    let v = Ax[t]
                    if i == j {
                        acc += v * xj
                    } else {
                        r[i] -= v * xj
                        acc += v * x[i]
                    }
                }
                r[j] -= acc
            }
        }}}}
        return normInf(UnsafeBufferPointer(r))
    }

    /// Solves K x = b (original coordinates; `b` and `x` of length n, may not alias) with up to
    /// `refinementSteps` steps of iterative refinement against K without static regularization,
    /// stopping once ‖r‖∞ ≤ `absTol` + `relTol`·‖b‖∞, or once a step reduces the residual by
    /// less than `stopRatio` (a step that does not reduce it at all is undone).
    func solve(_ b: UnsafeBufferPointer<Double>, _ x: UnsafeMutableBufferPointer<Double>,
               refinementSteps: Int, absTol: Double, relTol: Double, stopRatio: Double = 5) {
        let n = self.n
        rhsPerm.withUnsafeMutableBufferPointer { bp in
        work.withUnsafeMutableBufferPointer { xp in
        residual.withUnsafeMutableBufferPointer { r in
        correction.withUnsafeMutableBufferPointer { c in
        perm.withUnsafeBufferPointer { p in
            for k in 0..<n { bp[k] = b[p[k]] }
            for k in 0..<n { xp[k] = bp[k] }
            solvePermuted(xp)
            if refinementSteps > 0 {
                let tol = absTol + relTol * normInf(UnsafeBufferPointer(bp))
                var rNorm = refinementResidual(b: UnsafeBufferPointer(bp), x: UnsafeBufferPointer(xp), r: r)
                var step = 0
                while step < refinementSteps && rNorm > tol {
                    for k in 0..<n { c[k] = xp[k] }   // keep the current x in case the step fails
                    solvePermuted(r)
                    for k in 0..<n { xp[k] += r[k] }
                    let newNorm = refinementResidual(b: UnsafeBufferPointer(bp), x: UnsafeBufferPointer(xp), r: r)
                    if !(newNorm < rNorm) {
                        for k in 0..<n { xp[k] = c[k] }
                        break
                    }
                    let improvement = rNorm / newNorm
                    rNorm = newNorm
                    step += 1
                    if improvement < stopRatio { break }   // converging too slowly to be worth it
                }
            }
            for k in 0..<n { x[p[k]] = xp[k] }
        }}}}}
    }
}
