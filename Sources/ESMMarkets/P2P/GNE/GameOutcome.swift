/// A p2p_gne market outcome in the caller's units, whichever route computed it: the primal
/// decisions of every player and the shared multipliers. Arrays are row-major over periods
/// (`[row * periods + t]`).
struct GameOutcome {
    var flexKW: [Double]
    var chargeKW: [Double]
    var dischargeKW: [Double]
    var socKWh: [Double]
    var importKW: [Double]
    var exportKW: [Double]
    /// Per edge: what side a buys from side b (p_(a,b), kW); side b's variable, p_(b,a), is kept
    /// apart so that the reciprocity residual can be reported.
    var tradeAKW: [Double]
    var tradeBKW: [Double]
    /// Per edge: the bilateral price μ, currency per kWh.
    var tradePrice: [Double]
    /// Per bus: price of one more kW withdrawn (the bus-balance multiplier), currency per kWh.
    var busPrice: [Double]
    var vPu: [Double]
    var angleDeg: [Double]
    /// Per line: flow at the `from` end and the rating's shadow price (currency per kVAh).
    var linePKW: [Double]
    var lineQKVAr: [Double]
    var lineRatingPrice: [Double]
    /// Per period: the prosumers' total import σ and the multipliers of the draw bounds
    /// (lower, upper; ≥ 0, currency per kWh).
    var sigmaKW: [Double]
    var drawLowerPrice: [Double]
    var drawUpperPrice: [Double]
    /// The potential Φ (the v-GNE minimizes it), currency.
    var potential: Double
    var iterations: Int
    var solveSeconds: Double
    var primalResidual: Double
    var dualResidual: Double
}

extension GameOutcome {
    /// An outcome holding every prosumer's dispatch and both sides of every trade, read from the
    /// vector `solution(i)` that holds prosumer i's variables (one shared vector for the
    /// centralized problem, one per player in the proximal-point iteration); prices, network
    /// state and statistics are left for the route to fill.
    static func decisions(_ setup: GameSetup, blocks: [P2PProsumerBlock], solution: (Int) -> [Double]) -> GameOutcome {
        let periods = setup.periods
        let units = setup.units
        var o = GameOutcome(flexKW: [], chargeKW: [], dischargeKW: [], socKWh: [], importKW: [], exportKW: [],
                            tradeAKW: [], tradeBKW: [], tradePrice: [], busPrice: [], vPu: [], angleDeg: [],
                            linePKW: [], lineQKVAr: [], lineRatingPrice: [], sigmaKW: [], drawLowerPrice: [],
                            drawUpperPrice: [], potential: 0, iterations: 0, solveSeconds: 0, primalResidual: 0,
                            dualResidual: 0)
        for (i, block) in blocks.enumerated() {
            let x = solution(i)
            for t in 0..<periods {
                let d = block.dispatch(x: x, period: t, units: units)
                o.flexKW.append(d.flexKW)
                o.chargeKW.append(d.chargeKW)
                o.dischargeKW.append(d.dischargeKW)
                o.socKWh.append(d.socKWh)
                o.importKW.append(d.importKW)
                o.exportKW.append(d.exportKW)
            }
        }
        for (k, edge) in setup.graph.edges.enumerated() where edge.a < blocks.count && edge.b < blocks.count {
            let slot = setup.graph.slots[k]
            let xa = solution(edge.a), xb = solution(edge.b)
            for t in 0..<periods {
                let da = blocks[edge.a].dispatch(x: xa, period: t, units: units)
                let db = blocks[edge.b].dispatch(x: xb, period: t, units: units)
                o.tradeAKW.append(slot.a < da.tradeKW.count ? da.tradeKW[slot.a] : 0)
                o.tradeBKW.append(slot.b < db.tradeKW.count ? db.tradeKW[slot.b] : 0)
            }
        }
        return o
    }
}
