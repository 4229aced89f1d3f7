/// A continuous nondecreasing piecewise-linear function of a price: how much a prosumer, a
/// community or a whole subtree of the feeder exports at that price (two_layer.md §3.5, §4
/// "non-iterative accelerator"). Sums and clamps of such curves are again such curves, which is
/// what lets the wide-area market be cleared exactly, bottom-up over the feeder.
///
/// Breakpoints `prices` are strictly increasing; `values[k]` is the export at `prices[k]`;
/// `slopes[k]` is the slope just left of `prices[k]` (`slopes[0]` the left tail) and
/// `slopes[prices.count]` the right tail. Slopes are carried exactly (sums of the prosumers'
/// analytic slopes), values are accumulated from one exactly evaluated anchor.
public struct ResponseCurve: Sendable {
    public private(set) var prices: [Double]
    public private(set) var values: [Double]
    public private(set) var slopes: [Double]

    /// A constant curve.
    public init(constant value: Double) {
        prices = [0]
        values = [value]
        slopes = [0, 0]
    }

    /// The curve through `anchorValue` at the first event price, with `leftSlope` before it and
    /// the slope changing by `change` at each `(price, change)` event (sorted by price).
    init(anchorValue: Double, leftSlope: Double, rightSlope: Double, events: [(price: Double, change: Double)]) {
        guard let first = events.first else {
            self.init(prices: [0], values: [anchorValue], slopes: [leftSlope, leftSlope])
            return
        }
        var prices: [Double] = [], values: [Double] = [], slopes = [leftSlope]
        prices.reserveCapacity(events.count)
        values.reserveCapacity(events.count)
        slopes.reserveCapacity(events.count + 1)
        var slope = leftSlope
        var value = anchorValue
        var last = first.price
        // Rounding in the running slope is at most a few ulps of the changes added so far: a
        // slope within that of zero is zero (a flat piece must stay flat).
        var magnitude = abs(leftSlope)
        func snapped(_ slope: Double) -> Double { abs(slope) <= 64 * Double.ulpOfOne * magnitude ? 0 : max(slope, 0) }
        for event in events {
            magnitude += abs(event.change)
            if prices.isEmpty || event.price > last {
                value += slopes[slopes.count - 1] * (event.price - last)
                prices.append(event.price)
                values.append(value)
                last = event.price
                slope += event.change
                slopes.append(snapped(slope))
            } else {
                // Same price again: only the slope after it changes.
                slope += event.change
                slopes[slopes.count - 1] = snapped(slope)
            }
        }
        // The tails are known exactly.
        slopes[slopes.count - 1] = rightSlope
        self.init(prices: prices, values: values, slopes: slopes)
    }

    private init(prices: [Double], values: [Double], slopes: [Double]) {
        self.prices = prices
        self.values = values
        self.slopes = slopes
    }

    /// The export at price `price`.
    public func value(at price: Double) -> Double {
        let k = firstBreakpoint(after: price)
        if k == 0 { return values[0] - slopes[0] * (prices[0] - price) }
        return values[k - 1] + slopes[k] * (price - prices[k - 1])
    }

    /// Index of the first breakpoint strictly above `price` (`prices.count` if none).
    private func firstBreakpoint(after price: Double) -> Int {
        var low = 0, high = prices.count
        while low < high {
            let mid = (low + high) / 2
            if prices[mid] > price { high = mid } else { low = mid + 1 }
        }
        return low
    }

    /// The events (breakpoint, slope change) of this curve.
    func events() -> [(price: Double, change: Double)] {
        prices.indices.map { (prices[$0], slopes[$0 + 1] - slopes[$0]) }
    }

    /// The pointwise sum of curves.
    public static func sum(_ curves: [ResponseCurve]) -> ResponseCurve {
        guard curves.count > 1 else { return curves.first ?? ResponseCurve(constant: 0) }
        var events: [(price: Double, change: Double)] = []
        events.reserveCapacity(curves.reduce(0) { $0 + $1.prices.count })
        var leftSlope = 0.0, rightSlope = 0.0
        for curve in curves {
            events += curve.events()
            leftSlope += curve.slopes[0]
            rightSlope += curve.slopes[curve.prices.count]
        }
        events.sort { $0.price < $1.price }
        let start = events.first?.price ?? 0
        let anchor = curves.reduce(0.0) { $0 + $1.value(at: start) }
        return ResponseCurve(anchorValue: anchor, leftSlope: leftSlope, rightSlope: rightSlope, events: events)
    }

