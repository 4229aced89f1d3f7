// Branch-and-bound over binary variables, on top of the interior-point solver.
//
// The problem's `integers` are restricted to {0, 1}. Two rows per binary variable are appended
// to the constraints once, lb_j ≤ x_j ≤ ub_j as (−x_j + s = −lb_j, x_j + s = ub_j, s ≥ 0); a
// node of the tree differs from the root only in these bounds, i.e. only in b, so the whole tree
// is solved with one `ConicSolver` and `update(b:)`: the equilibration, KKT pattern, ordering
// and symbolic factorization are computed once. Nodes are explored best-bound first (the open
// node with the smallest relaxation value); the branching variable is the most fractional one.

/// Settings of the branch-and-bound search.
public struct BranchAndBoundSettings: Sendable, Equatable {
    /// Settings of every relaxation solve.
    public var solver = SolverSettings()
    /// Maximum number of relaxations solved (status `nodeLimit` beyond).
    public var maxNodes: Int = 10_000
    /// Stop once incumbent − best bound ≤ max(absoluteGap, relativeGap·max(1, |incumbent|)).
    public var absoluteGap: Double = 1e-6
    public var relativeGap: Double = 1e-4
    /// A relaxation value within this distance of 0 or 1 counts as integral.
    public var integralityTolerance: Double = 1e-6
    /// Wall-clock limit for the whole search.
    public var timeLimitSeconds: Double = .infinity
    public init() {}
}

/// How a branch-and-bound search ended.
public enum MixedIntegerStatus: String, Sendable, Equatable {
    /// The incumbent is optimal within the gap tolerances.
    case optimal = "solved"
    /// No assignment of the binaries is feasible.
    case infeasible = "infeasible"
    /// The root relaxation is unbounded.
    case unbounded = "dual_infeasible"
    /// Limits reached; `x` is the best incumbent found (if `hasIncumbent`).
    case nodeLimit = "iteration_limit"
    case timeLimit = "time_limit"
    /// The progress callback asked to stop.
    case interrupted = "interrupted"
    /// The root relaxation failed, or relaxations failed so that nothing can be concluded.
    case numericalError = "numerical_error"
}

/// Progress reported on every new incumbent and every `reportEvery` nodes.
public struct BranchAndBoundProgress: Sendable {
    public var nodes: Int
    public var openNodes: Int
    /// +∞ (reported as `Double.greatestFiniteMagnitude`) until an incumbent exists.
    public var incumbentObjective: Double
    public var bestBound: Double
    public var newIncumbent: Bool
    public var elapsedSeconds: Double
}

/// The result of a branch-and-bound search. All numbers are finite.
public struct MixedIntegerSolution: Sendable {
    public var status: MixedIntegerStatus
    /// True if `x`, `y`, `s` and `objective` belong to a feasible integer assignment.
    public var hasIncumbent: Bool
    /// The incumbent (zeros without one), in the problem's variables and rows (bound rows excluded).
    public var x: [Double]
    /// Duals of the relaxation at the incumbent's node (binaries fixed there).
    public var y: [Double]
    public var s: [Double]
    public var objective: Double
    /// Lower bound on the optimal value (equal to `objective` within the gap when optimal).
    public var bestBound: Double
    /// incumbent − bestBound (0 if optimal, `greatestFiniteMagnitude` without an incumbent).
    public var gap: Double
    public var nodes: Int
    /// Interior-point iterations over all nodes.
    public var iterations: Int
    /// Relative residuals of the incumbent's relaxation (0 without an incumbent).
    public var primalResidual: Double
    public var dualResidual: Double
    public var solveSeconds: Double
    public var message: String

    /// The same result as a `ConicSolution` (what `solveConic` returns for problems with
    /// integers): optimal → solved, infeasible → primalInfeasible (no certificate: y = 0),
    /// unbounded → dualInfeasible (no certificate: x = 0), nodeLimit → iterationLimit; with a
    /// limit, interruption or failure, x/y/s are the incumbent if there is one.
    public var conicSolution: ConicSolution {
        let status: ConicStatus
        switch self.status {
        case .optimal: status = .solved
        case .infeasible: status = .primalInfeasible
        case .unbounded: status = .dualInfeasible
        case .nodeLimit: status = .iterationLimit
        case .timeLimit: status = .timeLimit
        case .interrupted: status = .interrupted
        case .numericalError: status = .numericalError
        }
        return ConicSolution(status: status, x: x, y: y, s: s, objective: hasIncumbent ? objective : 0,
                             iterations: iterations, solveSeconds: solveSeconds, primalResidual: primalResidual,
                             dualResidual: dualResidual, message: message)
    }
}

private struct OpenNode {
    var bound: Double
    var lower: [Double]
    var upper: [Double]
    var depth: Int
}

