import ESMGrid

/// Mechanism `two_layer` (spec/mechanisms/two_layer.md): community markets (LAMs) that may stay
/// uncleared, and a wide-area market (WAM) that clears their surpluses over the feeder's
/// linearized radial flows, limiting only the flows that sharing between communities causes
/// (§3.8, choice A5). Coupling per community: Mode A (its price is the locational price,
/// default) or Mode B (its intercept is). Algorithms: `direct` (exact, `WideAreaMarket` over the
/// communities' export curves), `bidding` (the paper's hierarchical price iteration,
/// `TwoLayerBidding`), `centralized` ((EQ) with every prosumer, `TwoLayerEquilibriumQP`).
enum TwoLayer {
    /// One period of the two-layer market, ready to clear.
    struct Instance {
        var markets: [CommunityMarket]
        var modes: [Community.Mode]
        var buses: [Int]
        var members: [[Int]]
        var tree: RadialTree
        var exportLimits: [ClosedRange<Double>?]

        /// Each community's export as a function of the locational price it is offered.
        func curves() -> [ResponseCurve] {
            markets.indices.map { i in
                modes[i] == .lamPriceEqualsDLMP ? markets[i].exportCurveAtPrice() : markets[i].exportCurveAtIntercept()
            }
        }

        /// What each community does when offered the locational price `upper`.
        func respond(_ i: Int, upperPrice upper: Double) -> CommunityMarket.Equilibrium {
            let market = markets[i]
            if modes[i] == .lamPriceEqualsDLMP {
                let decisions = market.participants.map { $0.strategicResponse(price: upper, impact: market.sensitivity, band: market.band) }
                return CommunityMarket.Equilibrium(price: upper, exportKW: decisions.reduce(0) { $0 + $1.sharedExportKW },
                                                   decisions: decisions, evaluations: 0)
            }
            var uncleared = market
            uncleared.clearing = .intercept(upper)
            return uncleared.solve()
        }
    }

    /// The outcome of one period.
    struct Outcome {
        var upperPrices: [Double]
        var equilibria: [CommunityMarket.Equilibrium]
        var busPrices: [Double]
        var congestionPrices: [Double]
        var iterations: Int
        var status: ResultStatus = .solved
        var message = ""
    }

