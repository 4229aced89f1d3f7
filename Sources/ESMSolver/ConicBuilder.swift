/// Assembles a `ConicProblem` from named blocks of variables and named groups of constraint rows,
/// added in any order. Knows nothing of what the variables mean.
///
/// A constraint row is an affine expression `e(x) = c + Σ aᵢxᵢ` that must lie in a cone: the
/// builder writes it as the slack `s = e(x)`, i.e. the row `−aᵀx + s = c` of `Ax + s = b`. Rows
/// are collected in groups; each group belongs to one cone kind (zero, nonnegative, or second-order),
/// and `build()` orders the rows as all zero-cone groups, then all nonnegative groups, then all
/// second-order groups, each kind in the order its groups were created and each group's rows in
/// the order they were added. So every group occupies one contiguous row range of the result,
/// which `ConicModel.rows(of:)` returns for reading duals.
///
/// Duals (`ConicSolution.y`, convention `Px + q + Aᵀy = 0`, `y ∈ K*`): for a row `s = e(x)`,
/// raising the constant `c` of `e` by `δ` changes the optimal objective by about `−y·δ`. For a
/// `≥` row `y ≥ 0` is the usual multiplier; for an equality `lhs = rhs` written as
/// `e = lhs − rhs`, `y` is the marginal cost of raising `rhs`.
///
/// Cost: every call is amortized O(terms); `build()` turns the triplets into CSC once, in
/// O(nnz + n + m) plus a sort of each column's (few) entries.

/// `coefficient · x[variable]`.
public struct LinearTerm: Sendable, Equatable {
    public var variable: Int
    public var coefficient: Double

    public init(_ variable: Int, _ coefficient: Double) {
        self.variable = variable
        self.coefficient = coefficient
    }
}

/// `constant + Σ coefficient · x[variable]` (terms may repeat a variable; they are summed).
public struct LinearExpression: Sendable, Equatable {
    public var terms: [LinearTerm]
    public var constant: Double

    public init(_ terms: [LinearTerm] = [], constant: Double = 0) {
        self.terms = terms
        self.constant = constant
    }

    /// `coefficient · x[variable]`.
    public static func variable(_ index: Int, _ coefficient: Double = 1) -> LinearExpression {
        LinearExpression([LinearTerm(index, coefficient)])
    }

    public static func constant(_ value: Double) -> LinearExpression { LinearExpression(constant: value) }

    public static var zero: LinearExpression { LinearExpression() }

    public mutating func add(_ variable: Int, _ coefficient: Double) {
        terms.append(LinearTerm(variable, coefficient))
    }

    /// `self += factor · other`.
    public mutating func add(_ other: LinearExpression, times factor: Double = 1) {
        terms.reserveCapacity(terms.count + other.terms.count)
        for t in other.terms { terms.append(LinearTerm(t.variable, factor * t.coefficient)) }
        constant += factor * other.constant
    }

    public func scaled(by factor: Double) -> LinearExpression {
        LinearExpression(terms.map { LinearTerm($0.variable, factor * $0.coefficient) }, constant: factor * constant)
    }

    /// The value at `x` (variables out of range count as 0).
    public func value(at x: [Double]) -> Double {
        var v = constant
        for t in terms where t.variable >= 0 && t.variable < x.count { v += t.coefficient * x[t.variable] }
        return v
    }

    public static func + (a: LinearExpression, b: LinearExpression) -> LinearExpression {
        var r = a
        r.add(b)
        return r
    }

    public static func - (a: LinearExpression, b: LinearExpression) -> LinearExpression {
        var r = a
        r.add(b, times: -1)
        return r
    }

    public static func * (factor: Double, a: LinearExpression) -> LinearExpression { a.scaled(by: factor) }
}

/// The cone a group of rows lies in.
public enum ConeKind: Sendable, Equatable {
    /// `e(x) = 0`.
    case zero
    /// `e(x) ≥ 0`.
    case nonnegative
    /// `e₀(x) ≥ ‖(e₁(x), …)‖₂`, one cone per `addSecondOrderCone` call.
    case secondOrder
}

/// A contiguous block of variables, `range` in the variable vector.
public struct VariableBlock: Sendable, Equatable {
    public let name: String
    public let range: Range<Int>

    public var count: Int { range.count }
    /// Index of the `i`-th variable of the block (`i` in `0 ..< count`).
    public subscript(_ i: Int) -> Int { range.lowerBound + i }
}

/// Handle of a constraint group; its rows are known after `build()` (`ConicModel.rows(of:)`).
public struct ConstraintGroup: Sendable, Hashable {
    public let id: Int
    public let kind: ConeKind
}

public struct ConicBuilder: Sendable {
    private struct GroupInfo: Sendable {
        var name: String
        var kind: ConeKind
        var rowCount: Int = 0
        /// Second-order groups: the dimension of each cone, in order.
        var coneDims: [Int] = []
    }

