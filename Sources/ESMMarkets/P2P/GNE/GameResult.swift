import ESMSolver

/// The result document of p2p_gne (README, "p2p_gne results"): tables per prosumer, trade, bus and
/// line; the objective; and the quality figures of the spec's invariants, each measured on the
/// reported numbers.
enum GameResult {
    static func fill(_ result: inout MarketResult, setup: GameSetup, outcome o: GameOutcome,
                     reference: GameOutcome? = nil, control: SolveControl) throws {
        let periods = setup.periods
        let people = setup.problem.prosumers
        let h = setup.units.periodHours
        let m = people.count

        // Per prosumer and period.
        var cost = [Double](repeating: 0, count: m * periods)
        var tradePayment = cost, netImport = cost, bought = cost
        for i in 0..<m {
            for t in 0..<periods {
                let k = i * periods + t
                cost[k] = GameReport.playerCost(setup, o, prosumer: i, period: t)
                var pay = 0.0, volume = 0.0
                for end in setup.graph.ends[i] {
                    let tr = GameReport.tradeKW(setup, o, end: end, period: t)
                    volume += tr
                    pay += o.tradePrice[end.edge * periods + t] * tr * h
                }
                bought[k] = volume
                tradePayment[k] = finite(pay)
                netImport[k] = people[i].loadKW[t] - people[i].pvKW[t] - o.flexKW[k] - o.dischargeKW[k] + o.chargeKW[k]
            }
        }
        var prosumers = ResultTable(ids: people.map(\.id), periods: periods)
        prosumers.addColumn("netImportKW", netImport)
        prosumers.addColumn("flexKW", o.flexKW)
        prosumers.addColumn("chargeKW", o.chargeKW)
        prosumers.addColumn("dischargeKW", o.dischargeKW)
        prosumers.addColumn("socKWh", o.socKWh)
        prosumers.addColumn("gridBuyKW", o.importKW)
        prosumers.addColumn("gridSellKW", o.exportKW)
        prosumers.addColumn("tradeKW", bought)
        prosumers.addColumn("cost", cost)
        prosumers.addColumn("tradePayment", tradePayment)
        prosumers.addColumn("settledCost", zip(cost, tradePayment).map { finite($0 + $1) })

        // Standalone: the same game with no trades, for individual rationality.
        var messages: [String] = result.message.isEmpty ? [] : [result.message]
        var standaloneSocial: Double?
        if setup.graph.edges.isEmpty {
            prosumers.addColumn("standaloneCost", cost)
            standaloneSocial = cost.reduce(0, +)
        } else {
            var alone = setup.problem
            for j in alone.prosumers.indices {
                alone.prosumers[j].peers = []
                alone.prosumers[j].peerTerms = []
            }
            let aloneSetup: GameSetup?
            do {
                aloneSetup = try GameSetup(alone)
            } catch let infeasible as GameInfeasible {
                aloneSetup = nil
                messages.append("no standalone outcome (\(infeasible.message)): standaloneCost is not reported")
            }
            let solved = try aloneSetup.map { try GamePotential($0).solve(control: SolveControl(deadline: control.deadline)) }
            if let aloneSetup, let solved, let a = solved.outcome, solved.status == .solved {
                var standalone = [Double](repeating: 0, count: m * periods)
                for i in 0..<m {
                    for t in 0..<periods { standalone[i * periods + t] = GameReport.playerCost(aloneSetup, a, prosumer: i, period: t) }
                }
                prosumers.addColumn("standaloneCost", standalone)
                standaloneSocial = standalone.reduce(0, +)
            } else if let solved {
                messages.append("no standalone outcome (without trades the market is \(solved.status.rawValue)): standaloneCost is not reported")
            }
        }

        // Trades: one row per edge, `kW` delivered from `from` to `to` (negative: the other way).
        var tradeTable = ResultTable(ids: setup.graph.edges.map { _ in "" }, periods: periods)
        tradeTable.idKey = nil
        tradeTable.addTextColumn("from", setup.graph.edges.map { people[$0.a].id })
        tradeTable.addTextColumn("to", setup.graph.edges.map { people[$0.b].id })
        tradeTable.addColumn("kW", o.tradeBKW)
        tradeTable.addColumn("price", o.tradePrice)
        tradeTable.addColumn("reciprocityResidualKW", zip(o.tradeAKW, o.tradeBKW).map { finite($0 + $1) })

        let network = setup.network
        var buses = ResultTable(ids: network.buses.map(\.id), periods: periods)
        buses.addColumn("vPu", o.vPu)
        if setup.model == .linearAngle { buses.addColumn("angleDeg", o.angleDeg) }
        buses.addColumn("price", o.busPrice)
        var lines = ResultTable(ids: network.lines.map(\.id), periods: periods)
        lines.addColumn("pKW", o.linePKW)
        lines.addColumn("qKVAr", o.lineQKVAr)
        lines.addColumn("ratingPrice", o.lineRatingPrice)
        lines.addFlagColumn("closed", network.lines.map(\.closed))
        result.tables = [("prosumers", prosumers), ("trades", tradeTable), ("buses", buses), ("lines", lines)]

        // Per period: the grid price and the draw.
        let gridPrice = (0..<periods).map { setup.importPrice(sigmaKW: o.sigmaKW[$0], period: $0) }
        let social = cost.reduce(0, +)
        var gridCost = 0.0, traded = 0.0
        for i in 0..<m {
            for t in 0..<periods {
                let k = i * periods + t
                gridCost += h * (gridPrice[t] * o.importKW[k] - setup.grid.sellPrice[t] * o.exportKW[k])
            }
        }
        for k in o.tradeBKW.indices { traded += abs(o.tradeBKW[k]) * h }
        result.objective = [("socialCost", .number(finite(social))), ("potential", .number(finite(o.potential))),
                            ("gridCost", .number(finite(gridCost))), ("tradedKWh", .number(finite(traded)))]
        if let standaloneSocial { result.objective.append(("standaloneCost", .number(finite(standaloneSocial)))) }
        result.fields = [("gridPrice", .perPeriod(gridPrice.map(finite))),
                         ("gridDrawKW", .perPeriod((0..<periods).map { finite(o.sigmaKW[$0] + setup.passiveKW[$0]) }))]

        let r = GameReport.residuals(setup, o)
        var quality: [(String, Double)] = [
            ("primalResidual", finite(o.primalResidual)), ("dualResidual", finite(o.dualResidual)),
            ("reciprocityResidualKW", r.reciprocityKW), ("balanceResidualKW", r.balanceKW),
            ("busBalanceResidualKW", r.busBalanceKW), ("storageResidualKWh", r.storageKWh),
            ("drawBoundViolationKW", max(0, r.drawBoundKW)), ("simultaneousChargeKW", r.simultaneousChargeKW),
        ]
        if setup.problem.options.verifyEquilibrium {
            if let check = bestResponse(setup, o) {
                quality.append(("equilibriumResidual", check.gap))
                quality.append(("bestResponseDistanceKW", check.distanceKW))
            } else {
                messages.append("the priced best responses could not be computed: equilibriumResidual is not reported")
            }
        }
        if let c = reference {
            // Φ is the same at every equilibrium; decisions and prices may differ only on flat optima.
            quality.append(("potentialGap", abs(o.potential - c.potential) / (1 + abs(c.potential))))
            func distance(_ a: [Double], _ b: [Double]) -> Double {
                zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
            }
            quality.append(("distanceToCentralizedKW", max(distance(o.flexKW, c.flexKW), distance(o.importKW, c.importKW),
                                                           distance(o.chargeKW, c.chargeKW), distance(o.dischargeKW, c.dischargeKW),
                                                           distance(o.tradeBKW, c.tradeBKW))))
            quality.append(("priceDistanceToCentralized", max(distance(o.tradePrice, c.tradePrice), distance(o.busPrice, c.busPrice))))
        }
        result.quality = quality
        result.iterations = o.iterations
        result.message = messages.joined(separator: "; ")
    }

