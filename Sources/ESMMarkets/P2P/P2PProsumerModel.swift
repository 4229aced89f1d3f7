import ESMSolver

/// One prosumer of a P2P market over the horizon, as a block of a conic problem (per unit, see
/// `P2PUnits`). Its decisions per period t: flex output f_t (when it has a range), battery charge
/// c_t and discharge e_t (`StorageDynamics`), grid import g_t ≥ 0 and export w_t ≥ 0 (when the
/// grid buys), and a trade p_(i,j),t with each partner (positive: i buys from j). Its balance:
///
///     f_t + e_t − c_t + g_t − w_t + Σ_j p_(i,j),t = loadKW_t − pvKW_t,
///
/// so trades are financial and the physical withdrawal at its bus is
/// η_t = load − pv − f + c − e = g − w + Σ_j p_(i,j). Its own costs (per hour; × periodHours per
/// period): flex costA/2 f² + costB f, storage wear, on each trade the contract price on what it
/// buys, the fee on |p| (an auxiliary a ≥ ±p carries the fee) and κ/2 · p², buyPrice · g − sellPrice · w.
/// The grid price's dependence on everybody's imports (p2p_gne) is not here: the mechanism adds
/// it. The same block is the whole of a prosumer's local problem in decomposed algorithms.
public struct P2PProsumerBlock: Sendable {
    /// Per period; -1 where the output is fixed (`fixedFlexKW`).
    public var flex: [Int]
    public var fixedFlexKW: [Double]
    public var storage: StorageDynamics.Variables?
    public var gridImport: [Int]
    /// -1 where the grid does not buy.
    public var gridExport: [Int]
    /// Per period: curtailed PV (kW, pu) when the model lets PV be curtailed; -1 otherwise.
    public var curtailment: [Int] = []
    /// [end][t]: the trade with partner `ends[end]`, and its fee auxiliary (-1 without a fee).
    public var trade: [[Int]]
    public var tradeAbs: [[Int]]
    /// Row of period t in the balance group is `balanceFirstRow + t`.
    public var balanceFirstRow: Int

    /// The block's decisions in period t at a solution `x` (per unit), in kW and kWh.
    public struct Dispatch: Sendable {
        public var flexKW = 0.0, chargeKW = 0.0, dischargeKW = 0.0, socKWh = 0.0
        public var importKW = 0.0, exportKW = 0.0
        /// Per trade (in `trade`'s order): what the prosumer buys from that partner.
        public var tradeKW: [Double] = []
    }

    public func dispatch(x: [Double], period t: Int, units: P2PUnits) -> Dispatch {
        func kW(_ v: Int) -> Double { v >= 0 && v < x.count ? units.kW(x[v]) : 0 }
        var d = Dispatch()
        d.flexKW = flex[t] >= 0 ? kW(flex[t]) : fixedFlexKW[t]
        if let s = storage {
            d.chargeKW = kW(s.charge[t])
            d.dischargeKW = kW(s.discharge[t])
            d.socKWh = kW(s.soc[t]) * units.periodHours
        }
        d.importKW = kW(gridImport[t])
        d.exportKW = kW(gridExport[t])
        d.tradeKW = trade.map { kW($0[t]) }
        return d
    }

    /// Physical withdrawal η_t in kW as an affine expression of the block's variables.
    public func withdrawalKW(_ who: Prosumer, period t: Int, units: P2PUnits) -> LinearExpression {
        var e = LinearExpression(constant: who.loadKW[t] - who.pvKW[t] - fixedFlexKW[t])
        if flex[t] >= 0 { e.add(flex[t], -units.baseKVA) }
        if t < curtailment.count, curtailment[t] >= 0 { e.add(curtailment[t], units.baseKVA) }
        if let s = storage {
            e.add(s.charge[t], units.baseKVA)
            e.add(s.discharge[t], -units.baseKVA)
        }
        return e
    }
}

