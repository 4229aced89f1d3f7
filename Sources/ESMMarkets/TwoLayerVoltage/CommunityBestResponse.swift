/// A community's exact best response to the upper-layer price π₀ (two_layer_voltage.md §3.7):
/// everything the upper layer needs to know about a local market, as a small table.
///
/// The community's Nash equilibrium at π₀ has sharing price π with H(π) = π + a·X(π) = π₀, where
/// X(π) = Σ_j x_j(π) sums the prosumers' piecewise-linear responses (`responseForm`). Between two
/// consecutive prosumer breakpoints every prosumer stays in one regime, so on that piece
///   X = x₀ + x₁·π,   G = g₀ + g₁·π   (physical injection Σ_j (p_j − demand_j)),
///   C = c₀ + c₁·π + c₂·π²            (generation cost Σ_j c_j/2·p_j² + b_j·p_j),
/// and π₀ = H(π) = (1 + a·x₁)·π + a·x₀ is increasing. The pieces are kept in the sharing price π
/// (the table's natural variable) and restricted to upper prices in `upperPriceRange`.
///
/// Built in O(n log n): sort the ≤ 4n breakpoints once and sweep, updating the sums by the one
/// prosumer whose regime changes at each breakpoint.
public struct CommunityBestResponse: Sendable {
    public struct Piece: Sendable, Equatable {
        /// Sharing prices π at the piece's ends.
        public var priceLow: Double
        public var priceHigh: Double
        public var exportConstant: Double
        public var exportSlope: Double
        public var injectionConstant: Double
        public var injectionSlope: Double
        public var cost0: Double
        public var cost1: Double
        public var cost2: Double

        public func export(_ price: Double) -> Double { exportConstant + exportSlope * price }
        public func injection(_ price: Double) -> Double { injectionConstant + injectionSlope * price }
        public func cost(_ price: Double) -> Double { cost0 + (cost1 + cost2 * price) * price }
        /// dC/dπ.
        public func marginalCost(_ price: Double) -> Double { cost1 + 2 * cost2 * price }
    }

    public let sensitivity: Double
    public let upperPriceRange: ClosedRange<Double>
    /// Consecutive pieces covering the sharing prices of `upperPriceRange` (at least one).
    public let pieces: [Piece]

