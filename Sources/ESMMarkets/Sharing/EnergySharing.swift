import ESMGrid

/// Mechanism `energy_sharing` (spec/mechanisms/energy_sharing.md): one community's sharing market,
/// cleared exactly by `CommunityMarket` or, as the reference, by the equivalent convex QP.
enum EnergySharing {
    static func clear(_ problem: Problem, control: SolveControl) throws -> MarketResult {
        try validate(problem)
        guard let grid = problem.grid else { throw InputError.invalid("grid", "energy_sharing needs grid prices") }
        let community = problem.communities[0]
        let algorithm = problem.algorithm
        let periods = problem.periods
        let n = problem.prosumers.count
        var result = MarketResult(mechanism: .energySharing, status: .solved, algorithm: algorithm)
        if control.stopsAtStart(#"{"event":"start","mechanism":"energy_sharing","prosumers":\#(n)}"#, &result) { return result }

        var columns = ProsumerColumns(count: n * periods)
        var price = [Double](), exports = [Double](), intercepts = [Double]()
        var socialCost = [Double](), prosumerCost = [Double](), noSharingCost = [Double]()
        var residual = 0.0
        var iterations = 0
        var solverStatus = ResultStatus.solved
        for t in 0..<periods {
            let band = RetailBand(sell: grid.sellPrice[t], buy: grid.buyPrice[t])
            let participants = problem.prosumers.map { participant(of: $0, period: t) }
            let clearing: CommunityMarket.Clearing = community.intercept.map { .intercept($0[t]) } ?? .balanced
            let market = CommunityMarket(participants: participants, sensitivity: community.sensitivity, band: band,
                                         clearing: clearing, priceTaking: problem.options.priceTaking)
            let equilibrium: CommunityMarket.Equilibrium
            if algorithm == "centralized" {
                let reference = try EnergySharingQP(market: market, tolerance: problem.options.tolerance,
                                                    timeLimit: problem.options.timeLimitSeconds).solve()
                equilibrium = reference.equilibrium
                iterations += reference.iterations
                if reference.status != .solved { solverStatus = reference.status }
            } else {
                equilibrium = market.solve()
                iterations += equilibrium.evaluations
            }
            price.append(equilibrium.price)
            exports.append(equilibrium.exportKW)
            intercepts.append(equilibrium.price + community.sensitivity * equilibrium.exportKW)
            var social = 0.0, total = 0.0, standalone = 0.0
            for j in 0..<n {
                let who = participants[j], d = equilibrium.decisions[j]
                let physical = who.physicalCost(d, band: band)
                let alone = who.standaloneCost(band: band)
                let payment = -equilibrium.price * d.sharedExportKW
                columns.set(j * periods + t, decision: d, netImport: who.demand - d.flexKW,
                            cost: physical + payment, payment: payment, standalone: alone)
                social += physical
                total += physical + payment
                standalone += alone
            }
            socialCost.append(social)
            prosumerCost.append(total)
            noSharingCost.append(standalone)
            residual = max(residual, market.equilibriumResidual(price: equilibrium.price, decisions: equilibrium.decisions))
        }

        result.status = solverStatus
        if solverStatus != .solved { result.message = "the reference QP ended with status \(solverStatus.rawValue)" }
        result.iterations = iterations
        result.objective = [
            ("socialCost", .perPeriod(socialCost)),
            ("prosumerCost", .perPeriod(prosumerCost)),
            ("noSharingCost", .perPeriod(noSharingCost)),
        ]
        var prosumers = ResultTable(ids: problem.prosumers.map(\.id), periods: periods)
        columns.write(into: &prosumers)
        var communities = ResultTable(ids: [community.id], periods: periods)
        communities.addColumn("price", price)
        communities.addColumn("unclearedExportKW", exports)
        communities.addColumn("intercept", intercepts)
        result.tables = [("prosumers", prosumers), ("communities", communities)]
        result.quality = [("equilibriumResidual", residual)]
        if problem.options.exportCurves {
            result.fields.append(("exportCurves", CommunityExportCurves.report(
                problem, grid: grid, members: [Array(problem.prosumers.indices)], priceTaking: problem.options.priceTaking)))
        }
        _ = control.report(#"{"event":"done","mechanism":"energy_sharing","iterations":\#(iterations)}"#)
        return result
    }

    /// The mechanism's own requirements beyond the generic document checks.
    static func validate(_ problem: Problem) throws {
        guard problem.communities.count == 1 else {
            throw InputError.invalid("communities", "energy_sharing clears exactly one community; \(problem.communities.count) given")
        }
        guard problem.communities[0].sensitivity > 0 else {
            throw InputError.invalid("communities[0].sensitivity",
                                     "energy_sharing needs a positive sensitivity; got \(describeNumber(problem.communities[0].sensitivity))")
        }
        for (j, prosumer) in problem.prosumers.enumerated() {
            if prosumer.storage != nil {
                throw InputError.unsupported("prosumers[\(j)].storage", "energy_sharing has no storage model; use p2p_online")
            }
            if problem.options.priceTaking, let flex = prosumer.flex {
                for t in 0..<problem.periods where flex.costA[t] <= 0 && flex.maxKW[t] > flex.minKW[t] {
                    throw InputError.invalid("prosumers[\(j)].flex.costA",
                                             "priceTaking needs costA > 0 (a unique response); got \(describeNumber(flex.costA[t]))")
                }
            }
        }
    }

    static func participant(of prosumer: Prosumer, period t: Int) -> SharingParticipant {
        let demand = prosumer.loadKW[t] - prosumer.pvKW[t]
        guard let flex = prosumer.flex else { return SharingParticipant(c: 0, b: 0, pMin: 0, pMax: 0, demand: demand) }
        return SharingParticipant(c: flex.costA[t], b: flex.costB[t], pMin: flex.minKW[t], pMax: flex.maxKW[t], demand: demand)
    }
}

/// Per-prosumer result columns of a sharing market, filled period by period.
struct ProsumerColumns {
    var netImport, flex, shared, gridBuy, gridSell, cost, payment, marginalValue, standalone: [Double]

    init(count: Int) {
        let zeros = [Double](repeating: 0, count: count)
        (netImport, flex, shared, gridBuy, gridSell, cost, payment, marginalValue, standalone) =
            (zeros, zeros, zeros, zeros, zeros, zeros, zeros, zeros, zeros)
    }

    mutating func set(_ k: Int, decision d: SharingDecision, netImport net: Double, cost c: Double,
                      payment pay: Double, standalone alone: Double) {
        netImport[k] = net
        flex[k] = d.flexKW
        shared[k] = d.sharedExportKW
        gridBuy[k] = d.gridBuyKW
        gridSell[k] = d.gridSellKW
        cost[k] = c
        payment[k] = pay
        marginalValue[k] = d.marginalValue
        standalone[k] = alone
    }

    func write(into table: inout ResultTable) {
        table.addColumn("netImportKW", netImport)
        table.addColumn("flexKW", flex)
        table.addColumn("sharedExportKW", shared)
        table.addColumn("gridBuyKW", gridBuy)
        table.addColumn("gridSellKW", gridSell)
        table.addColumn("cost", cost)
        table.addColumn("payment", payment)
        table.addColumn("marginalValue", marginalValue)
        table.addColumn("standaloneCost", standalone)
    }
}

extension CommunityMarket {
    /// Largest violation of the equilibrium conditions (two_layer.md §3.4) at a given point, as
    /// the natural (projection) residual of each prosumer's KKT system: with the marginal value
    /// `ν = price − a·x` (`price` when price-taking), production must satisfy
    /// `p = clip(p − (b + c·p − ν), pMin, pMax)`, grid purchase `u = max(u − (buy − ν), 0)`, grid
    /// sale `v = max(v − (ν − sell), 0)`, plus the balance (kW) and the community's clearing
    /// rule. Zero exactly at an equilibrium; small at an approximate one.
    public func equilibriumResidual(price w: Double, decisions: [SharingDecision]) -> Double {
        var worst = 0.0
        var exports = 0.0
        for (who, d) in zip(participants, decisions) {
            exports += d.sharedExportKW
            let nu = priceTaking ? w : w - sensitivity * d.sharedExportKW
            let balance = who.demand + d.sharedExportKW + d.gridSellKW - d.flexKW - d.gridBuyKW
            let p = d.flexKW, u = d.gridBuyKW, v = d.gridSellKW
            let production = abs(p - min(max(p - (who.b + who.c * p - nu), who.pMin), who.pMax))
            let purchase = abs(u - max(u - (band.buy - nu), 0))
            let sale = abs(v - max(v - (nu - band.sell), 0))
            worst = max(worst, abs(balance), production, purchase, sale)
        }
        switch clearing {
        case .balanced: worst = max(worst, abs(exports))
        case .intercept(let w0): worst = max(worst, abs(w - (w0 - sensitivity * exports)))
        }
        return worst.isFinite ? worst : Double.greatestFiniteMagnitude
    }
}
