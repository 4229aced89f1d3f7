/// Turns a p2p_gne outcome into the result document (README, "p2p_gne results") and measures it:
/// costs per player, the potential, and the residuals of invariants 1–5 of the spec, computed from
/// the reported numbers themselves rather than trusted from the solver.
enum GameReport {
    /// Prosumer i's cost J_i in period t (the paper's: own costs plus the grid at the common price).
    static func playerCost(_ setup: GameSetup, _ o: GameOutcome, prosumer i: Int, period t: Int) -> Double {
        let periods = setup.periods
        let k = i * periods + t
        let who = setup.problem.prosumers[i]
        let ends = setup.graph.ends[i]
        let trades = ends.map { tradeKW(setup, o, end: $0, period: t) }
        return setup.prosumerModel.ownCost(who, flexKW: o.flexKW[k], chargeKW: o.chargeKW[k], dischargeKW: o.dischargeKW[k],
                                           tradeKW: trades, ends: ends, importKW: o.importKW[k], exportKW: o.exportKW[k],
                                           importPrice: setup.importPrice(sigmaKW: o.sigmaKW[t], period: t), period: t)
    }

    /// What the prosumer at `end` buys from its partner in period t (its own variable).
    static func tradeKW(_ setup: GameSetup, _ o: GameOutcome, end: TradingGraph.End, period t: Int) -> Double {
        let k = end.edge * setup.periods + t
        return end.isA ? o.tradeAKW[k] : o.tradeBKW[k]
    }

    /// Φ at the outcome (currency): own costs with the grid at buyPrice only, plus the aggregate
    /// terms d Δt (½σ² + bσ [+ ½Σg²]).
    static func potential(_ setup: GameSetup, _ o: GameOutcome) -> Double {
        let periods = setup.periods, h = setup.units.periodHours
        var total = 0.0
        for i in setup.problem.prosumers.indices {
            let who = setup.problem.prosumers[i]
            let ends = setup.graph.ends[i]
            for t in 0..<periods {
                let k = i * periods + t
                let trades = ends.map { tradeKW(setup, o, end: $0, period: t) }
                total += setup.prosumerModel.ownCost(who, flexKW: o.flexKW[k], chargeKW: o.chargeKW[k],
                                                     dischargeKW: o.dischargeKW[k], tradeKW: trades, ends: ends,
                                                     importKW: o.importKW[k], exportKW: o.exportKW[k],
                                                     importPrice: setup.grid.buyPrice[t], period: t)
                if setup.nash { total += 0.5 * setup.slope[t] * h * o.importKW[k] * o.importKW[k] }
            }
        }
        for t in 0..<periods {
            let s = o.sigmaKW[t]
            total += setup.slope[t] * h * (0.5 * s * s + setup.passiveKW[t] * s)
        }
        return total.isFinite ? total : 0
    }

    struct Residuals {
        var reciprocityKW = 0.0
        var balanceKW = 0.0
        var busBalanceKW = 0.0
        var storageKWh = 0.0
        var drawBoundKW = 0.0
        var simultaneousChargeKW = 0.0
    }

    /// Invariants 1–5 measured on the outcome (kW, kWh).
    static func residuals(_ setup: GameSetup, _ o: GameOutcome) -> Residuals {
        var r = Residuals()
        let periods = setup.periods
        let people = setup.problem.prosumers
        for k in o.tradeAKW.indices { r.reciprocityKW = max(r.reciprocityKW, abs(o.tradeAKW[k] + o.tradeBKW[k])) }
        var busWithdrawal = [Double](repeating: 0, count: setup.network.buses.count * periods)
        for (i, who) in people.enumerated() {
            var charge: [Double] = [], discharge: [Double] = []
            for t in 0..<periods {
                let k = i * periods + t
                var bought = 0.0
                for end in setup.graph.ends[i] { bought += tradeKW(setup, o, end: end, period: t) }
                let netDemand = who.loadKW[t] - who.pvKW[t]
                let supplied = o.flexKW[k] + o.dischargeKW[k] - o.chargeKW[k] + o.importKW[k] - o.exportKW[k] + bought
                r.balanceKW = max(r.balanceKW, abs(supplied - netDemand))
                r.simultaneousChargeKW = max(r.simultaneousChargeKW, min(o.chargeKW[k], o.dischargeKW[k]))
                if let bus = who.bus {
                    busWithdrawal[bus * periods + t] += netDemand - o.flexKW[k] - o.dischargeKW[k] + o.chargeKW[k]
                }
                charge.append(o.chargeKW[k])
                discharge.append(o.dischargeKW[k])
            }
            if let s = who.storage {
                let dynamics = StorageDynamics(s, periodHours: setup.units.periodHours)
                let x = dynamics.trajectory(chargeKW: charge, dischargeKW: discharge)
                for t in 0..<periods {
                    let reported = o.socKWh[i * periods + t]
                    r.storageKWh = max(r.storageKWh, abs(x[t] - reported))
                    let floor = t == periods - 1 ? dynamics.finalMinKWh : s.socMinKWh
                    r.storageKWh = max(r.storageKWh, floor - x[t], x[t] - s.socMaxKWh)
                }
            }
        }
        // Bus balance from the reported line flows: substation delivery and every other bus.
        let network = setup.network
        for t in 0..<periods {
            var net = [Double](repeating: 0, count: network.buses.count)
            for (b, bus) in network.buses.enumerated() {
                let load = bus.pLoadKW.isEmpty ? 0 : bus.pLoadKW[min(t, bus.pLoadKW.count - 1)]
                net[b] = load + busWithdrawal[b * periods + t]
            }
            for (k, line) in network.lines.enumerated() where line.closed {
                let f = o.linePKW[k * periods + t]
                net[line.from] += f
                net[line.to] -= f
            }
            // Every bus but the substation must net to zero; the substation's delivery is what
            // the prosumers bought minus sold plus the passive load.
            var delivered = 0.0
            for i in people.indices { delivered += o.importKW[i * periods + t] - o.exportKW[i * periods + t] }
            delivered += setup.passiveKW[t]
            for b in net.indices {
                let residual = b == network.substation ? net[b] - delivered : net[b]
                r.busBalanceKW = max(r.busBalanceKW, abs(residual))
            }
            let draw = o.sigmaKW[t] + setup.passiveKW[t]
            if let lo = setup.grid.importMinKW { r.drawBoundKW = max(r.drawBoundKW, lo[t] - draw) }
            if let hi = setup.grid.importMaxKW { r.drawBoundKW = max(r.drawBoundKW, draw - hi[t]) }
        }
        return r
    }
}
