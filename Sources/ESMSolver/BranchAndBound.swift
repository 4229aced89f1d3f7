// Branch-and-bound over binary variables, on top of the interior-point solver.
//
// The problem's `integers` are restricted to {0, 1}. Two rows per binary variable are appended
// to the constraints once, lb_j ≤ x_j ≤ ub_j as (−x_j + s = −lb_j, x_j + s = ub_j, s ≥ 0); a
// node of the tree differs from the root only in these bounds, i.e. only in b, so the whole tree
// is solved with one `ConicSolver` and `update(b:)`: the equilibration, KKT pattern, ordering
// and symbolic factorization are computed once (that is the warm start an interior-point method
// allows: a node reuses the factorization's structure; its iterates start afresh, since an
// interior-point method gains nothing from the parent's boundary point).
//
// Search: best bound first, plunging into the child the relaxation leans to. Branching is
// reliability branching: pseudo-costs (the average bound gain per unit change of a binary, down
// and up) score the fractional binaries by the product rule; binaries whose pseudo-costs rest on
// fewer than `reliability` observations are strong-branched first (both children solved), up to
// `strongBranchingCandidates` of them per node, which also prunes infeasible children early.
// Incumbents come from integral relaxations, rounding at the root, and the caller's
// `IncumbentHeuristic` (e.g. a spanning tree built from a relaxation's switch statuses).
// Bounds are honest: a relaxation's value counts as a bound only after subtracting the
// interior-point method's own duality-gap tolerance, so `bestBound` never exceeds the optimum by
// the solver's inaccuracy.

