/// A community's total export as a function of the price it is offered — the "curve bid" a
/// local market can hand to the wide-area market (two_layer.md §4, non-iterative accelerator;
/// two_layer_voltage.md §3.7). Built exactly from the prosumers' breakpoints in O(n log n).
extension CommunityMarket {
    /// Export `Σ_j x_j(w)` of strategic prosumers announced the sharing price `w` (Mode A: the
    /// community's price is the price it is offered).
    public func exportCurveAtPrice() -> ResponseCurve {
        let a = sensitivity
        var events: [(price: Double, change: Double)] = []
        events.reserveCapacity(4 * participants.count)
        for who in participants {
            var points = who.breakpoints(impact: a, band: band)
            points.sort()
            var previousSlope = 1 / a  // left tail: marginal value pinned at sellPrice
            for k in points.indices where k == 0 || points[k] > points[k - 1] {
                var next = k + 1
                while next < points.count && points[next] == points[k] { next += 1 }
                // Right of the last breakpoint the marginal value is pinned at buyPrice.
                let slope = next < points.count
                    ? who.strategicSlope(price: 0.5 * (points[k] + points[next]), impact: a, band: band) : 1 / a
                events.append((points[k], slope - previousSlope))
                previousSlope = slope
            }
        }
        events.sort { $0.price < $1.price }
        let start = events.first?.price ?? 0
        let anchor = participants.reduce(0.0) { $0 + $1.strategicResponse(price: start, impact: a, band: band).sharedExportKW }
        let tails = Double(participants.count) / a
        return ResponseCurve(anchorValue: anchor, leftSlope: tails, rightSlope: tails, events: events)
    }

    /// Export as a function of the intercept the community faces (Mode B: the intercept is the
    /// offered price; the community then clears its own price).
    public func exportCurveAtIntercept() -> ResponseCurve {
        exportCurveAtPrice().throughIntercept(sensitivity: sensitivity)
    }
}
