/// Active-set polishing of an interior-point solution of an LP or QP (zero and nonnegative cones
/// only), in the spirit of OSQP's polish: the constraints whose slack is below their dual are
/// taken as active, the equality-constrained KKT system
///
///     [ P  Aₐᵀ ] [x]   [−q]
///     [ Aₐ  0  ] [y] = [ bₐ]
///
/// is solved with the project's LDLᵀ (regularized, then refined against the exact system), and
/// the result is kept only if it is primal and dual feasible and stationary to `tolerance`. An
/// interior point only approaches a kink; the polished point sits on it, to rounding.
public func polishSolution(_ problem: ConicProblem, _ solution: ConicSolution, tolerance: Double = 1e-9) -> ConicSolution? {
    let n = problem.q.count, m = problem.b.count
    guard solution.status.hasSolution, solution.x.count == n, solution.y.count == m, solution.s.count == m,
          problem.A.m == m, problem.A.n == n, problem.A.colptr.count == n + 1 else { return nil }
    var isEquality = [Bool](repeating: false, count: m)
    var row = 0
    for cone in problem.cones {
        switch cone {
        case .zero(let d): for k in row..<(row + d) where k < m { isEquality[k] = true }
        case .nonnegative: break
        case .secondOrder: return nil
        }
        row += cone.dimension
    }
    guard row == m else { return nil }
    var active = (0..<m).filter { isEquality[$0] || solution.y[$0] > solution.s[$0] }
    // Rows of A (for the constraint columns of the KKT upper triangle).
    let A = problem.A
    var rowEntries = [[(column: Int, value: Double)]](repeating: [], count: m)
    for j in 0..<n {
        for k in A.colptr[j]..<A.colptr[j + 1] where A.rowval[k] >= 0 && A.rowval[k] < m {
            rowEntries[A.rowval[k]].append((j, A.nzval[k]))
        }
    }
    // Dependent active rows (a fixed output's two bounds, say) leave their multipliers
    // non-unique and the solve may split them with a wrong sign: drop those rows and solve again;
    // add the rows the polished point violates. A few rounds, then give up (nil).
    for _ in 0..<10 {
        var position = [Int](repeating: -1, count: m)
        for (r, i) in active.enumerated() { position[i] = r }

        let size = n + active.count
        var colptr = [0], rowval: [Int] = [], values: [Double] = []
        for j in 0..<n {
            var hasDiagonal = false
            if let P = problem.P, P.colptr.count == n + 1 {
                for k in P.colptr[j]..<P.colptr[j + 1] where P.rowval[k] <= j {
                    rowval.append(P.rowval[k])
                    values.append(P.nzval[k])
                    if P.rowval[k] == j { hasDiagonal = true }
                }
            }
            if !hasDiagonal {
                rowval.append(j)
                values.append(0)
            }
            colptr.append(rowval.count)
        }
        for (r, i) in active.enumerated() {
            for entry in rowEntries[i] {
                rowval.append(entry.column)
                values.append(entry.value)
            }
            rowval.append(n + r)
            values.append(0)
            colptr.append(rowval.count)
        }
        let signs = (0..<size).map { $0 < n ? 1.0 : -1.0 }
        guard let ldl = try? QuasiDefiniteLDL(n: size, colptr: colptr, rowval: rowval, signs: signs),
              (try? ldl.factor(values: values, staticRegularization: 1e-10)) != nil else { return nil }
        var rhs = problem.q.map { -$0 }
        rhs += active.map { problem.b[$0] }
        let z = ldl.solve(rhs, refinementSteps: 25)
        guard z.allSatisfy({ $0.isFinite }) else { return nil }

        let x = Array(z[0..<n])
        var y = [Double](repeating: 0, count: m)
        for (r, i) in active.enumerated() { y[i] = z[n + r] }
        // s = b − Ax, and the checks.
        var s = problem.b
        for j in 0..<n { for k in A.colptr[j]..<A.colptr[j + 1] { s[A.rowval[k]] -= A.nzval[k] * x[j] } }
        var stationarity = problem.q
        var px = [Double](repeating: 0, count: n)
        if let P = problem.P {
            for j in 0..<n {
                for k in P.colptr[j]..<P.colptr[j + 1] {
                    let i = P.rowval[k]
                    px[i] += P.nzval[k] * x[j]
                    if i != j { px[j] += P.nzval[k] * x[i] }
                }
            }
        }
        for j in 0..<n {
            stationarity[j] += px[j]
            for k in A.colptr[j]..<A.colptr[j + 1] { stationarity[j] += A.nzval[k] * y[A.rowval[k]] }
        }
        let scaleB = 1 + problem.b.reduce(0) { max($0, abs($1)) }
        let scaleQ = 1 + problem.q.reduce(0) { max($0, abs($1)) }
        guard stationarity.allSatisfy({ abs($0) <= tolerance * scaleQ }) else { return nil }
        let wrongSign = active.filter { !isEquality[$0] && y[$0] < -tolerance * scaleQ }
        if !wrongSign.isEmpty {
            let dropped = Set(wrongSign)
            active.removeAll { dropped.contains($0) }
            continue
        }
        // A row guessed inactive (slack and dual both near zero at a kink) that the polished
        // point violates belongs to the active set.
        let violated = (0..<m).filter { !isEquality[$0] && position[$0] < 0 && s[$0] < -tolerance * scaleB }
        if !violated.isEmpty {
            active = (active + violated).sorted()
            continue
        }
        for i in 0..<m {
            if isEquality[i] || position[i] >= 0 {
                guard abs(s[i]) <= tolerance * scaleB else { return nil }
                s[i] = 0
            }
            if !isEquality[i] {
                guard s[i] >= -tolerance * scaleB else { return nil }
                s[i] = max(s[i], 0)
                y[i] = max(y[i], 0)
            }
        }
        var objective = 0.0
        for j in 0..<n { objective += 0.5 * x[j] * px[j] + problem.q[j] * x[j] }
        return ConicSolution(status: .solved, x: x, y: y, s: s, objective: objective, iterations: solution.iterations,
                             solveSeconds: solution.solveSeconds, primalResidual: solution.primalResidual,
                             dualResidual: solution.dualResidual, message: "polished on \(active.count) active constraints")
    }
    return nil
}
