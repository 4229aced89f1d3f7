import ESMSolver

/// Reciprocity of bilateral trades: what i buys from j, j sells to i,
///
///     p_(a,b),t + p_(b,a),t = 0        for every edge {a, b} of the trading graph and period t,
///
/// one row per edge and period (row k · periods + t). The row's multiplier is the bilateral price
/// μ: the marginal value of the trade beyond both sides' own terms, the price at which the two
/// settle (p2p_gne spec §3.10: the buyer's marginal cost is contract + fee + μ, the seller's
/// marginal revenue contract − fee + μ).
public struct BilateralTrades: Sendable {
    public let reciprocity: ConstraintGroup
    public let periods: Int

    /// Adds the reciprocity rows of `graph` over the trade variables of `blocks`.
    public init(graph: TradingGraph, blocks: [P2PProsumerBlock], periods: Int, to builder: inout ConicBuilder) {
        self.periods = periods
        reciprocity = builder.addGroup("trade reciprocity", .zero)
        for (k, edge) in graph.edges.enumerated() {
            let slot = graph.slots[k]
            for t in 0..<periods {
                builder.addRow(reciprocity, LinearExpression([LinearTerm(blocks[edge.a].trade[slot.a][t], 1),
                                                              LinearTerm(blocks[edge.b].trade[slot.b][t], 1)]))
            }
        }
    }

    /// μ per edge and period (row-major over periods), currency per kWh, from the solver's duals:
    /// the Lagrangian term is μ · (p_ab + p_ba), the opposite of the row's dual convention.
    public func prices(y: [Double], model built: ConicModel, units: P2PUnits) -> [Double] {
        built.values(of: reciprocity, in: y).map { units.pricePerKWh(-$0) }
    }
}
