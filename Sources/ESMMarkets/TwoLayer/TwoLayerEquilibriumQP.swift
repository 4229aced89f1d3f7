import ESMGrid
import ESMSolver

/// The equivalent convex problem (EQ) of the two-layer equilibrium (two_layer.md §3.8) with every
/// prosumer's variables, solved by the project's interior-point solver: the `centralized`
/// reference of `two_layer`. With `marketPower: false` it is the social optimum (SO, §3.10).
///
/// min Σ_j c/2 p² + b p + buy·u − sell·v  [+ Σ_i a_i/2 Σ_j x_j²  + Σ_{i in Mode B} a_i/2 X_i²]
/// s.t. p + u − v − x = demand (dual: marginal value ν_j), Σ_{j∈i} x_j − X_i = 0 (dual: the
///      community's price), Σ_i X_i = 0, the export of every rated line's subtree within its range,
///      pMin ≤ p ≤ pMax, u, v ≥ 0.
struct TwoLayerEquilibriumQP {
    var communities: [CommunityMarket]
    var modes: [Community.Mode]
    var buses: [Int]
    var tree: RadialTree
    var exportLimits: [ClosedRange<Double>?]
    var marketPower = true
    var tolerance = 1e-8

    struct Solution {
        var status: ResultStatus
        var iterations: Int
        /// Per community: its price ϖ_i, its export X_i and its prosumers' decisions.
        var prices: [Double]
        var exports: [Double]
        var decisions: [[SharingDecision]]
        var objective: Double
    }

    func solve() throws -> Solution {
        var builder = ConicBuilder()
        let balance = builder.addGroup("prosumer balance", .zero)
        let lam = builder.addGroup("community balance", .zero)
        let wam = builder.addGroup("wide-area balance", .zero)
        let limits = builder.addGroup("line limits", .nonnegative)
        let bounds = builder.addGroup("bounds", .nonnegative)
        var blocks: [VariableBlock] = []
        var exportVariables: [Int] = []
        for (i, market) in communities.enumerated() {
            let n = market.participants.count
            let block = builder.addVariables("community \(i) prosumers", count: 4 * n)
            let exportVariable = builder.addVariable("community \(i) export")
            blocks.append(block)
            exportVariables.append(exportVariable)
            var members = LinearExpression.variable(exportVariable, -1)
            for (j, who) in market.participants.enumerated() {
                let p = block[4 * j], x = block[4 * j + 1], u = block[4 * j + 2], v = block[4 * j + 3]
                builder.addEquality(balance, LinearExpression([LinearTerm(p, 1), LinearTerm(u, 1), LinearTerm(v, -1), LinearTerm(x, -1)]), who.demand)
                members.add(x, 1)
                builder.addLessEqual(bounds, .variable(p), who.pMax)
                builder.addGreaterEqual(bounds, .variable(p), who.pMin)
                builder.addGreaterEqual(bounds, .variable(u), 0)
                builder.addGreaterEqual(bounds, .variable(v), 0)
                if who.c > 0 { builder.addQuadraticCost(p, who.c) }
                builder.addLinearCost(p, who.b)
                builder.addLinearCost(u, market.band.buy)
                builder.addLinearCost(v, -market.band.sell)
                if marketPower { builder.addQuadraticCost(x, market.sensitivity) }
            }
            builder.addEquality(lam, members, 0)
            if marketPower && modes[i] == .interceptEqualsDLMP { builder.addQuadraticCost(exportVariable, market.sensitivity) }
        }
        builder.addEquality(wam, LinearExpression(exportVariables.map { LinearTerm($0, 1) }), 0)
        // Subtree exports below every rated line.
        var below = [[Int]](repeating: [], count: tree.parent.count)
        for (i, bus) in buses.enumerated() { below[bus].append(i) }
        var subtreeMembers = below
        for bus in tree.order.reversed() where tree.parent[bus] >= 0 {
            subtreeMembers[tree.parent[bus]] += subtreeMembers[bus]
        }
        for bus in tree.order where tree.parent[bus] >= 0 {
            guard let range = exportLimits[tree.parentLine[bus]], !subtreeMembers[bus].isEmpty else { continue }
            let export = LinearExpression(subtreeMembers[bus].map { LinearTerm(exportVariables[$0], 1) })
            builder.addLessEqual(limits, export, range.upperBound)
            builder.addGreaterEqual(limits, export, range.lowerBound)
        }
        let model = try builder.build()
        var settings = SolverSettings()
        // As for energy_sharing's reference: the solver's gaps are relative to the whole problem.
        let internalTolerance = max(tolerance * 1e-2, 1e-12)
        settings.gapAbsTolerance = internalTolerance
        settings.gapRelTolerance = internalTolerance
        settings.feasibilityTolerance = internalTolerance
        // Polished on its active set, as energy_sharing's reference (`polishSolution`).
        let raw = solveConic(model.problem, settings: settings)
        let solution = polishSolution(model.problem, raw) ?? raw
        let status = ResultStatus(solution.status).forMarket
        let lamDuals = Array(model.values(of: lam, in: solution.y))
        let balanceDuals = Array(model.values(of: balance, in: solution.y))
        var prices: [Double] = [], exports: [Double] = [], decisions: [[SharingDecision]] = []
        var offset = 0
        for (i, market) in communities.enumerated() {
            let x = solution.x
            let block = blocks[i]
            decisions.append(market.participants.indices.map { j in
                SharingDecision(marginalValue: balanceDuals[offset + j], flexKW: x[block[4 * j]],
                                sharedExportKW: x[block[4 * j + 1]], gridBuyKW: max(x[block[4 * j + 2]], 0),
                                gridSellKW: max(x[block[4 * j + 3]], 0))
            })
            offset += market.participants.count
            prices.append(lamDuals[i])
            exports.append(x[exportVariables[i]])
        }
        return Solution(status: status, iterations: solution.iterations, prices: prices, exports: exports,
                        decisions: decisions, objective: solution.objective + model.objectiveConstant)
    }
}