/// Solves `problem` with its `integers` restricted to {0, 1}. Without integers this is one
/// relaxation. `onProgress` returning true stops the search (status `interrupted`).
public func solveMixedInteger(_ problem: ConicProblem, settings: BranchAndBoundSettings = BranchAndBoundSettings(),
                              onProgress: ((BranchAndBoundProgress) -> Bool)? = nil) -> MixedIntegerSolution {
    let start = monotonicSeconds()
    let n = problem.q.count, m = problem.b.count
    func result(_ status: MixedIntegerStatus, message: String = "", nodes: Int = 0) -> MixedIntegerSolution {
        MixedIntegerSolution(status: status, hasIncumbent: false, x: [Double](repeating: 0, count: n),
                             y: [Double](repeating: 0, count: m), s: [Double](repeating: 0, count: m),
                             objective: 0, bestBound: 0, gap: .greatestFiniteMagnitude, nodes: nodes,
                             iterations: 0, primalResidual: 0, dualResidual: 0,
                             solveSeconds: monotonicSeconds() - start, message: message)
    }
    if let error = ConicSolver.validationError(problem) { return result(.numericalError, message: "invalid input: \(error)") }
    // Distinct binaries, in order.
    var seen = Set<Int>()
    let binaries = problem.integers.filter { seen.insert($0).inserted }
    let nb = binaries.count

    // Append the bound rows.
    var triplets = [(row: Int, col: Int, value: Double)]()
    triplets.reserveCapacity(problem.A.nnz + 2 * nb)
    for j in 0..<problem.A.n {
        for k in problem.A.colptr[j]..<problem.A.colptr[j + 1] {
            triplets.append((problem.A.rowval[k], j, problem.A.nzval[k]))
        }
    }
    for (t, j) in binaries.enumerated() {
        triplets.append((m + 2 * t, j, -1))
        triplets.append((m + 2 * t + 1, j, 1))
    }
    var relaxation = problem
    relaxation.A = SparseMatrixCSC(m: m + 2 * nb, n: n, triplets: triplets)
    relaxation.cones = problem.cones + (nb > 0 ? [.nonnegative(2 * nb)] : [])
    relaxation.integers = []
    func bVector(lower: [Double], upper: [Double]) -> [Double] {
        var b = problem.b
        b.reserveCapacity(m + 2 * nb)
        for t in 0..<nb { b.append(-lower[t]); b.append(upper[t]) }
        return b
    }
    relaxation.b = bVector(lower: [Double](repeating: 0, count: nb), upper: [Double](repeating: 1, count: nb))

    let solver: ConicSolver
    do { solver = try ConicSolver(problem: relaxation, settings: settings.solver) } catch {
        return result(.numericalError, message: "invalid input: \(error)")
    }

    var incumbent: ConicSolution?
    var incumbentObjective = Double.infinity
    var open = [OpenNode]()          // binary min-heap on bound
    func push(_ node: OpenNode) {
        open.append(node)
        var c = open.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            if open[p].bound <= open[c].bound { break }
            open.swapAt(p, c)
            c = p
        }
    }
    func pop() -> OpenNode? {
        guard let top = open.first else { return nil }
        let last = open.removeLast()
        if !open.isEmpty {
            open[0] = last
            var c = 0
            while true {
                let l = 2 * c + 1, r = l + 1
                var s = c
                if l < open.count && open[l].bound < open[s].bound { s = l }
                if r < open.count && open[r].bound < open[s].bound { s = r }
                if s == c { break }
                open.swapAt(s, c)
                c = s
            }
        }
        return top
    }
    func closeEnough(_ bound: Double) -> Bool {
        guard incumbentObjective.isFinite else { return false }
        let tol = max(settings.absoluteGap, settings.relativeGap * max(1, abs(incumbentObjective)))
        return incumbentObjective - bound <= tol
    }

    var iterations = 0
    /// The relaxation with the given bounds on the binaries (nil if the bounds are rejected).
    func solveRelaxation(lower: [Double], upper: [Double]) -> ConicSolution? {
        do { try solver.update(b: bVector(lower: lower, upper: upper)) } catch { return nil }
        let sol = solver.solve()
        iterations += sol.iterations
        return sol
    }
    /// All binaries fixed at the rounded relaxation values: a feasible point, if solvable.
    func roundingHeuristic(_ relaxed: ConicSolution) -> ConicSolution? {
        let fixed = binaries.map { relaxed.x[$0] >= 0.5 ? 1.0 : 0.0 }
        guard let sol = solveRelaxation(lower: fixed, upper: fixed), sol.status.hasSolution else { return nil }
        return sol
    }

    push(OpenNode(bound: -.infinity, lower: [Double](repeating: 0, count: nb),
                  upper: [Double](repeating: 1, count: nb), depth: 0))
    var nodes = 0
    var failedNodes = 0
    var failedBound = Double.infinity      // smallest parent bound of nodes whose solve failed
    var status = MixedIntegerStatus.optimal
    var message = ""

    var plunge: OpenNode?            // the child explored next, depth first, before the heap
    var prunedBound = Double.infinity   // smallest bound of nodes dropped as within the gap
    search: while true {
        let node: OpenNode
        if let p = plunge { node = p; plunge = nil } else if let p = pop() { node = p } else { break }
        if node.bound >= incumbentObjective { continue }
        if closeEnough(node.bound) { prunedBound = min(prunedBound, node.bound); continue }
        if nodes >= settings.maxNodes { push(node); status = .nodeLimit; break }
        if monotonicSeconds() - start > settings.timeLimitSeconds { push(node); status = .timeLimit; break }
        nodes += 1
        guard let sol = solveRelaxation(lower: node.lower, upper: node.upper) else {
            status = .numericalError
            message = "bound update failed"
            break
        }
        var newIncumbent = false
        switch sol.status {
        case .solved, .solvedInaccurate:
            let bound = sol.objective
            if bound >= incumbentObjective { break }
            if closeEnough(bound) { prunedBound = min(prunedBound, bound); break }
            // most fractional binary
            var branch = -1
            var bestFrac = settings.integralityTolerance
            for t in 0..<nb {
                let v = sol.x[binaries[t]]
                let frac = min(abs(v), abs(1 - v))
                if frac > bestFrac { bestFrac = frac; branch = t }
            }
            if branch < 0 {
                incumbent = sol
                incumbentObjective = bound
                newIncumbent = true
                break
            }
            if node.depth == 0, let rounded = roundingHeuristic(sol), rounded.objective < incumbentObjective {
                incumbent = rounded
                incumbentObjective = rounded.objective
                newIncumbent = true
            }
            var down = node, up = node
            down.upper[branch] = 0
            up.lower[branch] = 1
            down.bound = bound; up.bound = bound
            down.depth += 1; up.depth += 1
            // plunge towards the side the relaxation leans to; the other child waits in the heap
            if sol.x[binaries[branch]] >= 0.5 { push(down); plunge = up } else { push(up); plunge = down }
        case .primalInfeasible:
            break
        case .dualInfeasible:
            if node.depth == 0 { status = .unbounded; message = "the root relaxation is unbounded"; break search }
        case .interrupted:
            status = .interrupted
            break search
        default:
            if node.depth == 0 {
                status = .numericalError
                message = "root relaxation: \(sol.status.rawValue) \(sol.message)"
                break search
            }
            failedNodes += 1
            failedBound = min(failedBound, node.bound)
        }
        if let callback = onProgress {
            let best = min(open.map(\.bound).min() ?? incumbentObjective, incumbentObjective, failedBound,
                           plunge?.bound ?? .infinity)
            let progress = BranchAndBoundProgress(
                nodes: nodes, openNodes: open.count,
                incumbentObjective: incumbentObjective.isFinite ? incumbentObjective : .greatestFiniteMagnitude,
                bestBound: best.isFinite ? best : -.greatestFiniteMagnitude, newIncumbent: newIncumbent,
                elapsedSeconds: monotonicSeconds() - start)
            if callback(progress) { status = .interrupted; break }
        }
    }

    if let p = plunge { push(p) }
    var bestBound = min(open.map(\.bound).min() ?? incumbentObjective, incumbentObjective, failedBound, prunedBound)
    let elapsed = monotonicSeconds() - start
    guard let inc = incumbent else {
        if status == .optimal {
            status = failedNodes > 0 ? .numericalError : .infeasible
            if failedNodes > 0 { message = "\(failedNodes) relaxations failed and no incumbent was found" }
        }
        var r = result(status, message: message, nodes: nodes)
        r.iterations = iterations
        r.bestBound = bestBound.isFinite ? bestBound : 0
        r.solveSeconds = elapsed
        return r
    }
    if !bestBound.isFinite { bestBound = incumbentObjective }
    if status == .optimal && !closeEnough(bestBound) {
        // only failed relaxations keep the gap open: report the incumbent, not optimality
        status = .numericalError
        message = "\(failedNodes) relaxations failed; the gap accounts for them"
    }
    let gap = max(0, incumbentObjective - bestBound)
    return MixedIntegerSolution(status: status, hasIncumbent: true, x: inc.x, y: Array(inc.y.prefix(m)),
                                s: Array(inc.s.prefix(m)), objective: inc.objective, bestBound: bestBound,
                                gap: gap, nodes: nodes, iterations: iterations, primalResidual: inc.primalResidual,
                                dualResidual: inc.dualResidual, solveSeconds: elapsed, message: message)
}