    /// Limits of the curve at −∞ and +∞ (infinite unless the tail is flat).
    var lowestValue: Double { slopes[0] > 0 ? -Double.infinity : values[0] }
    var highestValue: Double { slopes[prices.count] > 0 ? Double.infinity : values[prices.count - 1] }

    /// The smallest price where the curve is ≥ `level` (`strictly`: > `level`), for a level
    /// strictly inside the curve's range.
    private func crossing(_ level: Double, strictly: Bool) -> Double {
        var low = 0, high = prices.count
        while low < high {
            let mid = (low + high) / 2
            if strictly ? values[mid] > level : values[mid] >= level { high = mid } else { low = mid + 1 }
        }
        let k = low, n = prices.count
        if k == 0 { return prices[0] - (values[0] - level) / slopes[0] }
        if k == n { return prices[n - 1] + (level - values[n - 1]) / slopes[n] }
        return prices[k - 1] + (level - values[k - 1]) / slopes[k]
    }

    /// The prices at which the curve equals `level`: `[lower, upper]` (equal unless the curve is
    /// flat there; an end is infinite when a flat tail sits at `level`); nil when it never does.
    public func preimage(of level: Double) -> (lower: Double, upper: Double)? {
        guard lowestValue <= level, highestValue >= level else { return nil }
        let lower = lowestValue == level ? -Double.infinity : crossing(level, strictly: false)
        let upper = highestValue == level ? Double.infinity : crossing(level, strictly: true)
        return (lower, max(lower, upper))
    }

    /// The curve clamped to `[low, high]` (what a subtree can export through a rated line).
    public func clamped(low: Double, high: Double) -> ResponseCurve {
        if highestValue <= low { return ResponseCurve(constant: low) }
        if lowestValue >= high { return ResponseCurve(constant: high) }
        let start: Double? = lowestValue < low ? crossing(low, strictly: false) : nil
        let end: Double? = highestValue > high ? crossing(high, strictly: false) : nil
        var newPrices: [Double] = [], newValues: [Double] = []
        newPrices.reserveCapacity(prices.count + 2)
        newValues.reserveCapacity(prices.count + 2)
        if let start {
            newPrices.append(start)
            newValues.append(low)
        }
        for k in prices.indices where (start.map { prices[k] > $0 } ?? true) && (end.map { prices[k] < $0 } ?? true) {
            newPrices.append(prices[k])
            newValues.append(values[k])
        }
        if let end, end > (newPrices.last ?? -Double.infinity) {
            newPrices.append(end)
            newValues.append(high)
        }
        if newPrices.isEmpty { return ResponseCurve(constant: min(max(values[0], low), high)) }
        // Slopes between kept points are the original ones there (read at the midpoint).
        var newSlopes = [start == nil ? slopes[0] : 0]
        for k in 1..<max(newPrices.count, 1) {
            let middle = 0.5 * (newPrices[k - 1] + newPrices[k])
            newSlopes.append(slopes[firstBreakpoint(after: middle)])
        }
        newSlopes.append(end == nil ? slopes[prices.count] : 0)
        return ResponseCurve(prices: newPrices, values: newValues, slopes: newSlopes)
    }

    /// The curve seen through `w + a·X(w) = intercept` (a community in Mode B, facing its
    /// intercept rather than its price): export as a function of the intercept.
    public func throughIntercept(sensitivity a: Double) -> ResponseCurve {
        let newPrices = prices.indices.map { prices[$0] + a * values[$0] }
        let newSlopes = slopes.map { $0 / (1 + a * $0) }
        return ResponseCurve(prices: newPrices, values: values, slopes: newSlopes)
    }
}
