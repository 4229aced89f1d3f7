import Testing
import ESMSolver

/// Every output number finite and every vector of the right length.
func wellFormed(_ sol: ConicSolution, n: Int, m: Int) -> Bool {
    sol.x.count == n && sol.y.count == m && sol.s.count == m
        && (sol.x + sol.y + sol.s).allSatisfy { $0.isFinite }
        && sol.objective.isFinite && sol.primalResidual.isFinite && sol.dualResidual.isFinite
        && sol.solveSeconds.isFinite
}

@Test func malformedInputNeverTraps() {
    var rng = TestRandom(seed: 99)
    for trial in 0..<300 {
        var p = randomConicProblem(n: 4 + rng.int(6), zeroRows: rng.int(2), nonnegRows: 2 + rng.int(5),
                                   socCount: rng.int(2), socDim: 1 + rng.int(3), density: 0.4, seed: UInt64(trial))
        switch rng.int(14) {
        case 0: if !p.A.rowval.isEmpty { p.A.rowval[rng.int(p.A.rowval.count)] = [-1, p.b.count, Int.max, Int.min][rng.int(4)] }
        case 1: if p.A.colptr.count > 1 { p.A.colptr[1 + rng.int(p.A.colptr.count - 1)] = [-5, Int.max, 10_000][rng.int(3)] }
        case 2: p.A.colptr.removeLast()
        case 3: p.A.m = [-1, 0, Int.max][rng.int(3)]
        case 4: p.A.n = [-1, Int.max][rng.int(2)]
        case 5: p.b[rng.int(p.b.count)] = [.nan, .infinity, -.infinity][rng.int(3)]
        case 6: if !p.A.nzval.isEmpty { p.A.nzval[rng.int(p.A.nzval.count)] = .nan }
        case 7: p.cones = [.secondOrder(Int.max), .nonnegative(Int.max)]
        case 8: p.cones = [.nonnegative(-3)] + p.cones
        case 9: p.integers = [Int.min]
        case 10: p.P = SparseMatrixCSC(m: 1, n: 1, colptr: [0], rowval: [], nzval: [])
        case 11: if var P = p.P { P.nzval = P.nzval.map { _ in .infinity }; p.P = P }
        case 12: p.A.nzval = p.A.nzval.map { $0 * 1e300 }      // huge but finite data
        default: p.b = p.b.map { $0 * 1e-300 }
        }
        let sol = solveConic(p)
        #expect(wellFormed(sol, n: p.q.count, m: p.b.count))
    }
}

@Test func extremeButValidDataGivesFiniteResults() {
    // wildly scaled rows and columns, a zero row, a zero column, a zero objective
    let p = ConicProblem(P: nil, q: [0, 0, 0],
                         A: SparseMatrixCSC(dense: [[1e12, 0, 0], [0, 1e-12, 0], [0, 0, 0], [1, 1, 0]]),
                         b: [1e12, 1e-12, 0, 3], cones: [.nonnegative(4)])
    let sol = solveConic(p)
    #expect(wellFormed(sol, n: 3, m: 4))
    #expect(sol.status == .solved || sol.status == .solvedInaccurate)
    // an optimum at a huge scale
    let big = ConicProblem(P: nil, q: [1], A: SparseMatrixCSC(dense: [[-1]]), b: [-1e9], cones: [.nonnegative(1)])
    let bs = solveConic(big)
    #expect(bs.status == .solved)
    #expect(abs(bs.x[0] - 1e9) < 1e-8 * 1e9)
}
