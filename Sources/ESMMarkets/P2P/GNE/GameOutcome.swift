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
