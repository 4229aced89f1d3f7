/// A prosumer's closed-form response to an announced sharing price (two_layer.md §3.5): the one
/// implementation of the breakpoint response, shared by every sharing market.

/// The retail band `[sellPrice, buyPrice]` a prosumer's marginal value is confined to.
public struct RetailBand: Sendable, Equatable {
    public var sell: Double
    public var buy: Double

    public init(sell: Double, buy: Double) {
        self.sell = sell
        self.buy = buy
    }
}

/// One prosumer in one period, as a sharing market sees it: production `p ∈ [pMin, pMax]` costing
/// `c/2·p² + b·p`, and fixed net demand `demand = load − pv` (may be negative).
public struct SharingParticipant: Sendable, Equatable {
    public var c: Double
    public var b: Double
    public var pMin: Double
    public var pMax: Double
    public var demand: Double

    public init(c: Double, b: Double, pMin: Double, pMax: Double, demand: Double) {
        self.c = c
        self.b = b
        self.pMin = pMin
        self.pMax = pMax
        self.demand = demand
    }

    /// Production cost `c/2·p² + b·p`.
    public func productionCost(_ p: Double) -> Double { 0.5 * c * p * p + b * p }

    /// Production at marginal value `nu` (the lower end of the step when `c = 0` and `nu = b`).
    public func production(atMarginalValue nu: Double) -> Double {
        if c > 0 { return min(max((nu - b) / c, pMin), pMax) }
        return nu > b ? pMax : pMin
    }

    /// Net surplus before sharing, `p(ν) − demand`.
    public func surplus(atMarginalValue nu: Double) -> Double {
        production(atMarginalValue: nu) - demand
    }
}

/// What a prosumer does in a sharing market.
public struct SharingDecision: Sendable, Equatable {
    /// Marginal value of energy ν (multiplier of its balance).
    public var marginalValue: Double
    public var flexKW: Double
    /// Exported to the community (`x_j`, negative when it buys there).
    public var sharedExportKW: Double
    public var gridBuyKW: Double
    public var gridSellKW: Double

    public init(marginalValue: Double, flexKW: Double, sharedExportKW: Double, gridBuyKW: Double,
                gridSellKW: Double) {
        self.marginalValue = marginalValue
        self.flexKW = flexKW
        self.sharedExportKW = sharedExportKW
        self.gridBuyKW = gridBuyKW
        self.gridSellKW = gridSellKW
    }
}

extension SharingParticipant {
    /// Price-anticipating response to the announced price `w` with own price impact `a > 0`.
    /// Continuous, piecewise linear and nondecreasing in `w`, with kinks at `breakpoints(a:band:)`.
    public func strategicResponse(price w: Double, impact a: Double, band: RetailBand) -> SharingDecision {
        let (nuFree, regime) = unclampedMarginalValue(price: w, impact: a)
        if nuFree < band.sell || nuFree > band.buy {
            // Marginal value pinned at a retail price: the grid absorbs the difference.
            let nu = nuFree < band.sell ? band.sell : band.buy
            let p = production(atMarginalValue: nu)
            let x = (w - nu) / a
            let net = p - demand - x
            return SharingDecision(marginalValue: nu, flexKW: p, sharedExportKW: x,
                                   gridBuyKW: max(-net, 0), gridSellKW: max(net, 0))
        }
        // No grid trade: x = p − demand exactly, so the balance holds to the last bit.
        let p: Double
        if regime == .atMinimum {
            p = pMin
        } else if regime == .atMaximum {
            p = pMax
        } else if c > 0 {
            p = min(max((nuFree - b) / c, pMin), pMax)
        } else {
            p = min(max(demand + (w - nuFree) / a, pMin), pMax)
        }
        return SharingDecision(marginalValue: nuFree, flexKW: p, sharedExportKW: p - demand,
                               gridBuyKW: 0, gridSellKW: 0)
    }

    /// Slope d(export)/d(price) of the strategic response at a price between breakpoints:
    /// `1/a` when the grid absorbs the change, `0` when production sits at a bound,
    /// `1/(c + a)` when production follows the price.
    public func strategicSlope(price w: Double, impact a: Double, band: RetailBand) -> Double {
        let (nuFree, regime) = unclampedMarginalValue(price: w, impact: a)
        if nuFree < band.sell || nuFree > band.buy { return 1 / a }
        if regime != .interior { return 0 }
        return 1 / (c + a)
    }

    enum ProductionRegime { case atMinimum, interior, atMaximum }

    /// The marginal value ν solving `ν + a·(p(ν) − demand) = w` before the retail band clamps it
    /// (two_layer.md §3.5), and where production then sits.
    func unclampedMarginalValue(price w: Double, impact a: Double) -> (Double, ProductionRegime) {
        if w <= b + c * pMin + a * (pMin - demand) { return (w - a * (pMin - demand), .atMinimum) }
        if w >= b + c * pMax + a * (pMax - demand) { return (w - a * (pMax - demand), .atMaximum) }
        return ((c * w + a * b + a * c * demand) / (c + a), .interior)
    }

