import ESMGrid
import ESMSolver

/// The result document of p2p_reconfiguration (README, "p2p_reconfiguration results"), measured
/// on the reported numbers: per period the topology and its AC power flow, the market's
/// dispatch and bilateral prices, the operator's bus signal, and the losses the same market
/// outcome would cause on the document's own topology.
enum ReconfigurationReport {
    static func fill(_ result: inout MarketResult, problem: Problem, units: P2PUnits, trading: TradingGraph,
                     market: P2PProsumerModel, blocks: [P2PProsumerBlock], trades: BilateralTrades,
                     flow: SwitchableBranchFlowModel, closed: [[Bool]], x: [Double], y: [Double],
                     model: ConicModel, search: TopologySearch) {
        guard let network = problem.network, let grid = problem.grid else { return }
        let periods = problem.periods
        let people = problem.prosumers
        let m = people.count
        func kW(_ v: Int) -> Double { v >= 0 && v < x.count ? units.kW(x[v]) : 0 }

        // Market.
        let names = ["netImportKW", "flexKW", "chargeKW", "dischargeKW", "socKWh", "gridBuyKW", "gridSellKW", "tradeKW", "cost"]
        var values = [[Double]](repeating: [Double](repeating: 0, count: m * periods), count: names.count)
        for (i, who) in people.enumerated() {
            let ends = i < trading.ends.count ? trading.ends[i] : []
            for t in 0..<periods {
                let d = blocks[i].dispatch(x: x, period: t, units: units)
                let cost = market.ownCost(who, flexKW: d.flexKW, chargeKW: d.chargeKW, dischargeKW: d.dischargeKW,
                                          tradeKW: d.tradeKW, ends: ends, importKW: d.importKW, exportKW: d.exportKW,
                                          importPrice: grid.buyPrice[t], period: t)
                let row = [who.loadKW[t] - who.pvKW[t] - d.flexKW + d.chargeKW - d.dischargeKW, d.flexKW, d.chargeKW,
                           d.dischargeKW, d.socKWh, d.importKW, d.exportKW, d.tradeKW.reduce(0, +), cost]
                for (c, v) in row.enumerated() { values[c][i * periods + t] = GameResult.finite(v) }
            }
        }
        var prosumers = ResultTable(ids: people.map(\.id), periods: periods)
        for (c, name) in names.enumerated() { prosumers.addColumn(name, values[c]) }
        let prices = trades.prices(y: y, model: model, units: units)
        var tradeTable = ResultTable(ids: trading.edges.map { _ in "" }, periods: periods)
        tradeTable.idKey = nil
        tradeTable.addTextColumn("from", trading.edges.map { people[$0.a].id })
        tradeTable.addTextColumn("to", trading.edges.map { people[$0.b].id })
        var delivered = [Double](), residual = [Double]()
        var reciprocity = 0.0
        for (e, edge) in trading.edges.enumerated() {
            let slot = trading.slots[e]
            for t in 0..<periods {
                let a = kW(blocks[edge.a].trade[slot.a][t]), b = kW(blocks[edge.b].trade[slot.b][t])
                delivered.append(b)
                residual.append(a + b)
                reciprocity = max(reciprocity, abs(a + b))
            }
        }
        tradeTable.addColumn("kW", delivered)
        tradeTable.addColumn("price", prices.count == delivered.count ? prices : [Double](repeating: 0, count: delivered.count))
        tradeTable.addColumn("reciprocityResidualKW", residual)

        // Network, per period.
        let n = network.buses.count, lines = network.lines.count
        var vPu = [Double](repeating: 0, count: n * periods), vAc = vPu, signal = vPu
        var pKW = [Double](repeating: 0, count: lines * periods), qKVAr = pKW, inService = pKW
        var losses: [Double] = [], baseLosses: [Double] = []
        var openLines: [ResultValue] = []
        var acError = 0.0, gapMax = 0.0, operations = 0
        var notes: [String] = []
        for t in 0..<periods {
            var injectionKW = [Double](repeating: 0, count: n), injectionKVAr = injectionKW
            for (j, who) in people.enumerated() {
                guard let bus = who.bus else { continue }
                injectionKW[bus] -= blocks[j].withdrawalKW(who, period: t, units: units).value(at: x)
                injectionKVAr[bus] -= who.qLoadKVAr[t]
            }
            let period = network.verify(model: flow, closed: closed[t], period: t, x: x, kW: injectionKW, kVAr: injectionKVAr)
            losses.append(period.lossKW)
            acError = max(acError, period.acVoltageErrorMaxPu)
            gapMax = max(gapMax, period.relaxationGapMaxPu)
            if period.powerFlow?.converged != true { notes.append("period \(t): the AC power flow of the chosen topology did not converge") }
            openLines.append(.list(period.openLines.map { .text(network.lines[$0].id) }))
            if t > 0 { operations += zip(closed[t], closed[t - 1]).filter { $0 != $1 }.count }
            let duals = flow.activeBalance.count > t ? model.values(of: flow.activeBalance[t], in: y) : []
            for bus in 0..<n {
                vPu[bus * periods + t] = period.vPu[bus]
                vAc[bus * periods + t] = period.powerFlow?.vPu[bus] ?? 0
                let d = bus < duals.count ? duals[duals.startIndex + bus] : 0
                // The switchable model's balance reads "injection − outflow": its dual is the value of
                // one more kW injected, the opposite of the cost of one more kW withdrawn.
                signal[bus * periods + t] = units.pricePerKWh(-d * units.baseKVA / flow.baseKVA)
            }
            for k in 0..<lines {
                pKW[k * periods + t] = period.pKW[k]
                qKVAr[k * periods + t] = period.qKVAr[k]
                inService[k * periods + t] = closed[t][k] ? 1 : 0
            }
            // Invariant 6: the same injections on the document's own topology.
            if case .success(let tree) = RadialTree.build(busCount: n, lines: network.lines, root: network.substation),
               let feeder = try? Feeder(network: network, tree: tree, period: t) {
                let ac = feeder.powerFlow(injectionKW: injectionKW, injectionKVAr: injectionKVAr)
                baseLosses.append(ac.converged ? ac.totalLossKW : .nan)
            } else {
                baseLosses.append(.nan)
            }
        }
        var buses = ResultTable(ids: network.buses.map(\.id), periods: periods)
        buses.addColumn("vPu", vPu)
        buses.addColumn("vAcPu", vAc)
        buses.addColumn("price", signal)
        var lineTable = ResultTable(ids: network.lines.map(\.id), periods: periods)
        lineTable.addColumn("pKW", pKW)
        lineTable.addColumn("qKVAr", qKVAr)
        lineTable.addColumn("inService", inService)
        result.tables = [("prosumers", prosumers), ("trades", tradeTable), ("buses", buses), ("lines", lineTable)]

        let cost = (values.last ?? []).reduce(0, +)
        var lossCost = 0.0
        for t in 0..<periods { lossCost += (grid.substationPrice?[t] ?? grid.buyPrice[t]) * losses[t] * units.periodHours }
        result.objective = [("socialCost", .number(GameResult.finite(cost + lossCost))), ("prosumerCost", .number(GameResult.finite(cost))),
                            ("lossCost", .number(GameResult.finite(lossCost))), ("lossesKW", .perPeriod(losses.map(GameResult.finite)))]
        if baseLosses.allSatisfy(\.isFinite) {
            result.objective.append(("baseTopologyLossesKW", .perPeriod(baseLosses)))
        } else {
            notes.append("the document's own topology is not radial or its AC power flow did not converge: baseTopologyLossesKW is not reported")
        }
        result.fields = [("openLines", periods == 1 ? (openLines.first ?? .list([])) : .list(openLines)),
                         ("switchOperations", .number(Double(operations)))]
        result.quality = [("optimalityGap", GameResult.finite(search.relativeGap)),
                          ("bestBound", GameResult.finite(search.bestBound)), ("nodes", Double(search.nodes)),
                          ("reciprocityResidualKW", reciprocity), ("relaxationGapMax", gapMax),
                          ("acVoltageErrorMaxPu", acError)]
        if gapMax > 1e-5 { notes.append("relaxation inexact: w·l − P² − Q² reaches \(gapMax) pu; the AC power flow of the topology is in buses[].vAcPu") }
        if search.status != .optimal { notes.append("the topology search ended with \(search.status.rawValue): \(search.message)") }
        result.status = search.status == .optimal ? .solved : search.status == .timeLimit ? .timeLimit : .iterationLimit
        result.message = notes.joined(separator: "; ")
    }
}
