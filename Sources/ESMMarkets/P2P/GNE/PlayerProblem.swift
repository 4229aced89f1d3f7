import ESMSolver

/// Prosumer i's own problem in p2p_gne when the others' decisions and the shared prices are fixed
/// (spec §4.3 step 1 and invariant 7):
///
///     min  own costs(ξ) + Δt Σ_t [ μ_t·p_t (each trade) + π_t·η_t (its bus) + (λ⁺_t − λ⁻_t)·g_t
///                                   + grid(g_t) ]  + ½ ‖ξ − center‖²_W
///
/// over its local set, where grid(g) = d(σ_−i + b + g)·g (Nash: it sees its own effect on the price)
/// or d(σ + b)·g (Wardrop, σ as last seen), and the proximal term (weights W on flex, charge,
/// discharge, import, export and trades) is what the proximal-point algorithm adds. Set up once;
/// every new set of prices changes only the linear cost (`ConicSolver.update(q:)`).
struct PlayerProblem {
    let i: Int
    let block: P2PProsumerBlock
    let built: ConicModel
    let baseQ: [Double]
    /// Proximal weight of each variable (0 where there is none), in the scaled objective.
    let weight: [Double]
    let setup: GameSetup

    /// Kinds of proximal weight, per unit.
    struct Weights {
        var flex = 0.0, storage = 0.0, grid = 0.0, trade = 0.0
    }

    init(_ setup: GameSetup, prosumer i: Int, weights: Weights = Weights()) throws {
        self.setup = setup
        self.i = i
        var builder = ConicBuilder()
        let groups = P2PProsumerModel.Groups(in: &builder)
        let block = setup.prosumerModel.add(i, setup.problem.prosumers[i], to: &builder, groups: groups)
        var weight = [Double](repeating: 0, count: builder.variableCount)
        func prox(_ v: Int, _ w: Double) {
            guard v >= 0, w > 0 else { return }
            builder.addQuadraticCost(v, w)
            weight[v] += w
        }
        for t in 0..<setup.periods {
            prox(block.flex[t], weights.flex)
            if let s = block.storage {
                prox(s.charge[t], weights.storage)
                prox(s.discharge[t], weights.storage)
            }
            prox(block.gridImport[t], weights.grid)
            prox(block.gridExport[t], weights.grid)
            for p in block.trade { prox(p[t], weights.trade) }
            // Nash: the player's own share of the price's slope, d g² (the potential's ½ d g² is half of it).
            if setup.nash && setup.slope[t] != 0 {
                builder.addQuadraticCost(block.gridImport[t], 2 * setup.units.quadratic(setup.slope[t]))
            }
        }
        self.block = block
        self.built = try builder.build()
        self.baseQ = built.problem.q
        self.weight = weight
    }

    /// Prices and the rest of the market as the player sees them (kW, currency per kWh).
    struct Signals {
        /// [end][t]: the bilateral price of each of its trades.
        var tradePrice: [[Double]]
        /// Per period: the price of withdrawing at its bus.
        var busPrice: [Double]
        /// Per period: upper minus lower draw-bound multiplier.
        var drawPrice: [Double]
        /// Per period: the others' total import (Nash) or everybody's (Wardrop), kW.
        var sigmaKW: [Double]
    }

    /// The linear cost for `signals`, with the proximal center `center` (per unit, the player's
    /// previous decision; nil: no proximal term).
    func linearCost(_ signals: Signals, center: [Double]?) -> [Double] {
        var q = baseQ
        let units = setup.units
        func add(_ v: Int, _ c: Double) { if v >= 0 && v < q.count { q[v] += c } }
        for t in 0..<setup.periods {
            let bus = units.linear(signals.busPrice[t])
            // η = load − pv − f + c − e.
            add(block.flex[t], -bus)
            if let s = block.storage {
                add(s.charge[t], bus)
                add(s.discharge[t], -bus)
            }
            let d = setup.slope[t]
            add(block.gridImport[t], units.linear(signals.drawPrice[t] + d * (signals.sigmaKW[t] + setup.passiveKW[t])))
            for (e, p) in block.trade.enumerated() where e < signals.tradePrice.count {
                add(p[t], units.linear(signals.tradePrice[e][t]))
            }
        }
        if let center {
            for v in q.indices where weight[v] != 0 && v < center.count { q[v] -= weight[v] * center[v] }
        }
        return q
    }

    /// The player's decision vector (per unit) from an outcome, in this problem's variable order.
    func vector(from o: GameOutcome) -> [Double] {
        var x = [Double](repeating: 0, count: baseQ.count)
        let units = setup.units
        let periods = setup.periods
        func put(_ v: Int, _ kW: Double) { if v >= 0 && v < x.count { x[v] = units.pu(kW) } }
        for t in 0..<periods {
            let k = i * periods + t
            put(block.flex[t], o.flexKW[k])
            if let s = block.storage {
                put(s.charge[t], o.chargeKW[k])
                put(s.discharge[t], o.dischargeKW[k])
                put(s.soc[t], o.socKWh[k] / units.periodHours)
            }
            put(block.gridImport[t], o.importKW[k])
            put(block.gridExport[t], o.exportKW[k])
            for (e, end) in setup.graph.ends[i].enumerated() where e < block.trade.count {
                let tr = GameReport.tradeKW(setup, o, end: end, period: t)
                put(block.trade[e][t], tr)
                if block.tradeAbs[e][t] >= 0 { put(block.tradeAbs[e][t], abs(tr)) }
            }
        }
        return x
    }

    /// The signals player i sees at an outcome.
    func signals(at o: GameOutcome) -> Signals {
        let periods = setup.periods
        var tradePrice: [[Double]] = []
        for end in setup.graph.ends[i] {
            tradePrice.append((0..<periods).map { o.tradePrice[end.edge * periods + $0] })
        }
        let bus = setup.problem.prosumers[i].bus ?? 0
        var sigma = o.sigmaKW
        if setup.nash { for t in 0..<periods { sigma[t] -= o.importKW[i * periods + t] } }
        return Signals(tradePrice: tradePrice,
                       busPrice: (0..<periods).map { o.busPrice[bus * periods + $0] },
                       drawPrice: (0..<periods).map { o.drawUpperPrice[$0] - o.drawLowerPrice[$0] },
                       sigmaKW: sigma)
    }

    /// Largest difference (kW) between the player's decision in `x` (per unit) and in `o`, over
    /// the decisions the market sees (flex, storage power, grid, trades).
    func distanceKW(_ x: [Double], _ o: GameOutcome) -> Double {
        let reference = vector(from: o)
        var worst = 0.0
        for t in 0..<setup.periods {
            var vars = [block.flex[t], block.gridImport[t], block.gridExport[t]]
            if let s = block.storage { vars += [s.charge[t], s.discharge[t]] }
            for p in block.trade { vars.append(p[t]) }
            for v in vars where v >= 0 && v < x.count && v < reference.count {
                worst = max(worst, abs(x[v] - reference[v]))
            }
        }
        return setup.units.kW(worst)
    }
}