    public init(market: CommunityMarket, upperPriceRange range: ClosedRange<Double>) {
        let a = market.sensitivity
        let band = market.band
        let people = market.participants
        sensitivity = a
        upperPriceRange = range

        var events: [(price: Double, who: Int)] = []
        events.reserveCapacity(4 * people.count)
        for (j, who) in people.enumerated() {
            for point in who.breakpoints(impact: a, band: band) { events.append((point, j)) }
        }
        events.sort { $0.price < $1.price }
        var distinct: [Double] = []
        distinct.reserveCapacity(events.count)
        for event in events where distinct.last != event.price { distinct.append(event.price) }

        // Running sums of the prosumers' forms; `moving` counts those with a price-dependent
        // output, so that a piece where nobody moves gets exactly zero slopes despite rounding.
        var forms = [ResponseForm](repeating: ResponseForm(exportConstant: 0, exportSlope: 0, flexConstant: 0, flexSlope: 0),
                                   count: people.count)
        var x0 = 0.0, x1 = 0.0, p0 = 0.0, p1 = 0.0, c0 = 0.0, c1 = 0.0, c2 = 0.0
        var exporting = 0, moving = 0
        var demand = 0.0
        func apply(_ f: ResponseForm, _ who: SharingParticipant, _ sign: Double) {
            x0 += sign * f.exportConstant
            x1 += sign * f.exportSlope
            p0 += sign * f.flexConstant
            p1 += sign * f.flexSlope
            // c/2·(p₀ + p₁π)² + b·(p₀ + p₁π)
            c0 += sign * (0.5 * who.c * f.flexConstant * f.flexConstant + who.b * f.flexConstant)
            c1 += sign * (who.c * f.flexConstant * f.flexSlope + who.b * f.flexSlope)
            c2 += sign * 0.5 * who.c * f.flexSlope * f.flexSlope
            if f.exportSlope != 0 { exporting += sign > 0 ? 1 : -1 }
            if f.flexSlope != 0 { moving += sign > 0 ? 1 : -1 }
        }
        func probe(_ k: Int) -> Double {
            // A price strictly inside the k-th interval (−∞, d₀), (d₀, d₁), …, (d_last, ∞).
            if distinct.isEmpty { return 0 }
            if k == 0 { return distinct[0] - 1 }
            if k == distinct.count { return distinct[k - 1] + 1 }
            return 0.5 * (distinct[k - 1] + distinct[k])
        }
        let start = probe(0)
        for (j, who) in people.enumerated() {
            forms[j] = who.responseForm(price: start, impact: a, band: band)
            apply(forms[j], who, 1)
            demand += who.demand
        }
        func current(low: Double, high: Double) -> Piece {
            Piece(priceLow: low, priceHigh: high,
                  exportConstant: x0, exportSlope: exporting == 0 ? 0 : x1,
                  injectionConstant: p0 - demand, injectionSlope: moving == 0 ? 0 : p1,
                  cost0: c0, cost1: moving == 0 ? 0 : c1, cost2: moving == 0 ? 0 : c2)
        }
        /// π₀ = H(π) on a piece.
        func upper(_ piece: Piece, _ price: Double) -> Double { price + a * piece.export(price) }
        /// The π where H(π) = π₀ on a piece.
        func inverse(_ piece: Piece, _ level: Double) -> Double {
            (level - a * piece.exportConstant) / (1 + a * piece.exportSlope)
        }

        var pieces: [Piece] = []
        var cursor = 0
        for k in 0...distinct.count {
            // Sums are those of interval k; advance the prosumers whose breakpoint opens it.
            if k > 0 {
                let price = distinct[k - 1]
                let inside = probe(k)
                while cursor < events.count && events[cursor].price == price {
                    let j = events[cursor].who
                    cursor += 1
                    let next = people[j].responseForm(price: inside, impact: a, band: band)
                    if next != forms[j] {
                        apply(forms[j], people[j], -1)
                        forms[j] = next
                        apply(next, people[j], 1)
                    }
                }
            }
            var piece = current(low: k == 0 ? -.infinity : distinct[k - 1], high: k == distinct.count ? .infinity : distinct[k])
            let lowUpper = piece.priceLow.isFinite ? upper(piece, piece.priceLow) : -Double.infinity
            let highUpper = piece.priceHigh.isFinite ? upper(piece, piece.priceHigh) : Double.infinity
            if highUpper < range.lowerBound || lowUpper > range.upperBound { continue }
            if highUpper == range.lowerBound && range.lowerBound < range.upperBound { continue }
            if lowUpper < range.lowerBound { piece.priceLow = inverse(piece, range.lowerBound) }
            if highUpper > range.upperBound { piece.priceHigh = inverse(piece, range.upperBound) }
            if let last = pieces.last { piece.priceLow = max(piece.priceLow, last.priceHigh) }
            piece.priceHigh = max(piece.priceHigh, piece.priceLow)
            pieces.append(piece)
            if highUpper >= range.upperBound { break }
        }
        if pieces.isEmpty {
            // Only when the sums are empty (no prosumer): a single degenerate piece.
            let p = current(low: range.lowerBound, high: range.upperBound)
            pieces = [p]
        }
        self.pieces = pieces
    }

    // MARK: Evaluation

