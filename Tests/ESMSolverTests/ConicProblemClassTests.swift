import Testing
import ESMSolver

// One tiny problem per class, each with a hand-checked answer, plus infeasible/unbounded twins.

/// min x₁² + x₂² − 2x₁ − 5x₂  s.t.  x₁ + x₂ ≤ 1: the projection of (1, 2.5) onto x₁ + x₂ = 1
/// is (−0.25, 1.25), objective −4.125, multiplier 2.5.
func smallQP() -> ConicProblem {
    ConicProblem(P: upper([[2, 0], [0, 2]]), q: [-2, -5],
                 A: SparseMatrixCSC(dense: [[1, 1]]), b: [1], cones: [.nonnegative(1)])
}

@Test func qpSolves() {
    let sol = solveConic(smallQP())
    #expect(sol.status == .solved)
    #expect(maxDiff(sol.x, [-0.25, 1.25]) < 1e-7)
    #expect(abs(sol.objective + 4.125) < 1e-7)
    #expect(maxDiff(sol.y, [2.5]) < 1e-7)
    #expect(sol.primalResidual < 1e-8 && sol.dualResidual < 1e-8)
}

@Test func qpInfeasibleTwin() {
    var p = smallQP()
    // x₁ + x₂ ≤ 1 and x₁ + x₂ ≥ 2
    p.A = SparseMatrixCSC(dense: [[1, 1], [-1, -1]])
    p.b = [1, -2]
    p.cones = [.nonnegative(2)]
    #expect(solveConic(p).status == .primalInfeasible)
}

@Test func qpUnboundedTwin() {
    // P = diag(2, 0): x₂ has no curvature, q₂ = −5 and x₂ is only bounded below → unbounded.
    let p = ConicProblem(P: upper([[2, 0], [0, 0]]), q: [-2, -5],
                         A: SparseMatrixCSC(dense: [[0, -1]]), b: [0], cones: [.nonnegative(1)])
    let sol = solveConic(p)
    #expect(sol.status == .dualInfeasible)
    #expect(sol.x[1] > 0 && abs(sol.x[0]) < 1e-6)
}

/// min −x₁ − x₂  s.t.  ‖(x₁, x₂)‖ ≤ 1: x = (1, 1)/√2, objective −√2, y = (√2, −1, −1).
func smallSOCP() -> ConicProblem {
    ConicProblem(P: nil, q: [-1, -1],
                 A: SparseMatrixCSC(dense: [[0, 0], [-1, 0], [0, -1]]),
                 b: [1, 0, 0], cones: [.secondOrder(3)])
}

@Test func socpSolves() {
    let sol = solveConic(smallSOCP())
    let r = 2.0.squareRoot()
    #expect(sol.status == .solved)
    #expect(maxDiff(sol.x, [1 / r, 1 / r]) < 1e-7)
    #expect(abs(sol.objective + r) < 1e-7)
    #expect(maxDiff(sol.y, [r, -1, -1]) < 1e-6)
}

@Test func socpInfeasibleTwin() {
    var p = smallSOCP()
    // also x₁ ≥ 2, outside the unit disc
    p.A = SparseMatrixCSC(dense: [[0, 0], [-1, 0], [0, -1], [-1, 0]])
    p.b = [1, 0, 0, -2]
    p.cones = [.secondOrder(3), .nonnegative(1)]
    let sol = solveConic(p)
    #expect(sol.status == .primalInfeasible)
}

@Test func socpUnboundedTwin() {
    // min −x₁  s.t.  ‖x₂‖ ≤ x₁ : the ray (1, 0) is feasible and decreasing.
    let p = ConicProblem(P: nil, q: [-1, 0], A: SparseMatrixCSC(dense: [[-1, 0], [0, -1]]), b: [0, 0],
                         cones: [.secondOrder(2)])
    #expect(solveConic(p).status == .dualInfeasible)
}

