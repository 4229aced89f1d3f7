import ESMGrid

/// The `buses` and `lines` tables of a mechanism cleared over the feeder's branch-flow model,
/// filled period by period: the relaxation's voltages and flows, and each bus's locational price
/// with its four parts (`LocationalPrices`), in currency per kWh.
struct NetworkColumns {
    let periods: Int
    var vPu: [Double]
    var price: [Double], priceEnergy: [Double], priceLoss: [Double], priceCongestion: [Double], priceVoltage: [Double]
    var pKW: [Double], qKVAr: [Double], lossKW: [Double]

    init(busCount: Int, lineCount: Int, periods: Int) {
        self.periods = periods
        vPu = [Double](repeating: 0, count: busCount * periods)
        (price, priceEnergy, priceLoss, priceCongestion, priceVoltage) = (vPu, vPu, vPu, vPu, vPu)
        pKW = [Double](repeating: 0, count: lineCount * periods)
        (qKVAr, lossKW) = (pKW, pKW)
    }

    /// Period `t`: the state of the relaxation and its prices; `unscale` turns the solver's price
    /// units into currency per kWh (price scale × base kVA).
    mutating func record(period t: Int, state: BranchFlowSolution, prices lmp: LocationalPrices, unscale: Double) {
        func finite(_ v: Double) -> Double { v.isFinite ? v : 0 }
        for bus in state.vPu.indices {
            let r = bus * periods + t
            guard r < vPu.count, bus < lmp.price.count else { break }
            vPu[r] = state.vPu[bus]
            price[r] = finite(lmp.price[bus] * unscale)
            priceEnergy[r] = finite(lmp.energy[bus] * unscale)
            priceLoss[r] = finite(lmp.loss[bus] * unscale)
            priceCongestion[r] = finite(lmp.congestion[bus] * unscale)
            priceVoltage[r] = finite(lmp.voltage[bus] * unscale)
        }
        for line in state.pKW.indices {
            let r = line * periods + t
            guard r < pKW.count else { break }
            pKW[r] = state.pKW[line]
            qKVAr[r] = state.qKVAr[line]
            lossKW[r] = state.lossKW[line]
        }
    }

    /// The locational price of `bus` in period `t`.
    func price(bus: Int, period t: Int) -> Double { price[bus * periods + t] }

    /// The two tables; `vAcPu` (an AC power flow's voltages, same layout as `vPu`) follows `vPu`
    /// when given.
    func tables(_ network: Network, vAcPu: [Double]? = nil) -> (buses: ResultTable, lines: ResultTable) {
        var buses = ResultTable(ids: network.buses.map(\.id), periods: periods)
        buses.addColumn("vPu", vPu)
        if let vAcPu { buses.addColumn("vAcPu", vAcPu) }
        buses.addColumn("price", price)
        buses.addColumn("priceEnergy", priceEnergy)
        buses.addColumn("priceLoss", priceLoss)
        buses.addColumn("priceCongestion", priceCongestion)
        buses.addColumn("priceVoltage", priceVoltage)
        var lines = ResultTable(ids: network.lines.map(\.id), periods: periods)
        lines.addColumn("pKW", pKW)
        lines.addColumn("qKVAr", qKVAr)
        lines.addColumn("lossKW", lossKW)
        lines.addFlagColumn("closed", network.lines.map(\.closed))
        return (buses, lines)
    }
}
