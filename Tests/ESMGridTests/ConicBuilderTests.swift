import Testing
import ESMSolver

@Suite struct ConicBuilderTests {
    /// min x + 2y  s.t.  x + y = 1, x, y ≥ 0  →  (1, 0), objective 1, equality dual 1.
    @Test func smallLinearProgram() throws {
        var b = ConicBuilder()
        let v = b.addVariables("xy", count: 2)
        let bounds = b.addGroup("bounds", .nonnegative)       // created before the equality
        let balance = b.addGroup("balance", .zero)
        b.addGreaterEqual(bounds, .variable(v[0]), 0)
        b.addGreaterEqual(bounds, .variable(v[1]), 0)
        b.addEquality(balance, LinearExpression([LinearTerm(v[0], 1), LinearTerm(v[1], 1)]), 1)
        b.addLinearCost(LinearExpression([LinearTerm(v[0], 1), LinearTerm(v[1], 2)], constant: 10))
        let model = try b.build()
        #expect(model.problem.cones == [.zero(1), .nonnegative(2)])
        #expect(model.rows(of: balance) == 0..<1)
        #expect(model.rows(of: bounds) == 1..<3)
        let solution = solveConic(model.problem)
        #expect(solution.status == .solved)
        #expect(abs(solution.x[0] - 1) < 1e-7 && abs(solution.x[1]) < 1e-7)
        #expect(abs(solution.objective + model.objectiveConstant - 11) < 1e-7)
        // Raising the right-hand side by δ costs δ (x absorbs it).
        #expect(abs(model.values(of: balance, in: solution.y)[0] - 1) < 1e-6)
    }

    /// min x² + y²  s.t.  x + y ≥ 2  →  (1, 1), objective 2, multiplier 2.
    @Test func smallQuadraticProgram() throws {
        var b = ConicBuilder()
        let x = b.addVariable("x"), y = b.addVariable("y")
        b.addQuadraticCost(x, 2)
        b.addQuadraticCost(y, y, 1)      // two halves of the same entry, summed
        b.addQuadraticCost(y, 1)
        let g = b.addGroup("sum", .nonnegative)
        b.addGreaterEqual(g, LinearExpression([LinearTerm(x, 1), LinearTerm(y, 1)]), 2)
        let model = try b.build()
        let P = try #require(model.problem.P)
        #expect(P.colptr == [0, 1, 2] && P.rowval == [0, 1] && P.nzval == [2, 2])
        let s = solveConic(model.problem)
        #expect(s.status == .solved)
        #expect(abs(s.x[0] - 1) < 1e-7 && abs(s.x[1] - 1) < 1e-7)
        #expect(abs(s.objective - 2) < 1e-7)
        #expect(abs(model.values(of: g, in: s.y)[0] - 2) < 1e-6)
    }

    /// min x + y  s.t.  ‖(x, y)‖ ≤ 1, and z = 3 with cones added out of order:
    /// the second-order group comes first in the calls and last in the problem.
    @Test func smallSecondOrderConeProgram() throws {
        var b = ConicBuilder()
        let soc = b.addGroup("disc", .secondOrder)
        let v = b.addVariables("v", count: 3)
        let fix = b.addGroup("fix", .zero)
        let other = b.addGroup("other", .zero)
        b.addSecondOrderCone(soc, [.constant(1), .variable(v[0]), .variable(v[1])])
        b.addEquality(fix, .variable(v[2]), 3)
        b.addEquality(other, .variable(v[2], 2), 6)      // redundant but consistent
        b.addLinearCost(v[0], 1)
        b.addLinearCost(v[1], 1)
        let model = try b.build()
        #expect(model.problem.cones == [.zero(2), .secondOrder(3)])
        #expect(model.rows(of: fix) == 0..<1 && model.rows(of: other) == 1..<2 && model.rows(of: soc) == 2..<5)
        let s = solveConic(model.problem)
        #expect(s.status == .solved)
        let h = -1 / 2.0.squareRoot()
        #expect(abs(s.x[0] - h) < 1e-6 && abs(s.x[1] - h) < 1e-6 && abs(s.x[2] - 3) < 1e-6)
        #expect(abs(s.objective + 2.0.squareRoot()) < 1e-7)
    }