/// Builds `P2PProsumerBlock`s: what every P2P mechanism shares about a prosumer.
public struct P2PProsumerModel: Sendable {
    public let periods: Int
    public let units: P2PUnits
    public let grid: GridTariff
    public let graph: TradingGraph
    /// Bound on a trade without a limit of its own, kW: the market's gross power, which no
    /// trade of a cycle-free optimum exceeds (keeps the problem bounded when fees are zero).
    public let defaultTradeBoundKW: Double
    /// Whether PV may be curtailed (0 ≤ curtailed ≤ pvKW; p2p_online, where the network can
    /// force it). Off: PV is fixed.
    public var curtailablePV = false
    /// Whether the batteries' state-of-charge bounds are imposed (`StorageDynamics.add`).
    public var socBounds = true

    public init(periods: Int, units: P2PUnits, grid: GridTariff, graph: TradingGraph, prosumers: [Prosumer]) {
        self.periods = periods
        self.units = units
        self.grid = grid
        self.graph = graph
        var gross = 0.0
        for who in prosumers {
            var worst = 0.0
            for t in 0..<periods {
                var total = who.loadKW[t] + who.pvKW[t]
                if let f = who.flex { total += max(abs(f.minKW[t]), abs(f.maxKW[t])) }
                if let s = who.storage { total += s.chargeMaxKW + s.dischargeMaxKW }
                worst = max(worst, total)
            }
            gross += worst
        }
        self.defaultTradeBoundKW = max(gross, 1e-6)
    }

    /// Constraint groups a set of blocks shares.
    public struct Groups: Sendable {
        public var balance: ConstraintGroup
        public var dynamics: ConstraintGroup
        public var bounds: ConstraintGroup

        public init(in builder: inout ConicBuilder) {
            balance = builder.addGroup("prosumer balance", .zero)
            dynamics = builder.addGroup("storage dynamics", .zero)
            bounds = builder.addGroup("prosumer bounds", .nonnegative)
        }
    }

