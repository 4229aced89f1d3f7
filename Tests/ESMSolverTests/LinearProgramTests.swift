import Testing
import ESMSolver

/// min −x₁ − x₂  s.t.  x₁ + 2x₂ ≤ 4,  3x₁ + x₂ ≤ 6,  x ≥ 0.
/// Optimum at the intersection (1.6, 1.2), objective −2.8, duals (0.4, 0.2, 0, 0).
func smallLP() -> ConicProblem {
    ConicProblem(P: nil, q: [-1, -1],
                 A: SparseMatrixCSC(dense: [[1, 2], [3, 1], [-1, 0], [0, -1]]),
                 b: [4, 6, 0, 0], cones: [.nonnegative(4)])
}

@Test func lpSolvesToHandCheckedVertex() {
    let sol = solveConic(smallLP())
    #expect(sol.status == .solved)
    #expect(maxDiff(sol.x, [1.6, 1.2]) < 1e-7)
    #expect(abs(sol.objective + 2.8) < 1e-7)
    #expect(maxDiff(sol.y, [0.4, 0.2, 0, 0]) < 1e-7)
    #expect(sol.iterations < 30)
}

@Test func lpInfeasibleTwinGivesCertificate() {
    var p = smallLP()
    // add x₁ + x₂ ≥ 10, i.e. −x₁ − x₂ ≤ −10: impossible with the first two rows.
    p.A = SparseMatrixCSC(dense: [[1, 2], [3, 1], [-1, 0], [0, -1], [-1, -1]])
    p.b = [4, 6, 0, 0, -10]
    p.cones = [.nonnegative(5)]
    let sol = solveConic(p)
    #expect(sol.status == .primalInfeasible)
    // certificate: y ≥ 0, bᵀy = −1, Aᵀy ≈ 0
    let by = zip(p.b, sol.y).map { $0 * $1 }.reduce(0, +)
    #expect(abs(by + 1) < 1e-9)
    #expect(sol.y.allSatisfy { $0 > -1e-9 })
    let aty0 = sol.y[0] + 3 * sol.y[1] - sol.y[2] - sol.y[4]
    let aty1 = 2 * sol.y[0] + sol.y[1] - sol.y[3] - sol.y[4]
    #expect(abs(aty0) < 1e-6 && abs(aty1) < 1e-6)
}

@Test func lpUnboundedTwinGivesCertificate() {
    var p = smallLP()
    p.A = SparseMatrixCSC(dense: [[-1, 0], [0, -1]])
    p.b = [0, 0]
    p.cones = [.nonnegative(2)]
    let sol = solveConic(p)
    #expect(sol.status == .dualInfeasible)
    let qx = -sol.x[0] - sol.x[1]
    #expect(abs(qx + 1) < 1e-9)
    #expect(sol.x.allSatisfy { $0 > -1e-9 })
}