/// Rotated cone 2uv ≥ w² written as the standard cone on ((u+v)/√2, (u−v)/√2, w):
/// min u + v with w = 1 gives uv = ½, u = v = 1/√2, objective √2.
func rotatedConeProblem(w: Double) -> ConicProblem {
    let h = 1 / 2.0.squareRoot()
    return ConicProblem(P: nil, q: [1, 1, 0],
                        A: SparseMatrixCSC(dense: [[0, 0, 1], [-h, -h, 0], [-h, h, 0], [0, 0, -1]]),
                        b: [w, 0, 0, 0], cones: [.zero(1), .secondOrder(3)])
}

@Test func rotatedSecondOrderCone() {
    let sol = solveConic(rotatedConeProblem(w: 1))
    let h = 1 / 2.0.squareRoot()
    #expect(sol.status == .solved)
    #expect(maxDiff(sol.x, [h, h, 1]) < 1e-6)
    #expect(abs(sol.objective - 2.0.squareRoot()) < 1e-7)
}

@Test func rotatedConeInfeasibleTwin() {
    // u + v ≤ 1 and w = 2 need uv ≥ 2 with u + v ≤ 1: impossible.
    var p = rotatedConeProblem(w: 2)
    p.A = SparseMatrixCSC(dense: [[0, 0, 1], [-0.7071067811865476, -0.7071067811865476, 0],
                                  [-0.7071067811865476, 0.7071067811865476, 0], [0, 0, -1], [1, 1, 0]])
    p.b = [2, 0, 0, 0, 1]
    p.cones = [.zero(1), .secondOrder(3), .nonnegative(1)]
    #expect(solveConic(p).status == .primalInfeasible)
}

/// Degenerate vertex: min −x₁ s.t. x₁ ≤ 1, x₁ + x₂ ≤ 1, x₁ − x₂ ≤ 1 (x₂ free): at (1, 0)
/// three constraints are active in two dimensions. Objective −1.
@Test func degenerateLP() {
    let p = ConicProblem(P: nil, q: [-1, 0], A: SparseMatrixCSC(dense: [[1, 0], [1, 1], [1, -1]]),
                         b: [1, 1, 1], cones: [.nonnegative(3)])
    let sol = solveConic(p)
    #expect(sol.status == .solved)
    #expect(abs(sol.objective + 1) < 1e-7)
    #expect(maxDiff(sol.x, [1, 0]) < 1e-6)
    let e = kktErrors(p, sol)
    #expect(e.primal < 1e-7 && e.dual < 1e-7 && e.comp < 1e-7)
}

/// A duplicated constraint (x₁ + x₂ ≥ 1 written twice, and ≤ 1) and a whole face of optima.
@Test func degenerateLPWithDuplicateRowsAndOptimalFace() {
    let p = ConicProblem(P: nil, q: [1, 1],
                         A: SparseMatrixCSC(dense: [[-1, -1], [-1, -1], [1, 1], [-1, 0], [0, -1]]),
                         b: [-1, -1, 1, 0, 0], cones: [.nonnegative(5)])
    let sol = solveConic(p)
    #expect(sol.status == .solved)
    #expect(abs(sol.objective - 1) < 1e-7)
    #expect(abs(sol.x[0] + sol.x[1] - 1) < 1e-7)
}

/// Free variables with no curvature put zeros on the KKT diagonal (only static and dynamic
/// regularization keep the pivots nonzero): min ½x₁² − 3x₁ s.t. x₁ + x₂ = 5, x₂ ≤ 10, x₃ free
/// with x₃ = x₂ − 1. Optimum x = (3, 2, 1), objective −4.5.
@Test func zeroOnKKTDiagonalWithFreeVariables() {
    let p = ConicProblem(P: upper([[1, 0, 0], [0, 0, 0], [0, 0, 0]]), q: [-3, 0, 0],
                         A: SparseMatrixCSC(dense: [[1, 1, 0], [0, 1, -1], [0, 1, 0]]),
                         b: [5, 1, 10], cones: [.zero(2), .nonnegative(1)])
    let sol = solveConic(p)
    #expect(sol.status == .solved)
    #expect(maxDiff(sol.x, [3, 2, 1]) < 1e-7)
    #expect(abs(sol.objective + 4.5) < 1e-7)
    // y for x₁ + x₂ = 5 is 0 (x₁ is at its unconstrained optimum); x₂ ≤ 10 is inactive.
    #expect(maxDiff(sol.y, [0, 0, 0]) < 1e-7)
}

