import Testing
import ESMSolver

/// min −x₁ − x₂/2 s.t. x₁ + x₂ ≤ 1, x ≥ 0, plus a duplicate of x₁ ≥ 0 (a dependent row):
/// vertex (1, 0), duals y = (1, 0, 0.5, 0) up to the split over the duplicate.
@Test func polishLandsOnTheVertex() throws {
    let A = SparseMatrixCSC(m: 4, n: 2, colptr: [0, 3, 5], rowval: [0, 1, 3, 0, 2], nzval: [1, -1, -1, 1, -1])
    let problem = ConicProblem(P: nil, q: [-1, -0.5], A: A, b: [1, 0, 0, 0], cones: [.nonnegative(4)])
    let raw = solveConic(problem)
    #expect(raw.status == .solved)
    let polished = try #require(polishSolution(problem, raw))
    #expect(abs(polished.x[0] - 1) < 1e-14 && abs(polished.x[1]) < 1e-14)
    #expect(abs(polished.objective + 1) < 1e-14)
    #expect(abs(polished.y[0] - 1) < 1e-12 && abs(polished.y[2] - 0.5) < 1e-12)
    #expect(polished.y.allSatisfy { $0 >= 0 } && polished.s.allSatisfy { $0 >= 0 })
}

@Test func polishDeclinesConesItCannotHandle() {
    // min x₀ s.t. x₀ ≥ ‖(1)‖ as a second-order cone: nothing to polish.
    let A = SparseMatrixCSC(m: 2, n: 1, colptr: [0, 1], rowval: [0], nzval: [-1])
    let problem = ConicProblem(P: nil, q: [1], A: A, b: [0, 1], cones: [.secondOrder(2)])
    let raw = solveConic(problem)
    #expect(polishSolution(problem, raw) == nil)
}