    private var variableNames: [VariableBlock] = []
    public private(set) var variableCount = 0
    private var groups: [GroupInfo] = []

    // Constraint triplets, rows numbered in order of addition.
    private var tripletRow: [Int] = []
    private var tripletCol: [Int] = []
    private var tripletVal: [Double] = []
    /// Per added row: its group and its position in the group; and the right-hand side.
    private var rowGroup: [Int] = []
    private var rowInGroup: [Int] = []
    private var rowRHS: [Double] = []

    // Objective.
    private var q: [Double] = []
    private var objectiveConstant = 0.0
    private var quadRow: [Int] = []
    private var quadCol: [Int] = []
    private var quadVal: [Double] = []
    private var integers: [Int] = []
    /// First out-of-range variable given to `addLinearCost`, reported by `build()`.
    private var badObjectiveVariable: Int?

    public init() {}

    /// Number of rows added so far.
    public var rowCount: Int { rowGroup.count }

    /// Number of rows in `group` so far (the position the next row will take); 0 for an unknown group.
    public func rowCount(of group: ConstraintGroup) -> Int {
        group.id >= 0 && group.id < groups.count ? groups[group.id].rowCount : 0
    }

    // MARK: Variables

    /// Appends `count` variables named `name` (names are for diagnostics and need not be unique).
    public mutating func addVariables(_ name: String, count: Int) -> VariableBlock {
        let c = max(count, 0)
        let block = VariableBlock(name: name, range: variableCount ..< variableCount + c)
        variableNames.append(block)
        variableCount += c
        q.append(contentsOf: repeatElement(0, count: c))
        return block
    }

    /// Appends one variable and returns its index.
    public mutating func addVariable(_ name: String) -> Int {
        addVariables(name, count: 1).range.lowerBound
    }

    /// Restricts a variable to {0, 1} (solved by branch-and-bound).
    public mutating func markBinary(_ variable: Int) { integers.append(variable) }

    // MARK: Constraints

    /// A new, empty group of rows of cone `kind`.
    public mutating func addGroup(_ name: String, _ kind: ConeKind) -> ConstraintGroup {
        groups.append(GroupInfo(name: name, kind: kind))
        return ConstraintGroup(id: groups.count - 1, kind: kind)
    }

    /// Adds the row `s = e(x)` to `group` (a zero or nonnegative group; for second-order groups
    /// use `addSecondOrderCone`). Returns the row's position within the group.
    @discardableResult
    public mutating func addRow(_ group: ConstraintGroup, _ e: LinearExpression) -> Int {
        appendRow(group.id, e)
    }

    /// `lhs = rhs` in a zero group.
    @discardableResult
    public mutating func addEquality(_ group: ConstraintGroup, _ lhs: LinearExpression, _ rhs: Double = 0) -> Int {
        var e = lhs
        e.constant -= rhs
        return appendRow(group.id, e)
    }

    /// `lhs ≤ rhs` in a nonnegative group (stored as `rhs − lhs ≥ 0`).
    @discardableResult
    public mutating func addLessEqual(_ group: ConstraintGroup, _ lhs: LinearExpression, _ rhs: Double) -> Int {
        var e = lhs.scaled(by: -1)
        e.constant += rhs
        return appendRow(group.id, e)
    }

    /// `lhs ≥ rhs` in a nonnegative group (stored as `lhs − rhs ≥ 0`).
    @discardableResult
    public mutating func addGreaterEqual(_ group: ConstraintGroup, _ lhs: LinearExpression, _ rhs: Double) -> Int {
        var e = lhs
        e.constant -= rhs
        return appendRow(group.id, e)
    }

    /// `e₀ ≥ ‖(e₁, …, e_k)‖₂` as one cone of dimension k + 1 in a second-order group. Returns the
    /// position of its first row within the group.
    @discardableResult
    public mutating func addSecondOrderCone(_ group: ConstraintGroup, _ e: [LinearExpression]) -> Int {
        guard group.id >= 0, group.id < groups.count else {
            // Unknown group: keep the rows so that build() reports them.
            for row in e { _ = appendRow(-1, row) }
            return -1
        }
        let first = groups[group.id].rowCount
        for row in e { _ = appendRow(group.id, row) }
        groups[group.id].coneDims.append(e.count)
        return first
    }

    private mutating func appendRow(_ group: Int, _ e: LinearExpression) -> Int {
        // An unknown group (e.g. from another builder) is a programming error: the row is kept
        // with group -1 so that build() reports it instead of trapping here.
        let g = group >= 0 && group < groups.count ? group : -1
        let row = rowGroup.count
        for t in e.terms {
            tripletRow.append(row)
            tripletCol.append(t.variable)
            tripletVal.append(-t.coefficient)
        }
        rowGroup.append(g)
        rowRHS.append(e.constant)
        if g >= 0 {
            rowInGroup.append(groups[g].rowCount)
            groups[g].rowCount += 1
        } else {
            rowInGroup.append(0)
        }
        return rowInGroup[row]
    }