    /// Adds prosumer `i`'s block: variables, local constraints and own costs.
    public func add(_ i: Int, _ who: Prosumer, to builder: inout ConicBuilder, groups: Groups) -> P2PProsumerBlock {
        let base = units.baseKVA
        let prefix = "\(who.id)."
        var flex = [Int](repeating: -1, count: periods)
        var fixed = [Double](repeating: 0, count: periods)
        if let f = who.flex {
            for t in 0..<periods {
                if f.maxKW[t] > f.minKW[t] {
                    let v = builder.addVariable(prefix + "flex")
                    flex[t] = v
                    builder.addGreaterEqual(groups.bounds, .variable(v), f.minKW[t] / base)
                    builder.addLessEqual(groups.bounds, .variable(v), f.maxKW[t] / base)
                    if f.costA[t] != 0 { builder.addQuadraticCost(v, units.quadratic(f.costA[t])) }
                    if f.costB[t] != 0 { builder.addLinearCost(v, units.linear(f.costB[t])) }
                } else {
                    fixed[t] = f.minKW[t]
                }
            }
        }
        let storage = who.storage.map {
            StorageDynamics($0, periodHours: units.periodHours)
                .add(to: &builder, periods: periods, units: units, dynamics: groups.dynamics,
                     bounds: groups.bounds, prefix: prefix, socBounds: socBounds)
        }
        let gridImport = Array(builder.addVariables(prefix + "grid import", count: periods).range)
        var gridExport = [Int](repeating: -1, count: periods)
        for t in 0..<periods {
            builder.addGreaterEqual(groups.bounds, .variable(gridImport[t]), 0)
            if grid.buyPrice[t] != 0 { builder.addLinearCost(gridImport[t], units.linear(grid.buyPrice[t])) }
            if grid.exportAllowed {
                let w = builder.addVariable(prefix + "grid export")
                gridExport[t] = w
                builder.addGreaterEqual(groups.bounds, .variable(w), 0)
                if grid.sellPrice[t] != 0 { builder.addLinearCost(w, -units.linear(grid.sellPrice[t])) }
            }
        }
        let ends = i < graph.ends.count ? graph.ends[i] : []
        var trade: [[Int]] = [], tradeAbs: [[Int]] = []
        for end in ends {
            let (fee, contract) = graph.terms(of: end)
            let kappa = graph.quadraticCost(of: end)
            let limit = (graph.edges[end.edge].maxKW ?? defaultTradeBoundKW) / base
            let p = Array(builder.addVariables(prefix + "trade", count: periods).range)
            var a = [Int](repeating: -1, count: periods)
            for t in 0..<periods {
                builder.addGreaterEqual(groups.bounds, .variable(p[t]), -limit)
                builder.addLessEqual(groups.bounds, .variable(p[t]), limit)
                if contract != 0 { builder.addLinearCost(p[t], units.linear(contract)) }
                if kappa != 0 { builder.addQuadraticCost(p[t], units.quadratic(kappa)) }
                if fee != 0 {
                    let v = builder.addVariable(prefix + "|trade|")
                    a[t] = v
                    builder.addGreaterEqual(groups.bounds, LinearExpression([LinearTerm(v, 1), LinearTerm(p[t], -1)]), 0)
                    builder.addGreaterEqual(groups.bounds, LinearExpression([LinearTerm(v, 1), LinearTerm(p[t], 1)]), 0)
                    builder.addLinearCost(v, units.linear(fee))
                }
            }
            trade.append(p)
            tradeAbs.append(a)
        }
        var curtailment = [Int](repeating: -1, count: periods)
        if curtailablePV {
            for t in 0..<periods where who.pvKW[t] > 0 {
                let u = builder.addVariable(prefix + "curtailed")
                curtailment[t] = u
                builder.addGreaterEqual(groups.bounds, .variable(u), 0)
                builder.addLessEqual(groups.bounds, .variable(u), who.pvKW[t] / base)
            }
        }
        let firstRow = builder.rowCount(of: groups.balance)
        for t in 0..<periods {
            var e = LinearExpression([LinearTerm(gridImport[t], 1)], constant: -(who.loadKW[t] - who.pvKW[t] - fixed[t]) / base)
            if flex[t] >= 0 { e.add(flex[t], 1) }
            if let s = storage {
                e.add(s.discharge[t], 1)
                e.add(s.charge[t], -1)
            }
            if gridExport[t] >= 0 { e.add(gridExport[t], -1) }
            if curtailment[t] >= 0 { e.add(curtailment[t], -1) }
            for p in trade { e.add(p[t], 1) }
            builder.addRow(groups.balance, e)
        }
        return P2PProsumerBlock(flex: flex, fixedFlexKW: fixed, storage: storage, gridImport: gridImport,
                                gridExport: gridExport, curtailment: curtailment, trade: trade, tradeAbs: tradeAbs,
                                balanceFirstRow: firstRow)
    }

    /// Prosumer i's own cost over each period (currency) at a solution in kW: flex, wear, trade
    /// contract and fees, and the grid at `importPrice` (buyPrice plus whatever the mechanism adds)
    /// minus sellPrice on exports.
    public func ownCost(_ who: Prosumer, flexKW: Double, chargeKW: Double, dischargeKW: Double,
                        tradeKW: [Double], ends: [TradingGraph.End], importKW: Double, exportKW: Double,
                        importPrice: Double, period t: Int) -> Double {
        let h = units.periodHours
        var cost = 0.0
        if let f = who.flex { cost += h * (0.5 * f.costA[t] * flexKW * flexKW + f.costB[t] * flexKW) }
        if let s = who.storage {
            cost += StorageDynamics(s, periodHours: h).wearCost(chargeKW: chargeKW, dischargeKW: dischargeKW)
        }
        for (k, end) in ends.enumerated() where k < tradeKW.count {
            let (fee, contract) = graph.terms(of: end)
            let kappa = graph.quadraticCost(of: end)
            cost += h * (contract * tradeKW[k] + fee * abs(tradeKW[k]) + 0.5 * kappa * tradeKW[k] * tradeKW[k])
        }
        cost += h * (importPrice * importKW - grid.sellPrice[t] * exportKW)
        return cost.isFinite ? cost : 0
    }
}