    /// Prices at which the strategic response changes regime (at most four).
    public func breakpoints(impact a: Double, band: RetailBand) -> [Double] {
        let h = { (nu: Double) in nu + a * self.surplus(atMarginalValue: nu) }
        return [b + c * pMin + a * (pMin - demand), b + c * pMax + a * (pMax - demand), h(band.sell), h(band.buy)]
    }

    /// Price-taking response at a price strictly inside the retail band: produce up to marginal
    /// cost and share the whole surplus. (At the band's ends the response is set-valued; the
    /// community allocates grid trades there, see `CommunityMarket`.)
    public func priceTakingResponse(price w: Double) -> SharingDecision {
        let p = production(atMarginalValue: w)
        return SharingDecision(marginalValue: w, flexKW: p, sharedExportKW: p - demand, gridBuyKW: 0, gridSellKW: 0)
    }

    /// Export of a price-taking prosumer as a curve of the price inside the retail band,
    /// `production(π) − demand`, held constant outside it. (At the band's ends the true response is
    /// vertical — the grid absorbs any amount — which `WideAreaMarket` handles through its price
    /// band.) Requires `c > 0` or `pMin = pMax`.
    public func priceTakingCurve(band: RetailBand) -> ResponseCurve {
        var points = [band.sell, band.buy]
        if c > 0 {
            for kink in [b + c * pMin, b + c * pMax] where kink > band.sell && kink < band.buy { points.append(kink) }
        }
        points.sort()
        var events: [(price: Double, change: Double)] = []
        var previous = 0.0
        for k in points.indices where k == 0 || points[k] > points[k - 1] {
            var next = k + 1
            while next < points.count && points[next] == points[k] { next += 1 }
            var slope = 0.0
            if next < points.count {
                let p = production(atMarginalValue: 0.5 * (points[k] + points[next]))
                slope = c > 0 && p > pMin && p < pMax ? 1 / c : 0
            }
            events.append((points[k], slope - previous))
            previous = slope
        }
        return ResponseCurve(anchorValue: surplus(atMarginalValue: band.sell), leftSlope: 0, rightSlope: 0, events: events)
    }

    /// `min over p of [C(p) − π·p] + π·demand`: what a price-taker's part of the dual function
    /// is worth at price `π` inside the retail band (grid trades are then worthless to it).
    public func dualValue(price: Double) -> Double {
        let p = production(atMarginalValue: price)
        return productionCost(p) - price * p + price * demand
    }

    /// Cost of trading only with the utility (no sharing): the individual-rationality benchmark.
    public func standaloneCost(band: RetailBand) -> Double {
        // Marginal value is the root of surplus(ν) = 0 clipped to the band.
        let nu: Double
        if surplus(atMarginalValue: band.buy) <= 0 {
            nu = band.buy
        } else if surplus(atMarginalValue: band.sell) >= 0 {
            nu = band.sell
        } else if c > 0 {
            nu = b + c * min(max(demand, pMin), pMax)
        } else {
            nu = b
        }
        var p = production(atMarginalValue: nu)
        if nu > band.sell && nu < band.buy { p = min(max(demand, pMin), pMax) }
        let net = p - demand
        return productionCost(p) + band.buy * max(-net, 0) - band.sell * max(net, 0)
    }

    /// Cost excluding sharing payments: production plus grid purchases minus grid sales (C̄_j).
    public func physicalCost(_ d: SharingDecision, band: RetailBand) -> Double {
        productionCost(d.flexKW) + band.buy * d.gridBuyKW - band.sell * d.gridSellKW
    }
}

/// The strategic response on one of its linear pieces: `x = exportConstant + exportSlope·w` and
/// `p = flexConstant + flexSlope·w` for every announced price `w` of the piece.
public struct ResponseForm: Sendable, Equatable {
    public var exportConstant: Double
    public var exportSlope: Double
    public var flexConstant: Double
    public var flexSlope: Double
}

extension SharingParticipant {
    /// The affine form of `strategicResponse` on the piece that holds price `w` (take `w` strictly
    /// between breakpoints): the five regimes of two_layer_voltage.md §3.5 — selling to the utility
    /// at L, pinned at L, interior, pinned at U, buying from the utility at U.
    public func responseForm(price w: Double, impact a: Double, band: RetailBand) -> ResponseForm {
        let (nuFree, regime) = unclampedMarginalValue(price: w, impact: a)
        if nuFree < band.sell || nuFree > band.buy {
            let nu = nuFree < band.sell ? band.sell : band.buy
            return ResponseForm(exportConstant: -nu / a, exportSlope: 1 / a,
                                flexConstant: production(atMarginalValue: nu), flexSlope: 0)
        }
        switch regime {
        case .atMinimum: return ResponseForm(exportConstant: pMin - demand, exportSlope: 0, flexConstant: pMin, flexSlope: 0)
        case .atMaximum: return ResponseForm(exportConstant: pMax - demand, exportSlope: 0, flexConstant: pMax, flexSlope: 0)
        case .interior:
            // ν = b + c·p and ν = w − a·x with x = p − demand.
            let slope = 1 / (c + a)
            let constant = -(b + c * demand) * slope
            return ResponseForm(exportConstant: constant, exportSlope: slope, flexConstant: demand + constant, flexSlope: slope)
        }
    }
}