    // MARK: Objective

    /// Adds `coefficient · x[variable]` to the objective.
    public mutating func addLinearCost(_ variable: Int, _ coefficient: Double) {
        if variable >= 0 && variable < q.count {
            q[variable] += coefficient
        } else {
            badObjectiveVariable = badObjectiveVariable ?? variable
        }
    }

    /// Adds the affine expression `e(x)` to the objective (its constant is kept in
    /// `ConicModel.objectiveConstant`).
    public mutating func addLinearCost(_ e: LinearExpression) {
        for t in e.terms { addLinearCost(t.variable, t.coefficient) }
        objectiveConstant += e.constant
    }

    /// Adds `weight/2 · x[variable]²` to the objective.
    public mutating func addQuadraticCost(_ variable: Int, _ weight: Double) {
        addQuadraticCost(variable, variable, weight)
    }

    /// Adds `value` to the entries (i, j) and (j, i) of the symmetric `P` of `½xᵀPx`: the objective
    /// gains `value · x_i · x_j` when i ≠ j and `value/2 · x_i²` when i = j.
    public mutating func addQuadraticCost(_ i: Int, _ j: Int, _ value: Double) {
        quadRow.append(min(i, j))
        quadCol.append(max(i, j))
        quadVal.append(value)
    }

    // MARK: Build

    /// The problem, with the row range of every group. Throws on a variable index out of range,
    /// a coefficient that is not finite, an empty second-order cone, or an unknown group.
    public func build() throws -> ConicModel {
        let n = variableCount
        let m = rowGroup.count
        if let bad = badObjectiveVariable {
            throw ConicSolverError(field: "q", message: "objective term on variable \(bad), but there are \(n) variables")
        }
        // Group offsets: kinds in order, groups in creation order.
        var groupStart = [Int](repeating: 0, count: groups.count)
        var cones: [Cone] = []
        var offset = 0
        for kind in [ConeKind.zero, .nonnegative] {
            let kindStart = offset
            for (g, info) in groups.enumerated() where info.kind == kind {
                groupStart[g] = offset
                offset += info.rowCount
            }
            if offset > kindStart {
                cones.append(kind == .zero ? .zero(offset - kindStart) : .nonnegative(offset - kindStart))
            }
        }
        for (g, info) in groups.enumerated() where info.kind == .secondOrder {
            groupStart[g] = offset
            offset += info.rowCount
            guard info.coneDims.reduce(0, +) == info.rowCount else {
                throw ConicSolverError(field: "groups[\(g)]",
                                       message: "second-order group \"\(info.name)\" has rows outside its cones")
            }
            for d in info.coneDims {
                guard d >= 1 else {
                    throw ConicSolverError(field: "groups[\(g)]", message: "empty second-order cone in group \"\(info.name)\"")
                }
                cones.append(.secondOrder(d))
            }
        }
        var finalRow = [Int](repeating: 0, count: m)
        var b = [Double](repeating: 0, count: m)
        for r in 0..<m {
            let g = rowGroup[r]
            guard g >= 0 else { throw ConicSolverError(field: "rows[\(r)]", message: "row \(r) added to an unknown group") }
            let f = groupStart[g] + rowInGroup[r]
            finalRow[r] = f
            guard rowRHS[r].isFinite else {
                throw ConicSolverError(field: "b[\(f)]", message: "constant of row \(rowInGroup[r]) of group \"\(groups[g].name)\" is not finite")
            }
            b[f] = rowRHS[r]
        }
        for (k, c) in tripletCol.enumerated() {
            guard c >= 0 && c < n else {
                throw ConicSolverError(field: "A", message: "row \(finalRow[tripletRow[k]]) uses variable \(c), but there are \(n) variables")
            }
            guard tripletVal[k].isFinite else {
                throw ConicSolverError(field: "A", message: "row \(finalRow[tripletRow[k]]) has a coefficient that is not finite")
            }
        }
        for (j, v) in q.enumerated() where !v.isFinite {
            throw ConicSolverError(field: "q[\(j)]", message: "objective coefficient of variable \(j) is not finite")
        }
        let A = ConicModel.csc(m: m, n: n, rows: tripletRow.map { finalRow[$0] }, cols: tripletCol, values: tripletVal)
        var P: SparseMatrixCSC?
        if !quadVal.isEmpty {
            for k in quadVal.indices {
                guard quadRow[k] >= 0, quadCol[k] < n else {
                    throw ConicSolverError(field: "P", message: "quadratic term on variables (\(quadRow[k]), \(quadCol[k])), but there are \(n) variables")
                }
                guard quadVal[k].isFinite else { throw ConicSolverError(field: "P", message: "quadratic coefficient is not finite") }
            }
            P = ConicModel.csc(m: n, n: n, rows: quadRow, cols: quadCol, values: quadVal)
        }
        for v in integers where v < 0 || v >= n {
            throw ConicSolverError(field: "integers", message: "binary variable \(v), but there are \(n) variables")
        }
        var rowRanges = [Range<Int>](repeating: 0..<0, count: groups.count)
        for g in groups.indices { rowRanges[g] = groupStart[g] ..< groupStart[g] + groups[g].rowCount }
        let problem = ConicProblem(P: P, q: q, A: A, b: b, cones: cones, integers: Array(Set(integers)).sorted())
        return ConicModel(problem: problem, objectiveConstant: objectiveConstant, variables: variableNames,
                          groupNames: groups.map(\.name), rowRanges: rowRanges)
    }
}

