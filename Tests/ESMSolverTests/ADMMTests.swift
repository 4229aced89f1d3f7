import Testing
import ESMSolver

@Test func consensusOfScalarQuadratics() {
    // fᵢ(x) = ½aᵢ(x − bᵢ)²: the consensus optimum is Σaᵢbᵢ / Σaᵢ.
    let a = [1.0, 2, 4, 0.5], b = [3.0, -1, 2, 10]
    let expected = zip(a, b).map { $0 * $1 }.reduce(0, +) / a.reduce(0, +)
    let result = consensusADMM(globalDimension: 1, agentIndices: [[0], [0], [0], [0]],
                               settings: { var s = ADMMSettings(); s.absTolerance = 1e-9; s.relTolerance = 1e-9; return s }(),
                               local: { i, v, rho in [(a[i] * b[i] + rho * v[0]) / (a[i] + rho)] })
    #expect(result.status == .converged)
    #expect(abs(result.z[0] - expected) < 1e-7)
    // multipliers: ∇fᵢ(x) + λᵢ = 0 at the optimum… and they sum to 0 (g = 0)
    let sum = result.multipliers.map { $0[0] }.reduce(0, +)
    #expect(abs(sum) < 1e-6)
    for i in 0..<4 { #expect(abs(a[i] * (result.z[0] - b[i]) + result.multipliers[i][0]) < 1e-6) }
}

@Test func consensusWithPartialCopiesAndGlobalProxMatchesIPM() {
    // Global z ∈ ℝ³, z ≥ 0 (g = indicator). Agent 0 holds (z₀, z₁): ½‖x − (1, −2)‖²;
    // agent 1 holds (z₁, z₂): ½‖x − (3, 1)‖²; agent 2 holds (z₂): (x + 1)².
    // Centralized: min ½(z₀−1)² + ½(z₁+2)² + ½(z₁−3)² + ½(z₂−1)² + (z₂+1)², z ≥ 0
    // → z₀ = 1, z₁ = 0.5, z₂ = max(0, (1 − 2)/3) = 0.
    let targets: [[Double]] = [[1, -2], [3, 1], [-1]]
    let weights: [Double] = [1, 1, 2]
    var s = ADMMSettings()
    s.absTolerance = 1e-8
    s.relTolerance = 1e-8
    let result = consensusADMM(
        globalDimension: 3, agentIndices: [[0, 1], [1, 2], [2]], settings: s,
        local: { i, v, rho in
            zip(targets[i], v).map { (weights[i] * $0 + rho * $1) / (weights[i] + rho) }
        },
        globalProx: { a, _, _ in a.map { max(0, $0) } })
    #expect(result.status == .converged)
    #expect(maxDiff(result.z, [1, 0.5, 0]) < 1e-6)
    // same problem through the IPM
    let ipm = solveConic(ConicProblem(P: upper([[1, 0, 0], [0, 2, 0], [0, 0, 3]]), q: [-1, -1, 1],
                                      A: SparseMatrixCSC(dense: [[-1, 0, 0], [0, -1, 0], [0, 0, -1]]),
                                      b: [0, 0, 0], cones: [.nonnegative(3)]))
    #expect(maxDiff(result.z, ipm.x) < 1e-6)
}

/// Quadratic-utility market: fᵢ(x) = ½aᵢx² − cᵢx, Σxᵢ = 0 ⇒ price λ = Σ(cᵢ/aᵢ)/Σ(1/aᵢ),
/// xᵢ = (cᵢ − λ)/aᵢ.
@Test func exchangeClearsAQuadraticMarket() {
    let a = [1.0, 2, 0.5, 4], c = [1.0, 3, -2, 0.5]
    let price = zip(a, c).map { $1 / $0 }.reduce(0, +) / a.map { 1 / $0 }.reduce(0, +)
    var s = ADMMSettings()
    s.absTolerance = 1e-9
    s.relTolerance = 1e-9
    let result = exchangeADMM(agents: 4, dimension: 1, settings: s,
                              local: { i, v, rho in [(c[i] + rho * v[0]) / (a[i] + rho)] })
    #expect(result.status == .converged)
    #expect(abs(result.price[0] - price) < 1e-6)
    for i in 0..<4 { #expect(abs(result.x[i][0] - (c[i] - price) / a[i]) < 1e-6) }
}

@Test func exchangeWithIPMSubproblemsMatchesCentralized() {
    // Agents with box limits lo ≤ x ≤ hi; each local step is a 1-variable QP solved by the IPM.
    let a = [1.0, 2, 0.5, 4, 1.5], c = [1.0, 3, -2, 0.5, 0.2]
    let lo = [-1.0, -0.5, -3, -1, -0.2], hi = [0.5, 2, 1, 1, 0.3]
    var s = ADMMSettings()
    s.absTolerance = 1e-7
    s.relTolerance = 1e-7
    let result = exchangeADMM(agents: 5, dimension: 1, settings: s, local: { i, v, rho in
        // min ½(a + ρ)x² − (c + ρv)x  s.t. lo ≤ x ≤ hi
        let sol = solveConic(ConicProblem(P: upper([[a[i] + rho]]), q: [-(c[i] + rho * v[0])],
                                          A: SparseMatrixCSC(dense: [[-1], [1]]), b: [-lo[i], hi[i]],
                                          cones: [.nonnegative(2)]))
        return sol.status == .solved ? sol.x : nil
    })
    #expect(result.status == .converged)
    // centralized: min Σ ½aᵢxᵢ² − cᵢxᵢ s.t. Σxᵢ = 0, lo ≤ x ≤ hi; y of Σx = 0 is the price
    var rows: [[Double]] = [[1, 1, 1, 1, 1]]
    for i in 0..<5 { var r = [Double](repeating: 0, count: 5); r[i] = -1; rows.append(r) }
    for i in 0..<5 { var r = [Double](repeating: 0, count: 5); r[i] = 1; rows.append(r) }
    let central = solveConic(ConicProblem(
        P: upper((0..<5).map { i in (0..<5).map { $0 == i ? a[i] : 0 } }), q: c.map { -$0 },
        A: SparseMatrixCSC(dense: rows), b: [0] + lo.map { -$0 } + hi, cones: [.zero(1), .nonnegative(10)]))
    #expect(central.status == .solved)
    #expect(maxDiff(result.x.map { $0[0] }, central.x) < 1e-4)
    #expect(abs(result.price[0] - central.y[0]) < 1e-4)
}

@Test func adaptivePenaltyHelpsABadStart() {
    let a = [1.0, 2, 0.5, 4], c = [1.0, 3, -2, 0.5]
    var fixed = ADMMSettings()
    fixed.rho = 1e-3
    fixed.adaptiveRho = false
    var adaptive = fixed
    adaptive.adaptiveRho = true
    let local: (Int, [Double], Double) -> [Double]? = { i, v, rho in [(c[i] + rho * v[0]) / (a[i] + rho)] }
    let slow = exchangeADMM(agents: 4, dimension: 1, settings: fixed, local: local)
    let fast = exchangeADMM(agents: 4, dimension: 1, settings: adaptive, local: local)
    #expect(fast.status == .converged)
    #expect(fast.iterations < slow.iterations)
}

@Test func admmReportsFailuresAndInterrupts() {
    let failing = exchangeADMM(agents: 2, dimension: 1, local: { _, _, _ in nil })
    #expect(failing.status == .subproblemFailed)
    let wrongLength = consensusADMM(globalDimension: 2, agentIndices: [[0, 1]], local: { _, _, _ in [1] })
    #expect(wrongLength.status == .subproblemFailed)
    let nan = consensusADMM(globalDimension: 1, agentIndices: [[0]], local: { _, _, _ in [.nan] })
    #expect(nan.status == .subproblemFailed && nan.z.allSatisfy { $0.isFinite })
    let stopped = exchangeADMM(agents: 2, dimension: 1, local: { _, v, _ in v }, onIteration: { _ in true })
    #expect(stopped.status == .interrupted && stopped.iterations == 1)
}

@Test func concurrentVariantsMatchSequential() {
    let a = (0..<12).map { 0.5 + Double($0 % 7) }, c = (0..<12).map { Double($0 % 5) - 2 }
    var s = ADMMSettings()
    s.absTolerance = 1e-9
    s.relTolerance = 1e-9
    // local steps through the IPM (a box-constrained 1-variable QP), run on several threads
    let local: @Sendable (Int, [Double], Double) -> [Double]? = { i, v, rho in
        let sol = solveConic(ConicProblem(P: upper([[a[i] + rho]]), q: [-(c[i] + rho * v[0])],
                                          A: SparseMatrixCSC(dense: [[-1], [1]]), b: [1, 1], cones: [.nonnegative(2)]))
        return sol.status == .solved ? sol.x : nil
    }
    let sequential = exchangeADMM(agents: 12, dimension: 1, settings: s, local: local)
    let concurrent = exchangeADMMConcurrent(agents: 12, dimension: 1, settings: s, local: local)
    #expect(sequential.status == .converged && concurrent.status == .converged)
    #expect(sequential.iterations == concurrent.iterations)
    #expect(abs(sequential.price[0] - concurrent.price[0]) < 1e-12)

    let b = (0..<10).map { Double($0) }
    let prox: @Sendable (Int, [Double], Double) -> [Double]? = { i, v, rho in [(b[i] + rho * v[0]) / (1 + rho)] }
    let cs = consensusADMM(globalDimension: 1, agentIndices: Array(repeating: [0], count: 10), settings: s, local: prox)
    let cc = consensusADMMConcurrent(globalDimension: 1, agentIndices: Array(repeating: [0], count: 10), settings: s,
                                     local: prox)
    #expect(cc.status == .converged && abs(cc.z[0] - 4.5) < 1e-7 && abs(cs.z[0] - cc.z[0]) < 1e-12)
    let failing = exchangeADMMConcurrent(agents: 3, dimension: 2, local: { i, v, _ in i == 1 ? nil : v })
    #expect(failing.status == .subproblemFailed)
}
