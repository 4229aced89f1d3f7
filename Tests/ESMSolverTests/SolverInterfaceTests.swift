import Testing
import ESMSolver

@Test func updateQAndBMatchFreshSolve() throws {
    let solver = try ConicSolver(problem: smallLP())
    let first = solver.solve()
    #expect(first.status == .solved)
    let symbolicFill = solver.factorNonzeros

    let newQ = [-2.0, -1]
    try solver.update(q: newQ)
    let updatedQ = solver.solve()
    var p = smallLP()
    p.q = newQ
    let freshQ = solveConic(p)
    #expect(updatedQ.status == .solved && freshQ.status == .solved)
    #expect(maxDiff(updatedQ.x, freshQ.x) < 1e-7)
    // max 2x₁ + x₂: (2, 0) gives 4, (1.6, 1.2) gives 4.4
    #expect(abs(updatedQ.objective + 4.4) < 1e-7)

    let newB = [5.0, 6, 0, 0]
    try solver.update(b: newB)
    let updatedB = solver.solve()
    p.b = newB
    let freshB = solveConic(p)
    #expect(updatedB.status == .solved)
    #expect(maxDiff(updatedB.x, freshB.x) < 1e-7)
    #expect(abs(updatedB.objective - freshB.objective) < 1e-8)
    #expect(solver.factorNonzeros == symbolicFill)

    #expect(throws: ConicSolverError.self) { try solver.update(q: [1]) }
    #expect(throws: ConicSolverError.self) { try solver.update(b: [1, 2, .nan, 4]) }
}

@Test func invalidInputNamesTheField() {
    func field(_ p: ConicProblem) -> String? {
        do { _ = try ConicSolver(problem: p); return nil } catch let e as ConicSolverError { return e.field } catch { return "?" }
    }
    var p = smallLP()
    p.A.rowval[2] = 7
    #expect(field(p) == "A.rowval[2]")
    p = smallLP()
    p.cones = [.nonnegative(3)]
    #expect(field(p) == "cones")
    p = smallLP()
    p.cones = [.nonnegative(3), .secondOrder(0), .nonnegative(1)]
    #expect(field(p) == "cones[1]")
    p = smallLP()
    p.cones = [.nonnegative(-1), .nonnegative(5)]
    #expect(field(p) == "cones[0]")
    p = smallLP()
    p.b = [1, 2, 3]
    #expect(field(p) == "A")
    p = smallLP()
    p.q[1] = .infinity
    #expect(field(p) == "q[1]")
    p = smallLP()
    p.P = SparseMatrixCSC(m: 2, n: 2, colptr: [0, 2, 2], rowval: [0, 1], nzval: [1, 1])
    #expect(field(p) == "P.rowval[1]")
    p = smallLP()
    p.A.colptr = [0, 3]
    #expect(field(p) == "A.colptr")
    p = smallLP()
    p.integers = [2]
    #expect(field(p) == "integers[0]")
    // the convenience function reports instead of trapping
    let sol = solveConic(p)
    #expect(sol.status == .numericalError)
    #expect(sol.message.contains("integers[0]"))
    #expect(sol.x == [0, 0])
    var s = SolverSettings()
    s.maxStepFraction = 1.5
    #expect(s.validationError()?.field == "settings.maxStepFraction")
}

@Test func unsortedAndDuplicateEntriesAreAccepted() {
    // A given with unsorted rows and a duplicate (1 + 0 split over two entries) in column 0.
    var p = smallLP()
    p.A = SparseMatrixCSC(m: 4, n: 2, colptr: [0, 4, 7], rowval: [2, 1, 0, 0, 3, 1, 0],
                          nzval: [-1, 3, 0.25, 0.75, -1, 1, 2])
    let sol = solveConic(p)
    #expect(sol.status == .solved)
    #expect(abs(sol.objective + 2.8) < 1e-7)
}

@Test func callbackInterruptsAndLimitsStop() {
    var calls = 0
    let sol = solveConic(smallSOCP()) { info in
        calls += 1
        return info.iteration >= 2
    }
    #expect(sol.status == .interrupted)
    #expect(calls == 3)
    #expect(sol.x.allSatisfy { $0.isFinite })

    var s = SolverSettings()
    s.maxIterations = 2
    let limited = solveConic(smallSOCP(), settings: s)
    #expect(limited.status == .iterationLimit)
    #expect(limited.iterations == 2)

    s = SolverSettings()
    s.timeLimitSeconds = 0
    #expect(solveConic(smallSOCP(), settings: s).status == .timeLimit)

    // loose tolerances at the iteration limit → solvedInaccurate
    s = SolverSettings()
    s.maxIterations = 6
    s.reducedGapAbsTolerance = 1e-2
    s.reducedGapRelTolerance = 1e-2
    s.reducedFeasibilityTolerance = 1e-2
    let inaccurate = solveConic(smallSOCP(), settings: s)
    #expect(inaccurate.status == .solvedInaccurate || inaccurate.status == .solved)
}

@Test func equilibrationOffGivesTheSameAnswer() {
    var s = SolverSettings()
    s.equilibrate = false
    s.fillReducingOrdering = false
    let sol = solveConic(smallQP(), settings: s)
    #expect(sol.status == .solved)
    #expect(maxDiff(sol.x, [-0.25, 1.25]) < 1e-7)
}

@Test func badlyScaledProblemIsEquilibrated() {
    // the small LP with row 0 scaled by 1e6 and column 1 by 1e-4 (x₂ = 1e4·x₂')
    let p = ConicProblem(P: nil, q: [-1, -1e-4],
                         A: SparseMatrixCSC(dense: [[1e6, 2e2], [3, 1e-4], [-1, 0], [0, -1e-4]]),
                         b: [4e6, 6, 0, 0], cones: [.nonnegative(4)])
    let sol = solveConic(p)
    #expect(sol.status == .solved)
    #expect(abs(sol.objective + 2.8) < 1e-6)
    #expect(abs(sol.x[1] - 1.2e4) < 1e-2)
}

@Test func concurrentSolvesAreIndependent() async {
    let problems = [smallLP(), smallQP(), smallSOCP(), rotatedConeProblem(w: 1)]
    let expected = [-2.8, -4.125, -2.0.squareRoot(), 2.0.squareRoot()]
    await withTaskGroup(of: (Int, Double).self) { group in
        for round in 0..<8 {
            let k = round % problems.count
            let p = problems[k]
            group.addTask { (k, solveConic(p).objective) }
        }
        for await (k, obj) in group { #expect(abs(obj - expected[k]) < 1e-7) }
    }
}
