/// One community's sharing market cleared exactly (two_layer.md §3.5, energy_sharing.md):
/// the equilibrium price is the root of a nondecreasing piecewise-linear function of the price,
/// found by sorting every prosumer's breakpoints once, bracketing the root among them by binary
/// search, and solving the linear piece in closed form. O(n log n), no tolerance to tune.
public struct CommunityMarket: Sendable {
    /// How the community's total export `X = Σ x_j` is determined.
    public enum Clearing: Sendable, Equatable {
        /// The community must balance: `X = 0`; the price is whatever clears it.
        case balanced
        /// Uncleared market facing the intercept: `price = intercept − a·X`.
        case intercept(Double)
    }

    public var participants: [SharingParticipant]
    /// Price sensitivity `a > 0` of the sharing price.
    public var sensitivity: Double
    public var band: RetailBand
    public var clearing: Clearing
    /// Prosumers ignore their own price impact (competitive outcome) instead of playing Nash.
    public var priceTaking: Bool

    public init(participants: [SharingParticipant], sensitivity: Double, band: RetailBand,
                clearing: Clearing, priceTaking: Bool = false) {
        self.participants = participants
        self.sensitivity = sensitivity
        self.band = band
        self.clearing = clearing
        self.priceTaking = priceTaking
    }

    public struct Equilibrium: Sendable {
        public var price: Double
        /// Community's net export `X = Σ x_j` (0 when balanced).
        public var exportKW: Double
        public var decisions: [SharingDecision]
        /// Evaluations of the aggregate response during the root search.
        public var evaluations: Int
    }

    /// The equilibrium. Requires `sensitivity > 0` and, when `priceTaking`, `c > 0` for every
    /// participant with `pMax > pMin` (the caller validates both).
    public func solve() -> Equilibrium {
        priceTaking ? solvePriceTaking() : solveStrategic()
    }

    // MARK: Strategic (Nash) prosumers

    private func solveStrategic() -> Equilibrium {
        let a = sensitivity
        var points: [Double] = []
        points.reserveCapacity(4 * participants.count + 1)
        for participant in participants { points += participant.breakpoints(impact: a, band: band) }
        if case .intercept(let w0) = clearing { points.append(w0) }
        points.sort()
        var evaluations = 0
        // G(w) = (w − intercept)/a + X(w) (uncleared) or X(w) (balanced): nondecreasing, linear
        // between consecutive points, and with slope ≥ n/a beyond them.
        let g = { (w: Double) -> Double in
            evaluations += 1
            var total = 0.0
            for participant in self.participants {
                total += participant.strategicResponse(price: w, impact: a, band: self.band).sharedExportKW
            }
            if case .intercept(let w0) = self.clearing { total += (w - w0) / a }
            return total
        }
        let price = PiecewiseLinearRoot(points: points, function: g).midpointOfRoots()
        let decisions = participants.map { $0.strategicResponse(price: price, impact: a, band: band) }
        let exports: Double
        switch clearing {
        case .balanced: exports = 0
        case .intercept: exports = decisions.reduce(0) { $0 + $1.sharedExportKW }
        }
        return Equilibrium(price: price, exportKW: exports, decisions: decisions, evaluations: evaluations)
    }

    // MARK: Price-taking prosumers

    private func solvePriceTaking() -> Equilibrium {
        let a = sensitivity
        var evaluations = 0
        let target = { (w: Double) -> Double in
            if case .intercept(let w0) = self.clearing { return (w0 - w) / a }
            return 0
        }
        // G(w) = Σ surplus_j(w) − target(w), on the retail band only.
        let g = { (w: Double) -> Double in
            evaluations += 1
            var total = 0.0
            for participant in self.participants { total += participant.surplus(atMarginalValue: w) }
            return total - target(w)
        }
        var points = [band.sell, band.buy]
        for participant in participants {
            for kink in [participant.b + participant.c * participant.pMin, participant.b + participant.c * participant.pMax]
            where kink > band.sell && kink < band.buy {
                points.append(kink)
            }
        }
        points.sort()
        let price: Double
        if g(band.buy) <= 0 {
            price = band.buy
        } else if g(band.sell) >= 0 {
            price = band.sell
        } else {
            price = PiecewiseLinearRoot(points: points, function: g).midpointOfRoots()
        }
        var decisions = participants.map { $0.priceTakingResponse(price: price) }
        if price == band.buy || price == band.sell {
            allocateGridTrades(&decisions, total: target(price) - decisions.reduce(0) { $0 + $1.sharedExportKW })
        }
        let exports = decisions.reduce(0) { $0 + $1.sharedExportKW }
        return Equilibrium(price: price, exportKW: clearing == .balanced ? 0 : exports,
                           decisions: decisions, evaluations: evaluations)
    }