/// Free variables in an LP: min x₁ − x₂ s.t. x₁ − x₂ ≥ −1 (both free): objective −1.
@Test func lpWithFreeVariables() {
    let p = ConicProblem(P: nil, q: [1, -1], A: SparseMatrixCSC(dense: [[-1, 1]]), b: [1], cones: [.nonnegative(1)])
    let sol = solveConic(p)
    #expect(sol.status == .solved)
    #expect(abs(sol.objective + 1) < 1e-7)
    #expect(abs(sol.x[0] - sol.x[1] + 1) < 1e-7)
}

/// min ½‖x‖² s.t. x₁ + x₂ + x₃ = 3: x = (1, 1, 1), objective 1.5, y = −1.
@Test func equalityOnlyQP() {
    let p = ConicProblem(P: upper([[1, 0, 0], [0, 1, 0], [0, 0, 1]]), q: [0, 0, 0],
                         A: SparseMatrixCSC(dense: [[1, 1, 1]]), b: [3], cones: [.zero(1)])
    let sol = solveConic(p)
    #expect(sol.status == .solved)
    #expect(maxDiff(sol.x, [1, 1, 1]) < 1e-7)
    #expect(abs(sol.objective - 1.5) < 1e-7)
    #expect(maxDiff(sol.y, [-1]) < 1e-7)
    #expect(maxDiff(sol.s, [0]) < 1e-12)
}

@Test func equalityOnlyInconsistentIsInfeasible() {
    // x₁ + x₂ = 1 and x₁ + x₂ = 2
    let p = ConicProblem(P: upper([[1, 0], [0, 1]]), q: [0, 0],
                         A: SparseMatrixCSC(dense: [[1, 1], [1, 1]]), b: [1, 2], cones: [.zero(2)])
    #expect(solveConic(p).status == .primalInfeasible)
}

@Test func unconstrainedQP() {
    // m = 0: min ½·2x² − 4x → x = 2, objective −4.
    let p = ConicProblem(P: upper([[2]]), q: [-4], A: .zeros(0, 1), b: [], cones: [])
    let sol = solveConic(p)
    #expect(sol.status == .solved)
    #expect(maxDiff(sol.x, [2]) < 1e-8)
    #expect(abs(sol.objective + 4) < 1e-8)
}

@Test func unconstrainedLinearIsUnbounded() {
    let p = ConicProblem(P: nil, q: [1], A: .zeros(0, 1), b: [], cones: [])
    #expect(solveConic(p).status == .dualInfeasible)
}

@Test func noVariables() {
    // n = 0: s = b must lie in K.
    let feasible = ConicProblem(P: nil, q: [], A: .zeros(2, 0), b: [1, 0], cones: [.nonnegative(1), .zero(1)])
    let sol = solveConic(feasible)
    #expect(sol.status == .solved)
    #expect(maxDiff(sol.s, [1, 0]) < 1e-8)
    let infeasible = ConicProblem(P: nil, q: [], A: .zeros(1, 0), b: [-1], cones: [.nonnegative(1)])
    #expect(solveConic(infeasible).status == .primalInfeasible)
}

@Test func emptyProblemAndEmptyCones() {
    let empty = ConicProblem(P: nil, q: [], A: .zeros(0, 0), b: [], cones: [])
    #expect(solveConic(empty).status == .solved)
    // zero-dimensional cones in the list are allowed and ignored
    var p = smallLP()
    p.cones = [.nonnegative(0), .zero(0), .nonnegative(4), .zero(0)]
    let sol = solveConic(p)
    #expect(sol.status == .solved)
    #expect(abs(sol.objective + 2.8) < 1e-7)
}

@Test func secondOrderConeOfDimensionOne() {
    // SOC of dimension 1 is s₀ ≥ 0: min x s.t. x ≥ 2.
    let p = ConicProblem(P: nil, q: [1], A: SparseMatrixCSC(dense: [[-1]]), b: [-2], cones: [.secondOrder(1)])
    let sol = solveConic(p)
    #expect(sol.status == .solved)
    #expect(abs(sol.x[0] - 2) < 1e-7)
}
