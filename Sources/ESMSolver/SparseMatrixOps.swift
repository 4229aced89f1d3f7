// Structural checks and the few sparse kernels the solver needs (CSC, 0-based).

extension SparseMatrixCSC {
    /// The first structural problem of this matrix as a descriptive error (`nil` if it is valid):
    /// `name` prefixes the field named in the error, e.g. `"A"` gives `"A.rowval[12]"`.
    func structuralError(name: String, rows expectedRows: Int, cols expectedCols: Int) -> ConicSolverError? {
        if m != expectedRows || n != expectedCols {
            return ConicSolverError(field: name, message:
                "\(name) is \(m)×\(n) but \(expectedRows)×\(expectedCols) is required")
        }
        if colptr.count != n + 1 {
            return ConicSolverError(field: "\(name).colptr", message:
                "\(name).colptr has \(colptr.count) entries, n+1 = \(n + 1) required")
        }
        if colptr[0] != 0 {
            return ConicSolverError(field: "\(name).colptr[0]", message: "\(name).colptr[0] is \(colptr[0]), must be 0")
        }
        for j in 0..<n where colptr[j + 1] < colptr[j] {
            return ConicSolverError(field: "\(name).colptr[\(j + 1)]", message:
                "\(name).colptr decreases at index \(j + 1) (\(colptr[j]) then \(colptr[j + 1]))")
        }
        let nnzDeclared = colptr[n]
        if rowval.count != nnzDeclared || nzval.count != nnzDeclared {
            return ConicSolverError(field: "\(name).colptr[\(n)]", message:
                "\(name).colptr[\(n)] = \(nnzDeclared) but rowval has \(rowval.count) and nzval \(nzval.count) entries")
        }
        for k in 0..<rowval.count where rowval[k] < 0 || rowval[k] >= m {
            return ConicSolverError(field: "\(name).rowval[\(k)]", message:
                "\(name).rowval[\(k)] = \(rowval[k]) is outside 0..<\(m)")
        }
        for k in 0..<nzval.count where !nzval[k].isFinite {
            return ConicSolverError(field: "\(name).nzval[\(k)]", message: "\(name).nzval[\(k)] is not finite")
        }
        return nil
    }

    /// A copy with the rows of each column sorted and duplicate entries summed.
    /// Requires a structurally valid matrix.
    func canonicalized() -> SparseMatrixCSC {
        var cp = [Int](repeating: 0, count: n + 1)
        var ri = [Int]()
        var vx = [Double]()
        ri.reserveCapacity(nnz)
        vx.reserveCapacity(nnz)
        var pairs = [(Int, Double)]()
        for j in 0..<n {
            pairs.removeAll(keepingCapacity: true)
            for k in colptr[j]..<colptr[j + 1] { pairs.append((rowval[k], nzval[k])) }
            var sorted = true
            if pairs.count > 1 {
                for t in 1..<pairs.count where pairs[t - 1].0 >= pairs[t].0 { sorted = false; break }
            }
            if !sorted { pairs.sort { $0.0 < $1.0 } }
            var last = -1
            for (r, v) in pairs {
                if r == last { vx[vx.count - 1] += v } else { ri.append(r); vx.append(v); last = r }
            }
            cp[j + 1] = ri.count
        }
        return SparseMatrixCSC(m: m, n: n, colptr: cp, rowval: ri, nzval: vx)
    }

    /// The transpose, with sorted rows.
    func transposed() -> SparseMatrixCSC {
        var count = [Int](repeating: 0, count: m + 1)
        for r in rowval { count[r + 1] += 1 }
        for i in 0..<m { count[i + 1] += count[i] }
        var next = count
        var ri = [Int](repeating: 0, count: nnz)
        var vx = [Double](repeating: 0, count: nnz)
        for j in 0..<n {
            for k in colptr[j]..<colptr[j + 1] {
                let r = rowval[k]
                let dst = next[r]
                next[r] += 1
                ri[dst] = j
                vx[dst] = nzval[k]
            }
        }
        return SparseMatrixCSC(m: n, n: m, colptr: count, rowval: ri, nzval: vx)
    }
}