    /// At a band edge price-taking prosumers are indifferent about who trades with the grid.
    /// Tie-break: a shortfall (`total > 0`, bought at buyPrice) is bought by the prosumers in
    /// deficit in proportion to their deficits, a surplus (`total < 0`, sold at sellPrice) by the
    /// prosumers in surplus in proportion to their surpluses; any remainder is split equally.
    private func allocateGridTrades(_ decisions: inout [SharingDecision], total: Double) {
        guard total != 0, !decisions.isEmpty else { return }
        let buying = total > 0
        let need = abs(total)
        let weights = decisions.map { buying ? max(-$0.sharedExportKW, 0) : max($0.sharedExportKW, 0) }
        let weightSum = weights.reduce(0, +)
        let remainderEach = max(need - weightSum, 0) / Double(decisions.count)
        for k in decisions.indices {
            let share = (weightSum > 0 ? min(need, weightSum) * weights[k] / weightSum : 0) + remainderEach
            if buying {
                decisions[k].gridBuyKW = share
                decisions[k].sharedExportKW += share
            } else {
                decisions[k].gridSellKW = share
                decisions[k].sharedExportKW -= share
            }
        }
    }
}

/// Root set of a continuous nondecreasing function that is linear between consecutive `points`
/// (sorted) and linear beyond them on either side.
struct PiecewiseLinearRoot {
    let points: [Double]
    let function: (Double) -> Double

    /// The midpoint of the interval where the function is zero (the root itself when unique).
    func midpointOfRoots() -> Double {
        guard !points.isEmpty else { return 0 }
        var cache = [Int: Double]()
        let value = { (k: Int) -> Double in
            if let v = cache[k] { return v }
            let v = function(points[k])
            cache[k] = v
            return v
        }
        let left = crossing(value: value, atLeastZero: true)
        let right = crossing(value: value, atLeastZero: false)
        return left == right ? left : 0.5 * (left + right)
    }

    /// The smallest w with f(w) ≥ 0 (`atLeastZero`), or the largest w with f(w) ≤ 0.
    private func crossing(value: (Int) -> Double, atLeastZero: Bool) -> Double {
        let n = points.count
        // First index k with f(points[k]) ≥ 0 (resp. > 0).
        var lo = 0, hi = n
        while lo < hi {
            let mid = (lo + hi) / 2
            let v = value(mid)
            if atLeastZero ? v >= 0 : v > 0 { hi = mid } else { lo = mid + 1 }
        }
        let k = lo
        if atLeastZero {
            if k == 0 { return tailRoot(at: 0, value: value(0), direction: -1) }
            if k == n { return tailRoot(at: n - 1, value: value(n - 1), direction: 1) }
            return interpolate(k - 1, k, value)
        } else {
            // Largest w with f ≤ 0 lies between points[k-1] (f ≤ 0) and points[k] (f > 0).
            if k == 0 { return tailRoot(at: 0, value: value(0), direction: -1) }
            if k == n { return tailRoot(at: n - 1, value: value(n - 1), direction: 1) }
            return interpolate(k - 1, k, value)
        }
    }

    private func interpolate(_ i: Int, _ j: Int, _ value: (Int) -> Double) -> Double {
        let x0 = points[i], x1 = points[j]
        let f0 = value(i), f1 = value(j)
        if f0 == 0 && f1 == 0 { return x0 }
        if f1 == f0 { return x0 }
        let t = -f0 / (f1 - f0)
        return x0 + min(max(t, 0), 1) * (x1 - x0)
    }

    /// Root on the linear tail beyond `points[k]` (direction −1: left of the first point).
    private func tailRoot(at k: Int, value fk: Double, direction: Double) -> Double {
        if fk == 0 { return points[k] }
        let step = max(1.0, abs(points[k]))
        let other = function(points[k] + direction * step)
        let slope = (other - fk) / (direction * step)
        guard slope > 0, slope.isFinite else { return points[k] }
        return points[k] - fk / slope
    }
}