    static func clear(_ problem: Problem, control: SolveControl) throws -> MarketResult {
        let (network, tree, grid) = try validate(problem)
        let algorithm = problem.algorithm
        var result = MarketResult(mechanism: .twoLayer, status: .solved, algorithm: algorithm)
        if control.stopsAtStart(#"{"event":"start","mechanism":"two_layer","prosumers":\#(problem.prosumers.count)}"#, &result) { return result }
        let periods = problem.periods
        let members = membersOfCommunities(problem)
        let n = problem.prosumers.count, k = problem.communities.count
        var columns = ProsumerColumns(count: n * periods)
        let communityColumnNames = ["price", "upperPrice", "intercept", "unclearedExportKW", "injectionKW", "operatorSurplus"]
        var communityColumns = [[Double]](repeating: [Double](repeating: 0, count: k * periods), count: communityColumnNames.count)
        var busPrice = [Double](repeating: 0, count: network.buses.count * periods)
        var lineFlow = [Double](repeating: 0, count: network.lines.count * periods)
        var lineCongestion = [Double](repeating: 0, count: network.lines.count * periods)
        var objectives = [String: [Double]]()
        var residual = 0.0
        var iterations = 0

        for t in 0..<periods {
            let band = RetailBand(sell: grid.sellPrice[t], buy: grid.buyPrice[t])
            let instance = Self.instance(problem, period: t, network: network, tree: tree, grid: grid)
            let markets = instance.markets
            let exportLimits = instance.exportLimits
            let outcome: Outcome
            switch algorithm {
            case "centralized": outcome = try centralized(instance, tolerance: problem.options.tolerance)
            case "bidding": outcome = try TwoLayerBidding(instance: instance, options: problem.options, control: control).run()
            default: outcome = try direct(instance)
            }
            iterations += outcome.iterations
            if outcome.status != .solved {
                result.status = outcome.status
                result.message = outcome.message
            }

            // Prosumers and communities.
            var social = 0.0, exportsAtBus = [Double](repeating: 0, count: network.buses.count)
            for i in 0..<k {
                let eq = outcome.equilibria[i]
                let market = markets[i]
                var injection = 0.0
                for (position, j) in members[i].enumerated() {
                    let who = market.participants[position], d = eq.decisions[position]
                    let physical = who.physicalCost(d, band: band)
                    let payment = -eq.price * d.sharedExportKW
                    columns.set(j * periods + t, decision: d, netImport: who.demand - d.flexKW, cost: physical + payment,
                                payment: payment, standalone: who.standaloneCost(band: band))
                    social += physical
                    injection += d.flexKW - who.demand
                }
                let row = i * periods + t
                let values = [eq.price, outcome.upperPrices[i], eq.price + market.sensitivity * eq.exportKW, eq.exportKW,
                              injection, (outcome.upperPrices[i] - eq.price) * eq.exportKW]
                for (column, value) in values.enumerated() { communityColumns[column][row] = value }
                exportsAtBus[instance.buses[i]] += eq.exportKW
                // The community's own equilibrium at the intercept it faces, and the coupling
                // rule: its price is the upper price (Mode A) or its intercept is (Mode B).
                var facing = market
                facing.clearing = .intercept(eq.price + market.sensitivity * eq.exportKW)
                residual = max(residual, facing.equilibriumResidual(price: eq.price, decisions: eq.decisions))
                let coupled = instance.modes[i] == .lamPriceEqualsDLMP ? eq.price : eq.price + market.sensitivity * eq.exportKW
                residual = max(residual, abs(coupled - outcome.upperPrices[i]))
            }
            // Sharing-induced line flows: minus the subtree's export, in each line's orientation.
            let subtree = tree.subtreeSums(exportsAtBus)
            var wamSurplus = 0.0
            for i in 0..<k { wamSurplus -= outcome.upperPrices[i] * outcome.equilibria[i].exportKW }
            for bus in tree.order where tree.parent[bus] >= 0 {
                let line = tree.parentLine[bus]
                let downstream = -subtree[bus]
                lineFlow[line * periods + t] = tree.parentLineForward[bus] ? downstream : -downstream
                lineCongestion[line * periods + t] = outcome.congestionPrices[line]
                if let range = exportLimits[line] {
                    residual = max(residual, subtree[bus] - range.upperBound, range.lowerBound - subtree[bus])
                }
            }
            residual = max(residual, abs(subtree[tree.root]))
            for bus in 0..<network.buses.count { busPrice[bus * periods + t] = outcome.busPrices[bus] }

            // The four benchmarks of §3.10.
            let noSharing = markets.reduce(0.0) { total, market in
                total + market.participants.reduce(0.0) { $0 + $1.standaloneCost(band: band) }
            }
            let lamOnly = markets.reduce(0.0) { total, market in
                let eq = market.solve()
                return total + zip(market.participants, eq.decisions).reduce(0.0) { $0 + $1.0.physicalCost($1.1, band: band) }
            }
            let optimum = try socialOptimumCost(instance)
            objectives["socialCost", default: []].append(social)
            objectives["noSharingCost", default: []].append(noSharing)
            objectives["lamOnlyCost", default: []].append(lamOnly)
            objectives["twoLayerCost", default: []].append(social)
            objectives["socialOptimumCost", default: []].append(optimum)
            objectives["efficiencyGap", default: []].append(optimum != 0 ? (social - optimum) / abs(optimum) : 0)
            objectives["wamSurplus", default: []].append(wamSurplus)
        }

        result.iterations = iterations
        result.objective = ["socialCost", "noSharingCost", "lamOnlyCost", "twoLayerCost", "socialOptimumCost",
                            "efficiencyGap", "wamSurplus"].map { ($0, .perPeriod(objectives[$0] ?? [])) }
        var prosumers = ResultTable(ids: problem.prosumers.map(\.id), periods: periods)
        columns.write(into: &prosumers)
        var communities = ResultTable(ids: problem.communities.map(\.id), periods: periods)
        communities.addTextColumn("bus", problem.communities.map { c in c.bus.map { network.buses[$0].id } ?? "" })
        communities.addTextColumn("mode", problem.communities.map(\.mode.rawValue))
        for (name, values) in zip(communityColumnNames, communityColumns) { communities.addColumn(name, values) }
        var buses = ResultTable(ids: network.buses.map(\.id), periods: periods)
        buses.addColumn("price", busPrice)
        var lines = ResultTable(ids: network.lines.map(\.id), periods: periods)
        lines.addFlagColumn("closed", network.lines.map(\.closed))
        lines.addColumn("pKW", lineFlow)
        lines.addColumn("congestionPrice", lineCongestion)
        lines.addColumn("limitKW", network.lines.map { $0.rateKVA ?? -1 }.flatMap { [Double](repeating: $0, count: periods) })
        result.tables = [("prosumers", prosumers), ("communities", communities), ("buses", buses), ("lines", lines)]
        result.quality = [("equilibriumResidual", residual)]
        if problem.options.exportCurves {
            result.fields.append(("exportCurves", CommunityExportCurves.report(
                problem, grid: grid, members: membersOfCommunities(problem), priceTaking: false)))
        }
        _ = control.report(#"{"event":"done","mechanism":"two_layer","iterations":\#(iterations)}"#)
        return result
    }

    static func membersOfCommunities(_ problem: Problem) -> [[Int]] {
        var members = [[Int]](repeating: [], count: problem.communities.count)
        for (j, prosumer) in problem.prosumers.enumerated() { members[prosumer.community ?? 0].append(j) }
        return members
    }

    /// Period `t` of a validated problem as communities on the feeder. A line's `rateKVA` limits
    /// the sharing-induced flow on it (kW, either direction).
    static func instance(_ problem: Problem, period t: Int, network: Network, tree: RadialTree, grid: GridTariff) -> Instance {
        let band = RetailBand(sell: grid.sellPrice[t], buy: grid.buyPrice[t])
        let members = membersOfCommunities(problem)
        let markets = problem.communities.enumerated().map { i, community in
            CommunityMarket(participants: members[i].map { EnergySharing.participant(of: problem.prosumers[$0], period: t) },
                            sensitivity: community.sensitivity, band: band, clearing: .balanced, priceTaking: false)
        }
        return Instance(markets: markets, modes: problem.communities.map(\.mode),
                        buses: problem.communities.map { $0.bus ?? tree.root }, members: members, tree: tree,
                        exportLimits: network.lines.map { line in line.rateKVA.map { -$0...$0 } })
    }

    static func validate(_ problem: Problem) throws -> (Network, RadialTree, GridTariff) {
        guard let network = problem.network, let tree = problem.tree else {
            throw InputError.invalid("network", "two_layer clears over a feeder")
        }
        guard let grid = problem.grid else { throw InputError.invalid("grid", "two_layer needs grid prices") }
        // `network.model` is not read: two_layer's network is always the linearized sharing flow
        // of its spec (the built-in feeders say "socp" for the AC mechanisms).
        guard !problem.communities.isEmpty else { throw InputError.invalid("communities", "two_layer needs at least one community") }
        for (i, community) in problem.communities.enumerated() where community.sensitivity <= 0 {
            throw InputError.invalid("communities[\(i)].sensitivity", "two_layer needs a positive sensitivity; got \(describeNumber(community.sensitivity))")
        }
        for (j, prosumer) in problem.prosumers.enumerated() {
            if prosumer.storage != nil {
                throw InputError.unsupported("prosumers[\(j)].storage", "two_layer has no storage model; use p2p_online")
            }
            if prosumer.bus != nil, let community = prosumer.community, prosumer.bus != problem.communities[community].bus {
                // The spec places each community at one bus: its members inject there.
                throw InputError.invalid("prosumers[\(j)].bus", "a prosumer of a two_layer community sits at its community's bus \"\(problem.communities[community].bus.map { network.buses[$0].id } ?? "")\"")
            }
        }
        return (network, tree, grid)
    }

    /// `direct`: the exact equilibrium from the communities' export curves.
    static func direct(_ instance: Instance) throws -> Outcome {
        let market = WideAreaMarket(tree: instance.tree, exportLimits: instance.exportLimits,
                                    curves: instance.curves(), buses: instance.buses)
        guard let clearing = market.clear() else {
            return Outcome(upperPrices: [], equilibria: [], busPrices: [], congestionPrices: [], iterations: 0,
                           status: .infeasible, message: "no price balances the wide-area market within the line limits")
        }
        let upper = instance.buses.map { clearing.busPrices[$0] }
        let equilibria = upper.indices.map { instance.respond($0, upperPrice: upper[$0]) }
        return Outcome(upperPrices: upper, equilibria: equilibria, busPrices: clearing.busPrices,
                       congestionPrices: clearing.congestionPrices, iterations: 1)
    }

    /// `centralized`: (EQ) with every prosumer's variables on the interior-point solver.
    static func centralized(_ instance: Instance, tolerance: Double) throws -> Outcome {
        let qp = TwoLayerEquilibriumQP(communities: instance.markets, modes: instance.modes, buses: instance.buses,
                                       tree: instance.tree, exportLimits: instance.exportLimits, tolerance: tolerance)
        let solution = try qp.solve()
        var upper: [Double] = []
        var equilibria: [CommunityMarket.Equilibrium] = []
        for i in instance.markets.indices {
            let price = solution.prices[i], export = solution.exports[i]
            upper.append(instance.modes[i] == .lamPriceEqualsDLMP ? price : price + instance.markets[i].sensitivity * export)
            equilibria.append(CommunityMarket.Equilibrium(price: price, exportKW: export, decisions: solution.decisions[i], evaluations: 0))
        }
        // Bus prices: each community's upper price where there is one; elsewhere the nearest one above.
        let (busPrices, congestion) = pricesAlongTheFeeder(instance, upperPrices: upper)
        return Outcome(upperPrices: upper, equilibria: equilibria, busPrices: busPrices, congestionPrices: congestion,
                       iterations: solution.iterations, status: solution.status,
                       message: solution.status == .solved ? "" : "the interior-point solver ended with \(solution.status.rawValue)")
    }

    /// Bus prices and line congestion prices implied by the communities' upper prices: a bus
    /// takes the price of the communities below it (they agree within an uncongested subtree), else
    /// its parent's.
    static func pricesAlongTheFeeder(_ instance: Instance, upperPrices: [Double]) -> ([Double], [Double]) {
        let tree = instance.tree
        let busCount = tree.parent.count
        var known = [Double?](repeating: nil, count: busCount)
        for (i, bus) in instance.buses.enumerated() { known[bus] = upperPrices[i] }
        // Upwards: a bus without a community takes a price from below if all paths agree.
        for bus in tree.order.reversed() where tree.parent[bus] >= 0 {
            let parent = tree.parent[bus]
            if known[parent] == nil, let price = known[bus], instance.exportLimits[tree.parentLine[bus]] == nil {
                known[parent] = price
            }
        }
        var prices = [Double](repeating: known[tree.root] ?? upperPrices.first ?? 0, count: busCount)
        var congestion = [Double](repeating: 0, count: instance.exportLimits.count)
        for bus in tree.order where tree.parent[bus] >= 0 {
            prices[bus] = known[bus] ?? prices[tree.parent[bus]]
            congestion[tree.parentLine[bus]] = prices[bus] - prices[tree.parent[bus]]
        }
        return (prices, congestion)
    }

    /// The social optimum from (SO) with every prosumer on the interior-point solver.
    static func socialOptimumCostByQP(_ instance: Instance) throws -> Double {
        var qp = TwoLayerEquilibriumQP(communities: instance.markets, modes: instance.modes, buses: instance.buses,
                                       tree: instance.tree, exportLimits: instance.exportLimits)
        qp.marketPower = false
        let solution = try qp.solve()
        return solution.decisions.indices.reduce(0.0) { total, i in
            total + zip(instance.markets[i].participants, solution.decisions[i]).reduce(0.0) { $0 + $1.0.physicalCost($1.1, band: instance.markets[i].band) }
        }
    }

    /// The social optimum (§3.10): exact from price-taking export curves when every flexible
    /// prosumer has a strictly convex cost, else from the QP without market power.
    static func socialOptimumCost(_ instance: Instance) throws -> Double {
        let strictlyConvex = instance.markets.allSatisfy { $0.participants.allSatisfy { $0.c > 0 || $0.pMax == $0.pMin } }
        guard strictlyConvex else { return try socialOptimumCostByQP(instance) }
        // Exact prices from the price-taking export curves; the cost from strong duality (the
        // dual function at those prices), which needs no split of grid trades among prosumers.
        guard let band = instance.markets.first?.band else { return 0 }
        let curves = instance.markets.map { market in
            ResponseCurve.sum(market.participants.map { $0.priceTakingCurve(band: market.band) })
        }
        let market = WideAreaMarket(tree: instance.tree, exportLimits: instance.exportLimits, curves: curves,
                                    buses: instance.buses, priceBand: band.sell...band.buy)
        guard let clearing = market.clear() else { return .nan }
        var cost = 0.0
        for (i, community) in instance.markets.enumerated() {
            let price = clearing.busPrices[instance.buses[i]]
            cost += community.participants.reduce(0.0) { $0 + $1.dualValue(price: price) }
        }
        for (line, adder) in clearing.congestionPrices.enumerated() where adder != 0 {
            guard let range = instance.exportLimits[line] else { continue }
            cost += adder > 0 ? adder * range.lowerBound : adder * range.upperBound
        }
        return cost
    }
}