/// `y += alpha·A·x`.
@inline(__always)
func sparseMulAdd(_ A: SparseMatrixCSC, _ x: UnsafeBufferPointer<Double>, _ y: UnsafeMutableBufferPointer<Double>,
                  alpha: Double = 1) {
    A.colptr.withUnsafeBufferPointer { cp in
        A.rowval.withUnsafeBufferPointer { ri in
            A.nzval.withUnsafeBufferPointer { vx in
                for j in 0..<A.n {
                    let xj = alpha * x[j]
                    if xj == 0 { continue }
                    for k in cp[j]..<cp[j + 1] { y[ri[k]] += vx[k] * xj }
                }
            }
        }
    }
}

/// `y += alpha·Aᵀ·x`.
@inline(__always)
func sparseMulTransposeAdd(_ A: SparseMatrixCSC, _ x: UnsafeBufferPointer<Double>,
                           _ y: UnsafeMutableBufferPointer<Double>, alpha: Double = 1) {
    A.colptr.withUnsafeBufferPointer { cp in
        A.rowval.withUnsafeBufferPointer { ri in
            A.nzval.withUnsafeBufferPointer { vx in
                for j in 0..<A.n {
                    var acc = 0.0
                    for k in cp[j]..<cp[j + 1] { acc += vx[k] * x[ri[k]] }
                    y[j] += alpha * acc
                }
            }
        }
    }
}

/// `y += alpha·S·x` for the symmetric `S` whose upper triangle is `U`.
@inline(__always)
func symmetricUpperMulAdd(_ U: SparseMatrixCSC, _ x: UnsafeBufferPointer<Double>,
                          _ y: UnsafeMutableBufferPointer<Double>, alpha: Double = 1) {
    U.colptr.withUnsafeBufferPointer { cp in
        U.rowval.withUnsafeBufferPointer { ri in
            U.nzval.withUnsafeBufferPointer { vx in
                for j in 0..<U.n {
                    let xj = x[j]
                    var acc = 0.0
                    for k in cp[j]..<cp[j + 1] {
                        let i = ri[k]
                        let v = vx[k]
                        if i == j {
                            acc += v * xj
                        } else {
                            y[i] += alpha * v * xj
                            acc += v * x[i]
                        }
                    }
                    y[j] += alpha * acc
                }
            }
        }
    }
}

@inline(__always)
func normInf(_ v: UnsafeBufferPointer<Double>) -> Double {
    var r = 0.0
    for t in v { let a = abs(t); if a > r { r = a } }
    return r
}

@inline(__always)
func dot(_ a: UnsafeBufferPointer<Double>, _ b: UnsafeBufferPointer<Double>) -> Double {
    var r = 0.0
    for i in 0..<a.count { r += a[i] * b[i] }
    return r
}

extension SparseMatrixCSC {
    /// An m×n matrix from (row, column, value) triplets; duplicates are summed and triplets
    /// outside the matrix are ignored (check them before if they come from users).
    public init(m: Int, n: Int, triplets: [(row: Int, col: Int, value: Double)]) {
        let rows = max(m, 0), cols = max(n, 0)
        var count = [Int](repeating: 0, count: cols + 1)
        var kept = 0
        for t in triplets where t.row >= 0 && t.row < rows && t.col >= 0 && t.col < cols {
            count[t.col + 1] += 1
            kept += 1
        }
        for j in 0..<cols { count[j + 1] += count[j] }
        var next = count
        var ri = [Int](repeating: 0, count: kept)
        var vx = [Double](repeating: 0, count: kept)
        for t in triplets where t.row >= 0 && t.row < rows && t.col >= 0 && t.col < cols {
            ri[next[t.col]] = t.row
            vx[next[t.col]] = t.value
            next[t.col] += 1
        }
        self = SparseMatrixCSC(m: rows, n: cols, colptr: count, rowval: ri, nzval: vx).canonicalized()
    }

    /// The matrix with the nonzeros of a dense row-major array (all rows of equal length).
    public init(dense: [[Double]]) {
        var t = [(row: Int, col: Int, value: Double)]()
        let cols = dense.first?.count ?? 0
        for (i, row) in dense.enumerated() {
            for (j, v) in row.enumerated() where v != 0 { t.append((i, j, v)) }
        }
        self.init(m: dense.count, n: cols, triplets: t)
    }
}