    /// Rows of two groups added alternately still come out contiguous per group, in creation order.
    @Test func interleavedGroupsAreContiguous() throws {
        var b = ConicBuilder()
        let x = b.addVariables("x", count: 4)
        let g1 = b.addGroup("a", .nonnegative), g2 = b.addGroup("b", .nonnegative)
        for i in 0..<4 {
            b.addGreaterEqual(i % 2 == 0 ? g1 : g2, .variable(x[i]), Double(i))
        }
        let model = try b.build()
        #expect(model.rows(of: g1) == 0..<2 && model.rows(of: g2) == 2..<4)
        // Row k of group a is x[2k] − 2k ≥ 0: A = −1 at (row, col), b = −2k.
        #expect(model.problem.b == [0, -2, -1, -3])
        #expect(model.problem.A.rowval == [0, 2, 1, 3])
        #expect(model.problem.A.nzval == [-1, -1, -1, -1])
        #expect(model.block(of: 2) == x)
    }

    @Test func duplicatesAreSummedAndZerosDropped() throws {
        var b = ConicBuilder()
        let x = b.addVariables("x", count: 2)
        let g = b.addGroup("g", .zero)
        b.addEquality(g, LinearExpression([LinearTerm(x[1], 1), LinearTerm(x[0], 2), LinearTerm(x[1], 3),
                                           LinearTerm(x[0], -2)]), 0)
        let model = try b.build()
        #expect(model.problem.A.colptr == [0, 0, 1])
        #expect(model.problem.A.nzval == [-4])
    }

    @Test func badIndicesAreErrorsNotTraps() {
        var b = ConicBuilder()
        _ = b.addVariable("x")
        let g = b.addGroup("g", .nonnegative)
        b.addGreaterEqual(g, .variable(5), 0)
        #expect(throws: ConicSolverError.self) { try b.build() }

        var c = ConicBuilder()
        _ = c.addVariable("x")
        c.addLinearCost(-1, 1)
        #expect(throws: ConicSolverError.self) { try c.build() }

        var d = ConicBuilder()
        let y = d.addVariable("y")
        let h = d.addGroup("h", .zero)
        d.addEquality(h, .variable(y, .nan), 0)
        #expect(throws: ConicSolverError.self) { try d.build() }

        // A group handle from another builder, and rows outside any cone of a second-order group.
        var other = ConicBuilder()
        _ = other.addGroup("a", .zero)
        let foreign = other.addGroup("b", .secondOrder)
        var e = ConicBuilder()
        let z = e.addVariable("z")
        e.addSecondOrderCone(foreign, [.variable(z), .variable(z)])
        #expect(throws: ConicSolverError.self) { try e.build() }
        var f = ConicBuilder()
        let w = f.addVariable("w")
        let cone = f.addGroup("cone", .secondOrder)
        f.addRow(cone, .variable(w))
        #expect(throws: ConicSolverError.self) { try f.build() }
    }

    /// The row order and CSC conversion stay linear: 200k variables, 400k rows.
    @Test func largeModelBuildsQuickly() throws {
        var b = ConicBuilder()
        let n = 200_000
        let x = b.addVariables("x", count: n)
        let lower = b.addGroup("lower", .nonnegative)
        let chain = b.addGroup("chain", .zero)
        for i in 0..<n {
            b.addGreaterEqual(lower, .variable(x[i]), 0)
            if i > 0 { b.addEquality(chain, LinearExpression([LinearTerm(x[i], 1), LinearTerm(x[i - 1], -1)]), 0) }
        }
        let clock = ContinuousClock()
        let start = clock.now
        let model = try b.build()
        let elapsed = clock.now - start
        #expect(model.problem.A.m == 2 * n - 1 && model.problem.A.nnz == n + 2 * (n - 1))
        #expect(elapsed < .seconds(5))
    }
}
