/// A sparse matrix in compressed sparse column form, 0-based (the layout of Clarabel's and
/// SciPy's CSC): column `j` holds the entries `colptr[j] ..< colptr[j+1]` of `rowval`/`nzval`.
public struct SparseMatrixCSC: Sendable, Equatable {
    public var m: Int
    public var n: Int
    public var colptr: [Int]
    public var rowval: [Int]
    public var nzval: [Double]

    public init(m: Int, n: Int, colptr: [Int], rowval: [Int], nzval: [Double]) {
        self.m = m
        self.n = n
        self.colptr = colptr
        self.rowval = rowval
        self.nzval = nzval
    }

    /// An m×n matrix with no entries.
    public static func zeros(_ m: Int, _ n: Int) -> SparseMatrixCSC {
        SparseMatrixCSC(m: m, n: n, colptr: Array(repeating: 0, count: n + 1), rowval: [], nzval: [])
    }

    public var nnz: Int { rowval.count }
}

/// One cone of the product `K` that the slack `s` of `Ax + s = b` must lie in, in row order.
public enum Cone: Sendable, Equatable {
    /// `s = 0` (equality rows).
    case zero(Int)
    /// `s ≥ 0` (inequality rows).
    case nonnegative(Int)
    /// `s₀ ≥ ‖s₁..‖₂`, dimension ≥ 1. A rotated cone `2uv ≥ ‖w‖², u, v ≥ 0` is written as the
    /// standard cone on `((u+v)/√2, (u−v)/√2, w)`: see `RotatedCone` in README's solver notes.
    case secondOrder(Int)

    public var dimension: Int {
        switch self {
        case .zero(let d), .nonnegative(let d), .secondOrder(let d): return d
        }
    }
}

/// `min ½xᵀPx + qᵀx  s.t.  Ax + s = b,  s ∈ K`, with `P` given by its upper triangle.
/// `integers` lists variables restricted to {0, 1} (solved by branch-and-bound).
public struct ConicProblem: Sendable {
    public var P: SparseMatrixCSC?
    public var q: [Double]
    public var A: SparseMatrixCSC
    public var b: [Double]
    public var cones: [Cone]
    public var integers: [Int]
    /// Optional elimination hint, one entry per variable: the factorization eliminates the KKT
    /// system stage by stage (a constraint row takes the largest stage of its variables), and by
    /// minimum degree within a stage. For problems that are a chain of weakly coupled blocks
    /// (periods linked by storage), ordering by block keeps the fill to one block's size, where a
    /// global minimum-degree order can merge the blocks into one dense separator. nil: no hint.
    public var variableStages: [Int]?

    public init(P: SparseMatrixCSC?, q: [Double], A: SparseMatrixCSC, b: [Double], cones: [Cone],
                integers: [Int] = []) {
        self.P = P
        self.q = q
        self.A = A
        self.b = b
        self.cones = cones
        self.integers = integers
    }
}