/// Settings of the branch-and-bound search.
public struct BranchAndBoundSettings: Sendable, Equatable {
    /// Settings of every relaxation solve.
    public var solver = SolverSettings()
    /// Maximum number of nodes explored (status `nodeLimit` beyond); strong branching and
    /// heuristics solve further relaxations within a node.
    public var maxNodes: Int = 10_000
    /// Stop once incumbent − best bound ≤ max(absoluteGap, relativeGap·max(1, |incumbent|)).
    public var absoluteGap: Double = 1e-6
    public var relativeGap: Double = 1e-4
    /// A relaxation value within this distance of 0 or 1 counts as integral.
    public var integralityTolerance: Double = 1e-6
    /// Wall-clock limit for the whole search.
    public var timeLimitSeconds: Double = .infinity
    /// Strong branching: at most this many unreliable candidates per node (0: pseudo-costs only,
    /// most fractional while none are known).
    public var strongBranchingCandidates: Int = 4
    /// A binary's pseudo-costs are reliable after this many observations in each direction.
    public var reliability: Int = 1
    /// The caller's heuristic runs at the root and then every this many nodes.
    public var heuristicEveryNodes: Int = 20
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

/// The caller's incumbent heuristic: given a relaxation's `x`, proposes assignments of the
/// binaries (variable index → 0 or 1; binaries left out take the rounded relaxation value). The
/// search solves the relaxation with each assignment fixed and keeps the best feasible one.
public struct IncumbentHeuristic {
    public let propose: ([Double]) -> [[Int: Double]]
    public init(_ propose: @escaping ([Double]) -> [[Int: Double]]) { self.propose = propose }
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
    /// Relaxations solved in all (nodes, strong branching, heuristics).
    public var relaxations: Int = 0
    /// Incumbents found by the caller's heuristic (of all incumbents found).
    public var heuristicIncumbents: Int = 0
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
    /// Lower bound on the node's optimum (the parent's, or the strong-branching child's value).
    var bound: Double
    var lower: [Double]
    var upper: [Double]
    var depth: Int
    /// The decision that created the node, for the pseudo-costs: binary, direction, the
    /// parent's relaxation value and the distance the binary moved (−1 at the root).
    var branched: Int = -1
    var up = false
    var parentValue = 0.0
    var moved = 0.0
}

/// Per-binary average bound gain per unit change, down and up.
private struct PseudoCosts {
    var sum: [[Double]]
    var count: [[Int]]
    init(count n: Int) {
        sum = [[Double]](repeating: [0, 0], count: n)
        count = [[Int]](repeating: [0, 0], count: n)
    }
    mutating func record(_ t: Int, up: Bool, gain: Double, moved: Double) {
        guard moved > 1e-9, gain.isFinite else { return }
        let d = up ? 1 : 0
        sum[t][d] += max(gain, 0) / moved
        count[t][d] += 1
    }
    /// The average of the binary's observations, else of all binaries', else 1.
    func estimate(_ t: Int, up: Bool) -> Double {
        let d = up ? 1 : 0
        if count[t][d] > 0 { return sum[t][d] / Double(count[t][d]) }
        var s = 0.0, c = 0
        for i in sum.indices where count[i][d] > 0 { s += sum[i][d] / Double(count[i][d]); c += 1 }
        return c > 0 ? s / Double(c) : 1
    }
    func reliable(_ t: Int, threshold: Int) -> Bool { min(count[t][0], count[t][1]) >= threshold }
}

/// Solves `problem` with its `integers` restricted to {0, 1}. Without integers this is one
/// relaxation. `heuristic` proposes incumbents from relaxations; `onProgress` returning true
/// stops the search (status `interrupted`).
public func solveMixedInteger(_ problem: ConicProblem, settings: BranchAndBoundSettings = BranchAndBoundSettings(),
                              heuristic: IncumbentHeuristic? = nil,
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
    var position = [Int: Int]()
    for (t, j) in binaries.enumerated() { position[j] = t }

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
    var heuristicIncumbents = 0
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
    /// What the relaxation's optimum is at least: the interior-point objective less the duality
    /// gap the method was allowed to leave (the reduced tolerances for inaccurate solves).
    func lowerBound(_ sol: ConicSolution) -> Double {
        let s = settings.solver
        let exact = sol.status == .solved
        let abs_ = exact ? s.gapAbsTolerance : s.reducedGapAbsTolerance
        let rel = exact ? s.gapRelTolerance : s.reducedGapRelTolerance
        return sol.objective - max(abs_, rel * abs(sol.objective))
    }

    var iterations = 0
    var relaxations = 0
    var nodes = 0
    var failedBound = Double.infinity      // smallest parent bound of nodes whose solve failed
    var plunge: OpenNode?                  // the child explored next, depth first, before the heap
    var prunedBound = Double.infinity      // smallest bound of nodes dropped as within the gap
    /// One node may solve dozens of relaxations (strong branching, heuristics): the observer hears
    /// from the search at least every `checkInSeconds` as well as after each node, so that an
    /// interrupt is honoured within about one relaxation's solve.
    let checkInSeconds = 0.5
    var lastEvent = start
    var interruptRequested = false
    func bestBoundNow() -> Double {
        min(open.map(\.bound).min() ?? incumbentObjective, incumbentObjective, failedBound, plunge?.bound ?? .infinity, prunedBound)
    }
    /// Reports progress; true when the observer asks to stop.
    func report(newIncumbent: Bool) -> Bool {
        guard let callback = onProgress else { return false }
        lastEvent = monotonicSeconds()
        let best = bestBoundNow()
        let progress = BranchAndBoundProgress(
            nodes: nodes, openNodes: open.count,
            incumbentObjective: incumbentObjective.isFinite ? incumbentObjective : .greatestFiniteMagnitude,
            bestBound: best.isFinite ? best : -.greatestFiniteMagnitude, newIncumbent: newIncumbent,
            elapsedSeconds: lastEvent - start)
        if callback(progress) { interruptRequested = true }
        return interruptRequested
    }
    /// The relaxation with the given bounds on the binaries (nil if the bounds are rejected).
    func solveRelaxation(lower: [Double], upper: [Double]) -> ConicSolution? {
        do { try solver.update(b: bVector(lower: lower, upper: upper)) } catch { return nil }
        let sol = solver.solve()
        iterations += sol.iterations
        relaxations += 1
        if onProgress != nil && monotonicSeconds() - lastEvent > checkInSeconds { _ = report(newIncumbent: false) }
        return sol
    }
    func fractionalPart(_ v: Double) -> Double { min(abs(v), abs(1 - v)) }
    func isIntegral(_ sol: ConicSolution) -> Bool {
        !binaries.contains { fractionalPart(sol.x[$0]) > settings.integralityTolerance }
    }
    @discardableResult
    func offer(_ sol: ConicSolution) -> Bool {
        guard sol.status.hasSolution, sol.objective < incumbentObjective else { return false }
        incumbent = sol
        incumbentObjective = sol.objective
        return true
    }
    /// Fixes every binary (given values, else the rounded relaxation) and solves: an incumbent
    /// if feasible and better. Each assignment is tried once.
    var tried = Set<[Bool]>()
    func tryAssignment(_ values: [Int: Double], relaxed: [Double]) -> Bool {
        let fixed = binaries.map { j -> Double in
            let v = values[j] ?? relaxed[j]
            return v >= 0.5 ? 1.0 : 0.0
        }
        guard tried.insert(fixed.map { $0 > 0.5 }).inserted else { return false }
        guard let sol = solveRelaxation(lower: fixed, upper: fixed) else { return false }
        return offer(sol)
    }
    func runHeuristic(_ relaxed: ConicSolution) -> Bool {
        guard let h = heuristic else { return false }
        var found = false
        for proposal in h.propose(relaxed.x) {
            if interruptRequested { break }
            if tryAssignment(proposal, relaxed: relaxed.x) {
                found = true
                heuristicIncumbents += 1
            }
        }
        return found
    }

    var pseudo = PseudoCosts(count: nb)
    push(OpenNode(bound: -.infinity, lower: [Double](repeating: 0, count: nb),
                  upper: [Double](repeating: 1, count: nb), depth: 0))
    var failedNodes = 0
    var status = MixedIntegerStatus.optimal
    var message = ""

    func timeUp() -> Bool { monotonicSeconds() - start > settings.timeLimitSeconds }
    search: while true {
        var node: OpenNode
        if let p = plunge { node = p; plunge = nil } else if let p = pop() { node = p } else { break }
        if node.bound >= incumbentObjective { continue }
        if closeEnough(node.bound) { prunedBound = min(prunedBound, node.bound); continue }
        if nodes >= settings.maxNodes { push(node); status = .nodeLimit; break }
        if timeUp() { push(node); status = .timeLimit; break }
        nodes += 1
        guard let sol = solveRelaxation(lower: node.lower, upper: node.upper) else {
            status = .numericalError
            message = "bound update failed"
            break
        }
        var newIncumbent = false
        switch sol.status {
        case .solved, .solvedInaccurate:
            let bound = max(lowerBound(sol), node.bound)
            if node.branched >= 0 {
                pseudo.record(node.branched, up: node.up, gain: sol.objective - node.parentValue, moved: node.moved)
            }
            if bound >= incumbentObjective { break }
            if closeEnough(bound) { prunedBound = min(prunedBound, bound); break }
            let fractional = (0..<nb).filter { fractionalPart(sol.x[binaries[$0]]) > settings.integralityTolerance }
            if fractional.isEmpty {
                newIncumbent = offer(sol)
                break
            }
            // The caller's heuristic first (it knows the problem), then plain rounding at the root.
            if node.depth == 0 || (settings.heuristicEveryNodes > 0 && nodes % settings.heuristicEveryNodes == 0) {
                newIncumbent = runHeuristic(sol) || newIncumbent
            }
            if node.depth == 0 {
                newIncumbent = tryAssignment([:], relaxed: sol.x) || newIncumbent
            }
            if closeEnough(bound) { prunedBound = min(prunedBound, bound); break }

            // Reduced-cost fixing: the duals y of a binary's bound rows price its bounds, and y
            // stays dual feasible when the bounds change, so fixing an integral binary to its
            // other value costs at least y (the Lagrangian bound −bᵀy moves by Δb·y). Where that
            // reaches the incumbent, the binary is fixed for the whole subtree.
            if incumbentObjective.isFinite {
                let cutoff = incumbentObjective - max(settings.absoluteGap, settings.relativeGap * max(1, abs(incumbentObjective)))
                for t in 0..<nb where node.lower[t] < node.upper[t] {
                    let v = sol.x[binaries[t]]
                    let yLower = sol.y[m + 2 * t], yUpper = sol.y[m + 2 * t + 1]
                    if v <= settings.integralityTolerance, bound + yLower > cutoff {
                        node.upper[t] = 0
                    } else if v >= 1 - settings.integralityTolerance, bound + yUpper > cutoff {
                        node.lower[t] = 1
                    }
                }
            }

            // Strong branching on the unreliable candidates, most fractional first.
            var childBound = [Int: (down: Double, up: Double)]()
            let unreliable = fractional.filter { !pseudo.reliable($0, threshold: settings.reliability) }
                .sorted { fractionalPart(sol.x[binaries[$0]]) > fractionalPart(sol.x[binaries[$1]]) }
                .prefix(max(settings.strongBranchingCandidates, 0))
            var forced: (t: Int, up: Bool)?       // a binary whose other child is infeasible
            var nodeInfeasible = false
            for t in unreliable {
                if timeUp() || interruptRequested { break }
                let v = sol.x[binaries[t]]
                var values = (down: Double.infinity, up: Double.infinity)
                for up in [false, true] {
                    var lo = node.lower, hi = node.upper
                    if up { lo[t] = 1 } else { hi[t] = 0 }
                    guard let child = solveRelaxation(lower: lo, upper: hi) else { continue }
                    if child.status.hasSolution {
                        pseudo.record(t, up: up, gain: child.objective - sol.objective, moved: up ? 1 - v : v)
                        let b = max(lowerBound(child), bound)
                        if up { values.up = b } else { values.down = b }
                        if isIntegral(child), offer(child) { newIncumbent = true }
                    } else if child.status == .primalInfeasible {
                        pseudo.record(t, up: up, gain: 0, moved: 0)
                    } else {
                        // a failed child solve proves nothing: keep the parent's bound for it
                        if up { values.up = bound } else { values.down = bound }
                    }
                }
                childBound[t] = values
                if values.down == .infinity && values.up == .infinity { nodeInfeasible = true; break }
                if values.down == .infinity || values.up == .infinity {
                    forced = (t, values.up != .infinity)
                    break
                }
            }
            if nodeInfeasible { break }
            if bound >= incumbentObjective { break }

            // Choose: a binary with an infeasible side, else the best product score.
            let branch: Int
            if let f = forced {
                branch = f.t
            } else {
                var best = -1.0, pick = fractional[0]
                for t in fractional {
                    let v = sol.x[binaries[t]]
                    let down: Double, up: Double
                    if let c = childBound[t] {
                        down = c.down - bound; up = c.up - bound
                    } else {
                        down = pseudo.estimate(t, up: false) * v
                        up = pseudo.estimate(t, up: true) * (1 - v)
                    }
                    let score = max(down, 1e-9) * max(up, 1e-9)
                    if score > best { best = score; pick = t }
                }
                branch = pick
            }
            let v = sol.x[binaries[branch]]
            var down = node, up = node
            down.upper[branch] = 0
            up.lower[branch] = 1
            down.bound = max(bound, childBound[branch]?.down ?? bound)
            up.bound = max(bound, childBound[branch]?.up ?? bound)
            down.depth += 1; up.depth += 1
            down.branched = branch; up.branched = branch
            down.up = false; up.up = true
            down.parentValue = sol.objective; up.parentValue = sol.objective
            down.moved = v; up.moved = 1 - v
            let candidates = [down, up].filter { $0.bound < incumbentObjective }
            // plunge towards the side the relaxation leans to; the other child waits in the heap
            let preferred = v >= 0.5 ? 1 : 0
            for c in candidates where (c.up ? 1 : 0) != preferred { push(c) }
            plunge = candidates.first { ($0.up ? 1 : 0) == preferred }
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
        // A stop asked for within the node, or now: the node's children are kept as open nodes.
        if interruptRequested || report(newIncumbent: newIncumbent) { status = .interrupted; break }
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
        r.relaxations = relaxations
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
    if status == .nodeLimit || status == .timeLimit {
        message = "\(status == .nodeLimit ? "node" : "time") limit after \(nodes) nodes; incumbent \(inc.objective), best bound \(bestBound), gap \(gap)"
    }
    return MixedIntegerSolution(status: status, hasIncumbent: true, x: inc.x, y: Array(inc.y.prefix(m)),
                                s: Array(inc.s.prefix(m)), objective: inc.objective, bestBound: min(bestBound, inc.objective),
                                gap: gap, nodes: nodes, relaxations: relaxations, heuristicIncumbents: heuristicIncumbents,
                                iterations: iterations, primalResidual: inc.primalResidual,
                                dualResidual: inc.dualResidual, solveSeconds: elapsed, message: message)
}
