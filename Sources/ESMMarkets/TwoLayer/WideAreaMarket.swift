import ESMGrid

/// The wide-area market of two_layer.md §3.8, cleared exactly: communities hand in their export
/// curves (price → export), the curves are summed bottom-up over the radial feeder, a rated line
/// clamps what the subtree below it can export, the root price balances the whole feeder, and
/// the prices are recovered top-down (a congested line raises or lowers every price below it).
/// O(N·depth) for N curve breakpoints; no iteration and no tolerance.
public struct WideAreaMarket: Sendable {
    public var tree: RadialTree
    /// Per line: the allowed range of the export of the subtree below it (nil: unlimited).
    public var exportLimits: [ClosedRange<Double>?]
    /// Each participant's export curve and its bus.
    public var curves: [ResponseCurve]
    public var buses: [Int]
    /// For price-taking participants: the retail band, at whose ends the grid absorbs any amount
    /// (the curves are then constant outside it, and prices never leave it).
    public var priceBand: ClosedRange<Double>?

    public init(tree: RadialTree, exportLimits: [ClosedRange<Double>?], curves: [ResponseCurve], buses: [Int],
                priceBand: ClosedRange<Double>? = nil) {
        self.tree = tree
        self.exportLimits = exportLimits
        self.curves = curves
        self.buses = buses
        self.priceBand = priceBand
    }

    public struct Clearing: Sendable {
        /// The price at every bus; `busPrices[root]` is the system (energy) price λ.
        public var busPrices: [Double]
        /// Per line: price below it minus price above it (`μ⁺ − μ⁻` of the line, oriented away
        /// from the substation); 0 on uncongested lines.
        public var congestionPrices: [Double]
    }

    /// Clears the market; nil when no price balances the feeder (impossible while every export
    /// range contains 0, since all-zero exports are then feasible).
    public func clear() -> Clearing? {
        let busCount = tree.parent.count
        var atBus = [[Int]](repeating: [], count: busCount)
        for (k, bus) in buses.enumerated() { atBus[bus].append(k) }
        var children = [[Int]](repeating: [], count: busCount)
        for bus in tree.order where tree.parent[bus] >= 0 { children[tree.parent[bus]].append(bus) }

        // Bottom-up: each bus's subtree export curve (before its own line's clamp).
        var hasParticipants = [Bool](repeating: false, count: busCount)
        var subtree = [ResponseCurve?](repeating: nil, count: busCount)
        for bus in tree.order.reversed() {
            var parts = atBus[bus].map { curves[$0] }
            for child in children[bus] where hasParticipants[child] {
                guard let curve = subtree[child] else { continue }
                if let range = exportLimits[tree.parentLine[child]] {
                    parts.append(curve.clamped(low: range.lowerBound, high: range.upperBound))
                } else {
                    parts.append(curve)
                    subtree[child] = nil  // an unlimited line keeps the parent's price: no longer needed
                }
            }
            guard !parts.isEmpty else { continue }
            hasParticipants[bus] = true
            subtree[bus] = ResponseCurve.sum(parts)
        }
        guard let total = subtree[tree.root] else {
            return Clearing(busPrices: [Double](repeating: 0, count: busCount),
                            congestionPrices: [Double](repeating: 0, count: exportLimits.count))
        }
        guard let lambda = price(where: total, exports: 0, near: nil) else { return nil }

        // Top-down: a clamped subtree takes the price nearest its parent's at which it exports
        // exactly its limit.
        var prices = [Double](repeating: lambda, count: busCount)
        var congestion = [Double](repeating: 0, count: exportLimits.count)
        for bus in tree.order where tree.parent[bus] >= 0 {
            let above = prices[tree.parent[bus]]
            prices[bus] = above
            let line = tree.parentLine[bus]
            guard let range = exportLimits[line], hasParticipants[bus], let curve = subtree[bus] else { continue }
            let export = curve.value(at: above)
            if export > range.upperBound {
                prices[bus] = price(where: curve, exports: range.upperBound, near: above) ?? above
            } else if export < range.lowerBound {
                prices[bus] = price(where: curve, exports: range.lowerBound, near: above) ?? above
            }
            congestion[line] = prices[bus] - above
        }
        return Clearing(busPrices: prices, congestionPrices: congestion)
    }

    /// The price at which `curve` exports `level`: of several, the one nearest `near` (or the
    /// middle); inside the price band, where the grid makes up any difference at its ends.
    func price(where curve: ResponseCurve, exports level: Double, near: Double?) -> Double? {
        if let interval = curve.preimage(of: level) {
            var chosen = Self.representative(interval)
            if let near, interval.upper.isFinite || interval.lower.isFinite {
                chosen = min(max(near, interval.lower), interval.upper)
            }
            guard let band = priceBand else { return chosen }
            return min(max(chosen, band.lowerBound), band.upperBound)
        }
        // Never exactly `level`: only possible with a band, at the end where the grid absorbs it.
        guard let band = priceBand else { return nil }
        return curve.value(at: band.lowerBound) > level ? band.lowerBound : band.upperBound
    }

    /// One price from an interval of equally good ones: its middle, or its finite end.
    static func representative(_ interval: (lower: Double, upper: Double)) -> Double {
        switch (interval.lower.isFinite, interval.upper.isFinite) {
        case (true, true): return 0.5 * (interval.lower + interval.upper)
        case (true, false): return interval.lower
        case (false, true): return interval.upper
        default: return 0
        }
    }
}
