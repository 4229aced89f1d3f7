import Testing
import ESMSolver

/// max Σ vᵢxᵢ s.t. Σ wᵢxᵢ ≤ cap, x binary (as a minimization of −vᵀx).
func knapsack(values: [Double], weights: [Double], capacity: Double) -> ConicProblem {
    ConicProblem(P: nil, q: values.map { -$0 }, A: SparseMatrixCSC(dense: [weights]), b: [capacity],
                 cones: [.nonnegative(1)], integers: Array(0..<values.count))
}

@Test func knapsackHandChecked() {
    // {0, 1} weighs 7 and is worth 23; every other feasible set is worth less.
    let sol = solveMixedInteger(knapsack(values: [10, 13, 7, 8], weights: [3, 4, 2, 3], capacity: 7))
    #expect(sol.status == .optimal)
    #expect(sol.hasIncumbent)
    #expect(abs(sol.objective + 23) < 1e-6)
    #expect(maxDiff(sol.x, [1, 1, 0, 0]) < 1e-5)
    #expect(sol.gap < 1e-4)
}

@Test func knapsackMatchesBruteForce() {
    var rng = TestRandom(seed: 21)
    let n = 12
    let values = (0..<n).map { _ in Double(1 + rng.int(20)) }
    let weights = (0..<n).map { _ in Double(1 + rng.int(10)) }
    let capacity = 25.0
    var best = 0.0
    for mask in 0..<(1 << n) {
        var w = 0.0, v = 0.0
        for i in 0..<n where mask & (1 << i) != 0 { w += weights[i]; v += values[i] }
        if w <= capacity { best = max(best, v) }
    }
    var incumbents = 0
    let sol = solveMixedInteger(knapsack(values: values, weights: weights, capacity: capacity)) { progress in
        if progress.newIncumbent { incumbents += 1 }
        return false
    }
    #expect(sol.status == .optimal)
    #expect(abs(-sol.objective - best) < 1e-4)
    #expect(incumbents >= 1)
    print("knapsack n=12: optimum \(best), \(sol.nodes) nodes, \(incumbents) incumbents, \(sol.solveSeconds) s")
}

@Test func integerInfeasibleButRelaxationFeasible() {
    // x₁ + x₂ = 1.5 has fractional solutions but no binary one.
    let p = ConicProblem(P: nil, q: [1, 1], A: SparseMatrixCSC(dense: [[1, 1]]), b: [1.5], cones: [.zero(1)],
                         integers: [0, 1])
    let sol = solveMixedInteger(p)
    #expect(sol.status == .infeasible)
    #expect(!sol.hasIncumbent)
}

@Test func mixedIntegerSOCPBranches() {
    // min t + 0.7z s.t. t ≥ ‖(1 − z, 0.5)‖, z ∈ {0, 1}: the relaxation has 0.51(1 − z)² = 0.1225, z ≈ 0.5099;
    // z = 0 gives √1.25 ≈ 1.118 < 0.5 + 0.7.
    let p = ConicProblem(P: nil, q: [1, 0.7], A: SparseMatrixCSC(dense: [[-1, 0], [0, 1], [0, 0]]),
                         b: [0, 1, 0.5], cones: [.secondOrder(3)], integers: [1])
    let relaxed = solveConic(ConicProblem(P: nil, q: p.q, A: SparseMatrixCSC(dense: [[-1, 0], [0, 1], [0, 0], [0, -1], [0, 1]]),
                                          b: [0, 1, 0.5, 0, 1], cones: [.secondOrder(3), .nonnegative(2)]))
    // (the objective is flat there: a 1e-8 gap pins z only to about 1e-4)
    #expect(abs(relaxed.x[1] - (1 - (0.1225 / 0.51).squareRoot())) < 1e-3)
    let sol = solveMixedInteger(p)
    #expect(sol.status == .optimal)
    #expect(abs(sol.objective - 1.25.squareRoot()) < 1e-6)
    #expect(abs(sol.x[1]) < 1e-6)
    // both children are solved, at the root by strong branching or as nodes
    #expect(sol.relaxations >= 3)
}

@Test func branchAndBoundLimitsAndEdgeCases() {
    var rng = TestRandom(seed: 5)
    let n = 14
    let p = knapsack(values: (0..<n).map { _ in Double(1 + rng.int(30)) },
                     weights: (0..<n).map { _ in Double(1 + rng.int(12)) }, capacity: 30)
    var s = BranchAndBoundSettings()
    s.maxNodes = 3
    s.strongBranchingCandidates = 0     // strong branching would close this knapsack within 3 nodes
    let limited = solveMixedInteger(p, settings: s)
    #expect(limited.status == .nodeLimit)
    #expect(limited.nodes == 3)
    #expect(limited.bestBound <= (limited.hasIncumbent ? limited.objective : 0) + 1e-9)

    let stopped = solveMixedInteger(p) { _ in true }
    #expect(stopped.status == .interrupted)

    // no integers: one relaxation
    var lp = smallLP()
    lp.integers = []
    let plain = solveMixedInteger(lp)
    #expect(plain.status == .optimal && plain.nodes == 1)
    #expect(abs(plain.objective + 2.8) < 1e-7)

    // unbounded root
    let unbounded = ConicProblem(P: nil, q: [-1, -1], A: SparseMatrixCSC(dense: [[0, -1]]), b: [0],
                                 cones: [.nonnegative(1)], integers: [0])
    #expect(solveMixedInteger(unbounded).status == .unbounded)

    // invalid input is reported, not trapped
    var bad = smallLP()
    bad.integers = [9]
    let invalid = solveMixedInteger(bad)
    #expect(invalid.status == .numericalError && invalid.message.contains("integers[0]"))
}