/// A built problem and where everything went.
public struct ConicModel: Sendable {
    public let problem: ConicProblem
    /// Constant of the objective (not part of `ConicProblem`): the full objective is
    /// `solution.objective + objectiveConstant`.
    public let objectiveConstant: Double
    /// Every variable block, in order.
    public let variables: [VariableBlock]
    let groupNames: [String]
    let rowRanges: [Range<Int>]

    /// Rows of `group` in `problem.A` (and in `y`, `s`).
    public func rows(of group: ConstraintGroup) -> Range<Int> {
        guard group.id >= 0, group.id < rowRanges.count else { return 0..<0 }
        return rowRanges[group.id]
    }

    /// The entries of `vector` (e.g. `solution.y`) on the rows of `group`; empty if `vector` is
    /// too short.
    public func values(of group: ConstraintGroup, in vector: [Double]) -> ArraySlice<Double> {
        let r = rows(of: group)
        guard r.upperBound <= vector.count else { return [] }
        return vector[r]
    }

    /// The entries of `x` of a variable block; empty if `x` is too short.
    public func values(of block: VariableBlock, in x: [Double]) -> ArraySlice<Double> {
        guard block.range.lowerBound >= 0, block.range.upperBound <= x.count else { return [] }
        return x[block.range]
    }

    /// Name of a group (for messages).
    public func name(of group: ConstraintGroup) -> String {
        group.id >= 0 && group.id < groupNames.count ? groupNames[group.id] : ""
    }

    /// The variable block holding `variable`, if any.
    public func block(of variable: Int) -> VariableBlock? {
        var lo = 0, hi = variables.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if variables[mid].range.upperBound <= variable { lo = mid + 1 } else { hi = mid }
        }
        // Skip empty blocks that share the bound.
        while lo < variables.count, variables[lo].range.isEmpty { lo += 1 }
        guard lo < variables.count, variables[lo].range.contains(variable) else { return nil }
        return variables[lo]
    }

    /// Triplets (duplicates summed, explicit zeros kept out) → CSC with sorted row indices.
    /// Indices must be in range (checked by the caller).
    static func csc(m: Int, n: Int, rows: [Int], cols: [Int], values: [Double]) -> SparseMatrixCSC {
        var colptr = [Int](repeating: 0, count: n + 1)
        for c in cols { colptr[c + 1] += 1 }
        for j in 0..<n { colptr[j + 1] += colptr[j] }
        var next = colptr
        var rowval = [Int](repeating: 0, count: rows.count)
        var nzval = [Double](repeating: 0, count: rows.count)
        for k in rows.indices {
            let c = cols[k]
            rowval[next[c]] = rows[k]
            nzval[next[c]] = values[k]
            next[c] += 1
        }
        // Sort each column by row, sum duplicates, drop zeros, compacting in place.
        var out = 0
        var newColptr = [Int](repeating: 0, count: n + 1)
        var scratch: [(Int, Double)] = []
        for j in 0..<n {
            let start = colptr[j], end = colptr[j + 1]
            scratch.removeAll(keepingCapacity: true)
            var sorted = true
            for k in start..<end {
                if k > start && rowval[k] < rowval[k - 1] { sorted = false }
                scratch.append((rowval[k], nzval[k]))
            }
            if !sorted { scratch.sort { $0.0 < $1.0 } }
            var k = 0
            while k < scratch.count {
                let r = scratch[k].0
                var v = scratch[k].1
                k += 1
                while k < scratch.count && scratch[k].0 == r {
                    v += scratch[k].1
                    k += 1
                }
                if v != 0 {
                    rowval[out] = r
                    nzval[out] = v
                    out += 1
                }
            }
            newColptr[j + 1] = out
        }
        rowval.removeLast(rowval.count - out)
        nzval.removeLast(nzval.count - out)
        return SparseMatrixCSC(m: m, n: n, colptr: newColptr, rowval: rowval, nzval: nzval)
    }
}