    /// Index of the piece holding sharing price `price` (clamped to the table).
    public func piece(atPrice price: Double) -> Int {
        var low = 0, high = pieces.count - 1
        while low < high {
            let mid = (low + high) / 2
            if pieces[mid].priceHigh < price { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// π₀ = H(π).
    public func upperPrice(atPrice price: Double) -> Double {
        let k = piece(atPrice: price)
        return price + sensitivity * pieces[k].export(price)
    }

    /// The sharing price at upper price `upper` (clamped to the table's range).
    public func price(atUpper upper: Double) -> Double {
        var low = 0, high = pieces.count - 1
        while low < high {
            let mid = (low + high) / 2
            if upperPrice(atPrice: pieces[mid].priceHigh) < upper { low = mid + 1 } else { high = mid }
        }
        let p = pieces[low]
        let price = (upper - sensitivity * p.exportConstant) / (1 + sensitivity * p.exportSlope)
        return min(max(price, p.priceLow), p.priceHigh)
    }

    public var lowestPrice: Double { pieces[0].priceLow }
    public var highestPrice: Double { pieces[pieces.count - 1].priceHigh }
    public var lowestInjection: Double { pieces[0].injection(lowestPrice) }
    public var highestInjection: Double { pieces[pieces.count - 1].injection(highestPrice) }

    // MARK: Cost as a function of the injection

    /// A piece on which the injection G rises with the price, seen as a function of G:
    /// C(G) = costLow + slopeLow·(G − injectionLow) + curvature/2·(G − injectionLow)².
    public struct CostSegment: Sendable, Equatable {
        /// Index of the table piece.
        public var piece: Int
        public var injectionLow: Double
        public var injectionHigh: Double
        public var costLow: Double
        /// dC/dG at `injectionLow` (currency per kWh of injection).
        public var slopeLow: Double
        /// d²C/dG².
        public var curvature: Double

        public var length: Double { injectionHigh - injectionLow }
        public var slopeHigh: Double { slopeLow + curvature * length }
        public func cost(_ g: Double) -> Double {
            let d = g - injectionLow
            return costLow + (slopeLow + 0.5 * curvature * d) * d
        }
    }

    /// The pieces where the injection moves, in order. Pieces where it is flat are single points
    /// of the (G, C) graph — the end of the segment before and the start of the one after (the
    /// output of every prosumer is nondecreasing in the price, so when their sum is flat each one
    /// is, and so is the cost). Empty when the injection is the same at every upper price.
    ///
    /// Pieces whose injection moves by less than `minimumLength` (kW) are slivers: each is merged
    /// into the segment before it (continued along that segment's quadratic, so the cost is off by
    /// at most the change of marginal cost times the sliver's length) — the solver would otherwise
    /// see boxes of width ~0.
    public func costSegments(minimumLength: Double = 0) -> [CostSegment] {
        var out: [CostSegment] = []
        for (k, p) in pieces.enumerated() where p.injectionSlope > 0 && p.priceHigh > p.priceLow {
            let g1 = p.injectionSlope
            let low = out.last?.injectionHigh ?? p.injection(p.priceLow)
            let high = max(p.injection(p.priceHigh), low)
            if high - low <= minimumLength, !out.isEmpty {
                out[out.count - 1].injectionHigh = high
                continue
            }
            out.append(CostSegment(piece: k, injectionLow: low, injectionHigh: high, costLow: p.cost(p.priceLow),
                                   slopeLow: p.marginalCost(p.priceLow) / g1, curvature: 2 * p.cost2 / (g1 * g1)))
        }
        // A sliver first: merged into the one after it.
        if out.count > 1, out[0].length <= minimumLength {
            let first = out.removeFirst()
            out[0].injectionLow = first.injectionLow
            out[0].costLow = first.costLow
        }
        return out
    }

    /// Whether C(G) is convex: the marginal cost never drops where one segment meets the next
    /// (inside a segment the curvature is ≥ 0). A drop of at most `relativeTolerance` times the
    /// largest marginal cost counts as rounding.
    public static func isConvex(_ segments: [CostSegment], relativeTolerance: Double = 1e-12) -> Bool {
        guard segments.count > 1 else { return true }
        var scale = 0.0
        for s in segments { scale = max(scale, abs(s.slopeLow), abs(s.slopeHigh)) }
        let tolerance = relativeTolerance * scale
        for k in 1..<segments.count where segments[k].slopeLow < segments[k - 1].slopeHigh - tolerance { return false }
        return true
    }

    /// The sharing prices at which the injection equals `g` (clamped to the table's range): the
    /// whole run of pieces where the injection is flat at a level within `tolerance` of `g`, else
    /// the one price on the piece where it rises through `g`.
    public func prices(atInjection g: Double, tolerance: Double) -> ClosedRange<Double> {
        let target = min(max(g, lowestInjection), highestInjection)
        var k = 0
        while k < pieces.count {
            guard pieces[k].injectionSlope == 0 else { k += 1; continue }
            var end = k
            while end + 1 < pieces.count && pieces[end + 1].injectionSlope == 0 { end += 1 }
            if abs(pieces[k].injectionConstant - target) <= tolerance { return pieces[k].priceLow...pieces[end].priceHigh }
            k = end + 1
        }
        for p in pieces where p.injectionSlope > 0 && p.injection(p.priceHigh) >= target {
            let price = min(max((target - p.injectionConstant) / p.injectionSlope, p.priceLow), p.priceHigh)
            return price...price
        }
        return highestPrice...highestPrice
    }
}

extension CommunityBestResponse.CostSegment {
    /// dC/dG at `g`.
    public func slope(_ g: Double) -> Double { slopeLow + curvature * (g - injectionLow) }

    /// The same arc on `[low, high]` ⊆ its domain.
    func restricted(to low: Double, _ high: Double) -> Self {
        var out = self
        out.costLow = cost(low)
        out.slopeLow = slope(low)
        out.injectionLow = low
        out.injectionHigh = max(high, low)
        return out
    }
}

extension CommunityBestResponse {
    /// The greatest convex function below C(G) (its lower convex envelope) on the same domain, as
    /// segments: arcs of C where C is convex, straight bridges over the dips. It is what the
    /// disjunctive encoding relaxes to (the convex hull of the graph), written without binaries.
    ///
    /// A scan from left to right keeps a convex stack; an arc whose slope starts below the
    /// stack's final slope is joined to it by their common supporting line. Its slope λ solves
    /// min_{stack}(C − λG) = min_{arc}(C − λG), a nondecreasing function of λ: bisection.
    public static func convexEnvelope(_ segments: [CostSegment], relativeTolerance: Double = 1e-12) -> [CostSegment] {
        var scale = 0.0
        for s in segments { scale = max(scale, abs(s.slopeLow), abs(s.slopeHigh)) }
        let tolerance = relativeTolerance * scale
        var hull: [CostSegment] = []
        var extent = 0.0
        for s in segments { extent = max(extent, abs(s.injectionLow), abs(s.injectionHigh)) }
        let sliver = relativeTolerance * extent
        for segment in segments where segment.length > sliver {
            var arc = segment
            if let last = hull.last, last.slopeHigh > arc.slopeLow + tolerance {
                let (s, t) = supportingLine(hull, arc)
                let hullValue = value(of: hull, at: s)
                while let l = hull.last, l.injectionLow >= s { hull.removeLast() }
                if let l = hull.last, l.injectionHigh > s { hull[hull.count - 1] = l.restricted(to: l.injectionLow, s) }
                let arcValue = arc.cost(t)
                if t > s + sliver {
                    hull.append(CostSegment(piece: -1, injectionLow: s, injectionHigh: t, costLow: hullValue,
                                            slopeLow: (arcValue - hullValue) / (t - s), curvature: 0))
                }
                guard t < arc.injectionHigh - sliver else { continue }
                arc = arc.restricted(to: t, arc.injectionHigh)
            }
            hull.append(arc)
        }
        return hull
    }

    /// C at `g` on a list of consecutive segments (clamped to their domain).
    public static func value(of segments: [CostSegment], at g: Double) -> Double {
        guard let first = segments.first, let last = segments.last else { return 0 }
        if g <= first.injectionLow { return first.costLow }
        if g >= last.injectionHigh { return last.cost(last.injectionHigh) }
        var low = 0, high = segments.count - 1
        while low < high {
            let mid = (low + high) / 2
            if segments[mid].injectionHigh < g { low = mid + 1 } else { high = mid }
        }
        return segments[low].cost(g)
    }

    /// The touching points (s on the convex `hull`, t on `arc`) of their common supporting line.
    private static func supportingLine(_ hull: [CostSegment], _ arc: CostSegment) -> (Double, Double) {
        // Rightmost minimizer of C − λG on the hull, leftmost on the arc.
        func onHull(_ lambda: Double) -> Double {
            var low = 0, high = hull.count
            while low < high {
                let mid = (low + high) / 2
                if hull[mid].slopeHigh > lambda { high = mid } else { low = mid + 1 }
            }
            guard low < hull.count else { return hull[hull.count - 1].injectionHigh }
            let e = hull[low]
            guard e.curvature > 0 else { return e.injectionLow }
            return min(max(e.injectionLow + (lambda - e.slopeLow) / e.curvature, e.injectionLow), e.injectionHigh)
        }
        func onArc(_ lambda: Double) -> Double {
            guard arc.curvature > 0 else { return arc.slopeLow >= lambda ? arc.injectionLow : arc.injectionHigh }
            return min(max(arc.injectionLow + (lambda - arc.slopeLow) / arc.curvature, arc.injectionLow), arc.injectionHigh)
        }
        func gap(_ lambda: Double) -> Double {
            let s = onHull(lambda), t = onArc(lambda)
            return (value(of: hull, at: s) - lambda * s) - (arc.cost(t) - lambda * t)
        }
        // The hull is convex: its slopes run from its first element's to its last's (O(1), not a
        // scan per arc, which made the envelope quadratic in the community's size).
        var low = min(arc.slopeLow, hull.first?.slopeLow ?? arc.slopeLow)
        var high = max(arc.slopeHigh, hull.last?.slopeHigh ?? arc.slopeHigh)
        let pad = max(1, high - low)
        low -= pad
        high += pad
        for _ in 0..<200 {
            let mid = 0.5 * (low + high)
            if mid <= low || mid >= high { break }
            if gap(mid) < 0 { low = mid } else { high = mid }
        }
        // On a straight element the minimizer jumps at λ*: the hull keeps the element whole (its
        // right end, from above λ*), the arc is touched at its first point on the line (from below).
        let s = onHull(high)
        return (s, max(onArc(low), s))
    }
}