@Test func solveConicHandlesIntegers() {
    let p = knapsack(values: [10, 13, 7, 8], weights: [3, 4, 2, 3], capacity: 7)
    var nodes = 0
    let sol = solveConic(p) { _ in nodes += 1; return false }
    #expect(sol.status == .solved)
    #expect(abs(sol.objective + 23) < 1e-6)
    #expect(sol.y.count == 1 && sol.s.count == 1)
    #expect(nodes >= 1 && sol.iterations > nodes)
    var infeasible = ConicProblem(P: nil, q: [1, 1], A: SparseMatrixCSC(dense: [[1, 1]]), b: [1.5], cones: [.zero(1)])
    infeasible.integers = [0, 1]
    #expect(solveConic(infeasible).status == .primalInfeasible)
}

@Test func largerKnapsackMatchesDynamicProgramming() {
    var rng = TestRandom(seed: 1234)
    let n = 30
    let weights = (0..<n).map { _ in 5 + rng.int(25) }
    let values = weights.map { _ in Double(1 + rng.int(40)) }
    let capacity = weights.reduce(0, +) / 3
    var best = [Double](repeating: 0, count: capacity + 1)       // 0/1 knapsack DP over capacity
    for i in 0..<n {
        var c = capacity
        while c >= weights[i] { best[c] = max(best[c], best[c - weights[i]] + values[i]); c -= 1 }
    }
    var settings = BranchAndBoundSettings()
    settings.relativeGap = 1e-7
    let sol = solveMixedInteger(knapsack(values: values, weights: weights.map(Double.init), capacity: Double(capacity)),
                                settings: settings)
    #expect(sol.status == .optimal)
    #expect(abs(-sol.objective - best[capacity]) <= 1e-6 * best[capacity])
    print("knapsack n=30: optimum \(best[capacity]), B&B \(-sol.objective) in \(sol.nodes) nodes, "
          + "\(sol.iterations) IPM iterations, \(sol.solveSeconds) s")
}

@Test func incumbentHeuristicAndLimits() {
    var rng = TestRandom(seed: 77)
    let n = 16
    let values = (0..<n).map { _ in Double(1 + rng.int(30)) }
    let weights = (0..<n).map { _ in Double(1 + rng.int(12)) }
    let capacity = 35.5      // integer weights never fill it: the root relaxation is fractional
    var best = 0.0, bestMask = 0
    for mask in 0..<(1 << n) {
        var w = 0.0, v = 0.0
        for i in 0..<n where mask & (1 << i) != 0 { w += weights[i]; v += values[i] }
        if w <= capacity && v > best { best = v; bestMask = mask }
    }
    let p = knapsack(values: values, weights: weights, capacity: capacity)
    let optimum = (0..<n).reduce(into: [Int: Double]()) { $0[$1] = bestMask & (1 << $1) != 0 ? 1 : 0 }
    let overweight = (0..<n).reduce(into: [Int: Double]()) { $0[$1] = 1 }   // infeasible: dropped

    // The caller's heuristic proposes the optimum at the root: one node suffices for an
    // incumbent, and the node limit answers it with an honest bound and gap.
    var calls = 0
    let heuristic = IncumbentHeuristic { x in
        calls += 1
        #expect(x.count == n)
        return [overweight, optimum]
    }
    var s = BranchAndBoundSettings()
    s.maxNodes = 1
    let limited = solveMixedInteger(p, settings: s, heuristic: heuristic)
    #expect(calls == 1)
    #expect(limited.status == .nodeLimit || limited.status == .optimal)
    #expect(limited.hasIncumbent && abs(limited.objective + best) < 1e-6)
    #expect(limited.heuristicIncumbents == 1)
    #expect(limited.bestBound <= -best + 1e-7 && limited.gap >= 0)
    #expect(abs(limited.gap - (limited.objective - limited.bestBound)) < 1e-9)

    // Without limits the heuristic's incumbent is proven optimal.
    let full = solveMixedInteger(p, heuristic: heuristic)
    #expect(full.status == .optimal && abs(full.objective + best) < 1e-6)
    #expect(full.bestBound <= -best + 1e-7)

    // A zero time limit stops before the first node: no incumbent, status time_limit.
    var t = BranchAndBoundSettings()
    t.timeLimitSeconds = 0
    let timed = solveMixedInteger(p, settings: t)
    #expect(timed.status == .timeLimit && !timed.hasIncumbent && timed.nodes == 0)

    // Pseudo-costs only (no strong branching) reach the same optimum.
    var plain = BranchAndBoundSettings()
    plain.strongBranchingCandidates = 0
    plain.relativeGap = 1e-9
    let pseudo = solveMixedInteger(p, settings: plain)
    #expect(pseudo.status == .optimal && abs(pseudo.objective + best) < 1e-6)
    print("knapsack n=16: optimum \(best); strong branching \(full.nodes) nodes / \(full.relaxations) relaxations, "
          + "pseudo-costs only \(pseudo.nodes) nodes / \(pseudo.relaxations) relaxations")
}
