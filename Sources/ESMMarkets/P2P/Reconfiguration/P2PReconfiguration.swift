import ESMGrid
import ESMSolver

/// Mechanism `p2p_reconfiguration` (spec p2p_reconfiguration.md), centralized route: the joint
/// welfare problem of spec §3.4 with the operator's switches,
///
///     min  Σ_m own costs_m  +  Σ_t lossPrice_t · losses_t · Δt
///     s.t. every prosumer's block (`P2PProsumerModel`), reciprocity of trades (`BilateralTrades`),
///          the switchable SOC branch flow with exact radiality, the graph rules and the switching
///          limits (`Network.addSwitchableBranchFlow`), fed by the prosumers' physical injections,
///
/// solved to proven optimality by branch-and-bound, the radial spanning tree of each relaxation as
/// the incumbent heuristic. The bilateral prices and the operator's bus signal ν are the duals of
/// the convex problem with the switches fixed at the optimum (the market's equilibrium for that
/// topology). `options.reconfigure: false` keeps the document's line statuses. Losses are valued
/// at `substationPrice` (the energy the operator buys for them), else at `buyPrice`.
enum P2PReconfiguration {
    static func clear(_ problem: Problem, control: SolveControl) throws -> MarketResult {
        guard let network = problem.network else {
            throw InputError.invalid("network", "p2p_reconfiguration clears over a feeder: missing \"network\"")
        }
        guard let grid = problem.grid else { throw InputError.invalid("grid", "p2p_reconfiguration needs \"grid\"") }
        for (j, who) in problem.prosumers.enumerated() where who.bus == nil {
            throw InputError.invalid("prosumers[\(j)].bus", "missing required key \"bus\": p2p_reconfiguration attaches every prosumer to a bus")
        }
        var result = MarketResult(mechanism: .p2pReconfiguration, status: .solved, algorithm: problem.algorithm)
        guard problem.algorithm == "centralized" else {
            throw InputError.unsupported("options.algorithm", "p2p_reconfiguration's two_tier route is not implemented yet in this version; use \"centralized\"")
        }
        let periods = problem.periods
        let people = problem.prosumers
        let graph: SwitchingGraph
        do {
            graph = try SwitchingGraph(network: network, allLinesSwitchable: problem.options.allLinesSwitchable)
        } catch {
            throw InputError.invalid("network.lines", "no radial configuration of the lines exists: \(error)")
        }
        if control.stopsAtStart(#"{"event":"start","mechanism":"p2p_reconfiguration","prosumers":\#(people.count),"periods":\#(periods)}"#, &result) {
            return result
        }
        let joint = try Assembly(problem, network: network, grid: grid, graph: graph)
        let periodsIndependent = periods > 1 && problem.options.reconfigure && people.allSatisfy { $0.storage == nil }
        var search: TopologySearch?
        var seeds: [[[Bool]]] = []
        if periodsIndependent {
            // Each period on its own first: exact when their topologies meet the switching limits.
            var closed: [[Bool]] = [], nodes = 0, bound = 0.0, gap = 0.0
            for t in 0..<periods {
                let one = slice(problem, period: t)
                let part = try Assembly(one, network: one.network ?? network, grid: one.grid ?? grid, graph: graph)
                    .search(problem: one, control: control, seeds: [])
                nodes += part.nodes
                guard part.status == .optimal, let topology = part.closed.first else {
                    search = part
                    if part.hasIncumbent || part.status == .infeasible { search?.message = "period \(t): " + part.message }
                    break
                }
                closed.append(topology)
                bound += part.bestBound
                gap = max(gap, part.relativeGap)
            }
            if search == nil && closed.count == periods {
                if operations(closed) <= (problem.options.maxSwitchingOperations ?? Int.max) {
                    search = TopologySearch(closed: closed, status: .optimal, relativeGap: gap, bestBound: bound, nodes: nodes,
                                            message: "periods solved separately; their topologies meet the switching limits")
                } else {
                    seeds = [closed]
                }
            } else if let failed = search, failed.status == .infeasible {
                search = TopologySearch(closed: [], status: .infeasible, relativeGap: 0, bestBound: 0, nodes: nodes, message: failed.message)
            } else if let failed = search, failed.status == .interrupted || failed.status == .timeLimit {
                // The caller stopped the search, or its time is up: no joint search after it.
                search = TopologySearch(closed: [], status: failed.status, relativeGap: 0, bestBound: 0, nodes: nodes,
                                        message: failed.message.isEmpty ? "stopped in period \(closed.count)" : failed.message)
            } else {
                search = nil
            }
        }
        let found = try search ?? joint.search(problem: problem, control: control, seeds: seeds)
        result.iterations = found.nodes
        guard found.hasIncumbent else {
            result.status = found.status == .infeasible ? .infeasible : found.status == .interrupted ? .interrupted
                : found.status == .timeLimit ? .timeLimit : .iterationLimit
            result.message = found.status == .infeasible
                ? "no radial topology meets every voltage and thermal limit with the market's balances (\(found.message))"
                : "the topology search stopped without any radial operating point: \(found.message)"
            if found.status == .infeasible { result.diagnosis = [("constraint", "network")] }
            return result
        }
        let closed = found.closed
        let units = joint.units, trading = joint.trading, market = joint.market, blocks = joint.blocks
        let trades = joint.trades, flow = joint.flow, builder = joint.builder

        // Prices: the convex problem with the switches at the optimum.
        var priced = builder
        let statusRows = priced.addGroup("chosen switch statuses", .zero)
        for t in 0..<periods {
            for (k, a) in flow.alpha[t].enumerated() where a >= 0 {
                priced.addEquality(statusRows, .variable(a), closed[t][k] ? 1 : 0)
            }
        }
        let pricedModel = try priced.build()
        var pricedProblem = pricedModel.problem
        pricedProblem.integers = []
        let solution = SocialOptimum.solve(pricedProblem, options: problem.options, control: SolveControl(deadline: control.deadline),
                                           mechanism: .p2pReconfiguration)
        guard solution.status.hasSolution else {
            result.status = .numericalError
            result.message = "the market could not be priced on the chosen topology: \(solution.status.rawValue)"
            return result
        }
        ReconfigurationReport.fill(&result, problem: problem, units: units, trading: trading, market: market, blocks: blocks,
                                   trades: trades, flow: flow, closed: closed, x: solution.x, y: solution.y,
                                   model: pricedModel, search: found)
        _ = control.report(#"{"event":"done","mechanism":"p2p_reconfiguration","nodes":\#(found.nodes)}"#)
        return result
    }

    /// The joint problem of `problem`: prosumer blocks, reciprocity, the switchable network, the
    /// loss cost, and (without reconfiguration) the document's statuses fixed.
    struct Assembly {
        var units: P2PUnits
        var trading: TradingGraph
        var market: P2PProsumerModel
        var builder: ConicBuilder
        var blocks: [P2PProsumerBlock]
        var trades: BilateralTrades
        var flow: SwitchableBranchFlowModel

        init(_ problem: Problem, network: Network, grid: GridTariff, graph: SwitchingGraph) throws {
            let periods = problem.periods
            let people = problem.prosumers
            let units = scaling(problem, grid: grid, network: network)
            let trading = TradingGraph(prosumers: people)
            let market = P2PProsumerModel(periods: periods, units: units, grid: grid, graph: trading, prosumers: people)

            // The joint problem.
            var builder = ConicBuilder()
            let groups = P2PProsumerModel.Groups(in: &builder)
            let blocks = people.indices.map { market.add($0, people[$0], to: &builder, groups: groups) }
            let trades = BilateralTrades(graph: trading, blocks: blocks, periods: periods, to: &builder)
            var injections: [BusInjections] = []
            var capacity = 0.0
            for t in 0..<periods {
                var active = [LinearExpression](repeating: .zero, count: network.buses.count)
                var reactive = active
                for (j, who) in people.enumerated() {
                    guard let bus = who.bus else { continue }
                    active[bus].add(blocks[j].withdrawalKW(who, period: t, units: units), times: -1)
                    reactive[bus].constant -= who.qLoadKVAr[t]
                }
                injections.append(BusInjections(activeKW: active, reactiveKVAr: reactive))
            }
            for who in people {
                var worst = 0.0
                for t in 0..<periods {
                    worst = max(worst, who.loadKW[t] + who.pvKW[t] + (who.flex.map { max(abs($0.minKW[t]), abs($0.maxKW[t])) } ?? 0)
                                    + (who.storage.map { $0.chargeMaxKW + $0.dischargeMaxKW } ?? 0) + abs(who.qLoadKVAr[t]))
                }
                capacity += worst
            }
            // Big-M of unrated lines: no flow exceeds the passive demand plus every prosumer's range.
            var passivePeak = 0.0
            for t in 0..<periods {
                var total = 0.0
                for bus in network.buses {
                    let p = bus.pLoadKW.isEmpty ? 0 : bus.pLoadKW[min(t, bus.pLoadKW.count - 1)]
                    let q = bus.qLoadKVAr.isEmpty ? 0 : bus.qLoadKVAr[min(t, bus.qLoadKVAr.count - 1)]
                    total += abs(p) + abs(q) + bus.shuntKVA
                }
                passivePeak = max(passivePeak, total)
            }
            capacity = 1.5 * (capacity + passivePeak)
            var switching = SwitchableBranchFlowOptions()
            switching.switchingBudget = problem.options.maxSwitchingOperations
            let flow = try network.addSwitchableBranchFlow(to: &builder, graph: graph, periods: periods, injections: injections,
                                                           flowBoundKVA: capacity, options: switching)
            let fixedGroup = builder.addGroup("fixed switch statuses", .zero)
            if !problem.options.reconfigure {
                for t in 0..<periods {
                    for (k, a) in flow.alpha[t].enumerated() where a >= 0 {
                        builder.addEquality(fixedGroup, .variable(a), network.lines[k].closed ? 1 : 0)
                    }
                }
            }
            for t in 0..<periods {
                let price = grid.substationPrice?[t] ?? grid.buyPrice[t]
                builder.addLinearCost(flow.lossKW(period: t).scaled(by: units.linear(price) / units.baseKVA))
            }

            self.units = units
            self.trading = trading
            self.market = market
            self.builder = builder
            self.blocks = blocks
            self.trades = trades
            self.flow = flow
        }

        /// Branch-and-bound over the switches, the radial spanning tree of each relaxation (and
        /// `seeds`, whole topologies) offered as incumbents.
        func search(problem: Problem, control: SolveControl, seeds: [[[Bool]]]) throws -> TopologySearch {
            let built = try builder.build()
            var settings = BranchAndBoundSettings()
            settings.relativeGap = max(10 * problem.options.tolerance, 1e-9)
            if let limit = problem.options.timeLimitSeconds { settings.timeLimitSeconds = limit }
            if let deadline = control.deadline { settings.timeLimitSeconds = min(settings.timeLimitSeconds, max(0, deadline - monotonicSeconds())) }
            if let nodes = problem.options.maxIterations { settings.maxNodes = nodes }
            let flow = self.flow
            let seeded = seeds.filter { $0.count == flow.periods }.map { flow.assignment(closed: $0) }
            let heuristic = IncumbentHeuristic { x in seeded + flow.radialAssignments(relaxation: x) }
            let found = solveMixedInteger(built.problem, settings: settings, heuristic: heuristic) { progress in
                control.report(#"{"event":"node","mechanism":"p2p_reconfiguration","nodes":\#(progress.nodes),"bestBound":\#(GameResult.finite(progress.bestBound)),"incumbent":\#(GameResult.finite(progress.incumbentObjective))}"#)
            }
            // The bound in currency (the objective is in units of costScale · baseKVA).
            let bound = (found.bestBound + built.objectiveConstant) * units.costScale * units.baseKVA
            return TopologySearch(closed: found.hasIncumbent ? flow.closedLines(x: found.x) : [], status: found.status,
                                  relativeGap: found.hasIncumbent ? found.gap / max(1, abs(found.objective)) : 0,
                                  bestBound: bound, nodes: found.nodes, message: found.message)
        }
    }

    /// Power base from the feeder's and prosumers' size; cost scale from the largest price.
    static func scaling(_ problem: Problem, grid: GridTariff, network: Network) -> P2PUnits {
        var demand = 0.0, scale = 0.0
        for t in 0..<problem.periods {
            var total = 0.0
            for bus in network.buses { total += abs(bus.pLoadKW.isEmpty ? 0 : bus.pLoadKW[min(t, bus.pLoadKW.count - 1)]) }
            for who in problem.prosumers { total += who.loadKW[t] + who.pvKW[t] }
            demand = max(demand, total)
            scale = max(scale, grid.buyPrice[t], grid.sellPrice[t], abs(grid.substationPrice?[t] ?? 0))
        }
        return P2PUnits(baseKVA: Feeder.chooseBaseKVA(demand), costScale: scale, periodHours: problem.periodHours)
    }
}
