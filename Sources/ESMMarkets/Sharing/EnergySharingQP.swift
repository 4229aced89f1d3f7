import ESMGrid
import ESMSolver

/// The convex QP whose solution is a community's equilibrium (two_layer.md §3.4, the potential of
/// the sharing game), solved with the project's conic solver: the `centralized` reference that the
/// exact breakpoint method is tested against.
///
/// Variables per prosumer `j`: production `p`, shared export `x`, grid purchase `u`, grid sale `v`
/// (columns 4j … 4j+3), and for an uncleared community its total export `X` (last column).
/// min Σ c/2 p² + b p + buy·u − sell·v + a/2 Σ x² [− intercept·X + a/2 X²]
/// s.t. −p + x − u + v = −demand (balance, dual = marginal value), Σx = 0 or X − Σx = 0,
///      pMin ≤ p ≤ pMax, u, v ≥ 0.
struct EnergySharingQP {
    let market: CommunityMarket
    let tolerance: Double
    let timeLimit: Double?

    struct Solution {
        var equilibrium: CommunityMarket.Equilibrium
        var status: ResultStatus
        var iterations: Int
    }

    func conicProblem() -> ConicProblem {
        let people = market.participants
        let n = people.count
        let a = market.sensitivity
        let uncleared: Double? = { if case .intercept(let w0) = market.clearing { return w0 } else { return nil } }()
        let columns = 4 * n + (uncleared == nil ? 0 : 1)
        let couplingRow = n
        let boundRow = { (j: Int) in n + 1 + 4 * j }

        var q = [Double](repeating: 0, count: columns)
        var pDiagonal = [Double](repeating: 0, count: columns)
        var b = [Double](repeating: 0, count: n + 1 + 4 * n)
        var colptr = [0], rowval = [Int](), nzval = [Double]()
        colptr.reserveCapacity(columns + 1)
        rowval.reserveCapacity(9 * n + 1)
        nzval.reserveCapacity(9 * n + 1)
        func column(_ entries: [(Int, Double)]) {
            for (row, value) in entries {
                rowval.append(row)
                nzval.append(value)
            }
            colptr.append(rowval.count)
        }
        for (j, who) in people.enumerated() {
            let r = boundRow(j)
            pDiagonal[4 * j] = who.c
            q[4 * j] = who.b
            pDiagonal[4 * j + 1] = market.priceTaking ? 0 : a
            q[4 * j + 2] = market.band.buy
            q[4 * j + 3] = -market.band.sell
            b[j] = -who.demand
            b[r] = who.pMax
            b[r + 1] = -who.pMin
            column([(j, -1), (r, 1), (r + 1, -1)])                   // p
            column([(j, 1), (couplingRow, uncleared == nil ? 1 : -1)]) // x
            column([(j, -1), (r + 2, -1)])                           // u (grid purchase)
            column([(j, 1), (r + 3, -1)])                            // v (grid sale)
        }
        if let w0 = uncleared {
            q[4 * n] = -w0
            pDiagonal[4 * n] = a
            column([(couplingRow, 1)])
        }
        let A = SparseMatrixCSC(m: b.count, n: columns, colptr: colptr, rowval: rowval, nzval: nzval)
        var pColptr = [0], pRows = [Int](), pValues = [Double]()
        for k in 0..<columns {
            if pDiagonal[k] != 0 {
                pRows.append(k)
                pValues.append(pDiagonal[k])
            }
            pColptr.append(pRows.count)
        }
        let P = SparseMatrixCSC(m: columns, n: columns, colptr: pColptr, rowval: pRows, nzval: pValues)
        return ConicProblem(P: P, q: q, A: A, b: b, cones: [.zero(n + 1), .nonnegative(4 * n)])
    }

    /// Reads the equilibrium off a primal–dual solution of `conicProblem()`.
    func equilibrium(x: [Double], y: [Double]) -> CommunityMarket.Equilibrium {
        let n = market.participants.count
        var decisions: [SharingDecision] = []
        decisions.reserveCapacity(n)
        var exports = 0.0
        for j in 0..<n {
            let d = SharingDecision(marginalValue: y[j], flexKW: x[4 * j], sharedExportKW: x[4 * j + 1],
                                    gridBuyKW: max(x[4 * j + 2], 0), gridSellKW: max(x[4 * j + 3], 0))
            exports += d.sharedExportKW
            decisions.append(d)
        }
        let price: Double
        switch market.clearing {
        case .balanced:
            price = -y[n]
            exports = 0
        case .intercept(let w0):
            exports = x[4 * n]
            price = w0 - market.sensitivity * exports
        }
        return CommunityMarket.Equilibrium(price: price, exportKW: exports, decisions: decisions, evaluations: 0)
    }
}

extension EnergySharingQP {
    /// Solves the QP with the interior-point solver, then polishes it on its active set
    /// (`polishSolution`): an interior point only approaches the kinks where a prosumer's
    /// production or grid trade switches, the polished point sits on them. The solver's gap
    /// tolerance is 1e-2 of the caller's (relative to the whole problem, whose cost grows with
    /// the number of prosumers), enough to identify the active set.
    func solve() throws -> Solution {
        var settings = SolverSettings()
        let internalTolerance = max(tolerance * 1e-2, 1e-12)
        settings.gapAbsTolerance = internalTolerance
        settings.gapRelTolerance = internalTolerance
        settings.feasibilityTolerance = internalTolerance
        if let timeLimit { settings.timeLimitSeconds = timeLimit }
        let problem = conicProblem()
        let raw = solveConic(problem, settings: settings)
        let solution = polishSolution(problem, raw) ?? raw
        let status = ResultStatus(solution.status).forMarket
        return Solution(equilibrium: equilibrium(x: solution.x, y: solution.y), status: status,
                        iterations: solution.iterations)
    }
}