    /// Invariant 7: each prosumer's own problem re-solved alone at the outcome's prices. Returns
    /// the largest suboptimality of its reported decision in that priced problem (currency,
    /// relative to 1 + |best cost|: 0 at an equilibrium, whatever ties the player has) and the
    /// largest distance (kW) between its decision and the re-solved one (0 only where the
    /// player's best response is unique). nil when some player's problem could not be solved.
    static func bestResponse(_ setup: GameSetup, _ o: GameOutcome) -> (gap: Double, distanceKW: Double)? {
        let found = parallelMap(setup.problem.prosumers.count, threads: setup.problem.options.threads) { i -> (Double, Double)? in
            guard let player = try? PlayerProblem(setup, prosumer: i) else { return nil }
            var problem = player.built.problem
            problem.q = player.linearCost(player.signals(at: o), center: nil)
            var settings = SocialOptimum.settings(tolerance: 1e-11)
            settings.maxIterations = 300
            let solution = solveConic(problem, settings: settings)
            guard solution.status.hasSolution else { return nil }
            let reported = player.vector(from: o)
            let best = objective(problem, solution.x)
            let gap = max(0, objective(problem, reported) - best) / (1 + abs(best))
            return (gap, player.distanceKW(solution.x, o))
        }
        var gap = 0.0, distance = 0.0
        for item in found {
            guard let (g, d) = item, g.isFinite, d.isFinite else { return nil }
            gap = max(gap, g)
            distance = max(distance, d)
        }
        return (gap, distance)
    }

    /// ½xᵀPx + qᵀx (P stored upper triangular).
    static func objective(_ problem: ConicProblem, _ x: [Double]) -> Double {
        var value = 0.0
        for (j, c) in problem.q.enumerated() where j < x.count { value += c * x[j] }
        if let P = problem.P {
            for j in 0..<P.n where j < x.count {
                for k in P.colptr[j]..<P.colptr[j + 1] {
                    let i = P.rowval[k]
                    guard i < x.count else { continue }
                    value += (i == j ? 0.5 : 1) * P.nzval[k] * x[i] * x[j]
                }
            }
        }
        return value
    }

    static func finite(_ v: Double) -> Double { v.isFinite ? v : 0 }
}
