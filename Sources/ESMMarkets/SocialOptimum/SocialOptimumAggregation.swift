import ESMGrid
import ESMSolver

/// The fast exact path of `social_optimum`: one flex variable per bus instead of per prosumer.
///
/// At the optimum every prosumer is a price taker at its bus price λ_i: with costA > 0 it
/// produces p_j = clip((λ_i − costB_j)/costA_j, minKW_j, maxKW_j). So bus i's flex is its supply
/// curve S_i(λ_i) = Σ_j p_j(λ_i), continuous, nondecreasing and piecewise linear, with a
/// breakpoint where a prosumer reaches a bound (λ = costB + costA · bound). On each piece
/// S_i(λ) = α + s λ, and the bus's aggregate cost C_i(F) (the least cost of producing F at the bus)
/// is the quadratic whose marginal cost is (F − α)/s: F²/(2s) − α F/s + const (or F = α on a
/// flat piece, s = 0, where every prosumer sits at a bound).
///
/// Generalized Newton on the pieces: guess the bus prices (the substation price), take each bus's
/// piece at its price, solve the network problem with those quadratic bus costs, read the new bus
/// prices (balance duals), and repeat until every bus's price lies on the piece its cost was taken
/// from. Then the KKT conditions of the small problem are those of the full one (the model cost
/// equals C_i, up to a constant, on the piece that holds the solution, and C_i is convex), so the
/// answer is exact, and each prosumer's output follows from its bus price. A price within
/// 1e-7 (relative) of the piece counts as on it: the prosumers whose breakpoint lies in that gap
/// are then off by at most that much divided by their costA.
///
/// Used when every prosumer with a flex range has costA > 0 (a costA = 0 prosumer makes the curve
/// jump); after `maxIterations` without settling, or on any solver failure, the caller falls back
/// to the per-prosumer model.
enum SocialOptimumAggregation {
    static let maxIterations = 12
    static let priceTolerance = 1e-7

    /// One bus's supply curve in kW against price (currency/kWh).
    struct Supply {
        /// Sorted distinct prices where a prosumer reaches a bound.
        var breakpoints: [Double] = []
        /// Piece k lies between breakpoints k − 1 and k (piece 0 below the first, the last above
        /// the last): S(λ) = intercept[k] + slope[k] · λ.
        var slope: [Double] = [0]
        var intercept: [Double] = [0]

        init(prosumers: [(a: Double, b: Double, lo: Double, hi: Double)]) {
            var events: [(price: Double, slope: Double, intercept: Double)] = []
            events.reserveCapacity(2 * prosumers.count)
            var base = 0.0
            for who in prosumers {
                base += who.lo
                let inverse = 1 / who.a
                events.append((who.b + who.a * who.lo, inverse, -who.b * inverse - who.lo))
                events.append((who.b + who.a * who.hi, -inverse, who.b * inverse + who.hi))
            }
            events.sort { $0.price < $1.price }
            var s = 0.0, c = base
            slope = [s]
            intercept = [c]
            var k = 0
            while k < events.count {
                let price = events[k].price
                while k < events.count && events[k].price == price {
                    s += events[k].slope
                    c += events[k].intercept
                    k += 1
                }
                breakpoints.append(price)
                slope.append(max(s, 0))
                intercept.append(c)
            }
            // Exactly flat pieces (everyone at a bound) must read as flat despite rounding.
            let steepest = slope.max() ?? 0
            for i in slope.indices where slope[i] < 1e-12 * steepest { slope[i] = 0 }
        }

        /// The piece holding price λ (ties go to the lower piece).
        func piece(at price: Double) -> Int {
            var lo = 0, hi = breakpoints.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if breakpoints[mid] < price { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }

        /// Whether `price` lies on piece k (closed, with a relative tolerance).
        func holds(_ k: Int, _ price: Double) -> Bool {
            let tolerance = SocialOptimumAggregation.priceTolerance * max(1, abs(price))
            if k > 0 && price < breakpoints[k - 1] - tolerance { return false }
            if k < breakpoints.count && price > breakpoints[k] + tolerance { return false }
            return true
        }
    }

    /// The per-bus supply curves, or nil when the aggregation does not apply (a flexible prosumer
    /// with costA = 0, or none flexible at all).
    static func supplies(_ setup: PeriodSetup) -> [Int: Supply]? {
        let t = setup.period
        var byBus: [Int: [(a: Double, b: Double, lo: Double, hi: Double)]] = [:]
        for who in setup.problem.prosumers {
            guard let flex = who.flex, flex.maxKW[t] > flex.minKW[t], let bus = who.bus else { continue }
            let a = flex.costA[t]
            guard a > 0, a.isFinite, (1 / a).isFinite else { return nil }
            byBus[bus, default: []].append((a, flex.costB[t], flex.minKW[t], flex.maxKW[t]))
        }
        guard !byBus.isEmpty else { return nil }
        return byBus.mapValues { Supply(prosumers: $0) }
    }

    /// The exact dispatch by bus aggregation, or nil (the caller then solves per prosumer).
    /// `spent` accumulates the solver iterations and seconds, also of an attempt that gives up.
    static func dispatch(_ setup: PeriodSetup, options: Options, control: SolveControl,
                         spent: inout (iterations: Int, seconds: Double)) throws -> PeriodDispatch? {
        guard let curves = supplies(setup) else { return nil }
        let buses = curves.keys.sorted()
        let supplyAt = buses.compactMap { curves[$0] }  // aligned with `buses`
        let t = setup.period
        var prices = [Double](repeating: setup.grid.substationPrice?[t]
                                ?? 0.5 * (setup.grid.buyPrice[t] + setup.grid.sellPrice[t]), count: buses.count)
        // A previous solve's bus prices (the recovery's solves differ only in the network's
        // tightening): start on the pieces they name, which the first guess may find infeasible.
        if let guess = setup.priceGuess, guess.count == setup.feeder.busCount {
            for (i, bus) in buses.enumerated() where guess[bus].isFinite { prices[i] = guess[bus] }
        }
        for _ in 0..<maxIterations {
            let pieces = buses.indices.map { supplyAt[$0].piece(at: prices[$0]) }
            let assembled = setup.assembleAggregate(buses: buses, curves: supplyAt, pieces: pieces)
            // A curve too steep for double precision gives non-finite coefficients: solve per prosumer.
            guard let built = try? assembled.builder.build() else { return nil }
            let solution = SocialOptimum.solve(built.problem, options: options, control: control)
            spent.iterations += solution.iterations
            spent.seconds += solution.solveSeconds
            if solution.status == .interrupted {
                // The observer asked to stop: no fallback solve.
                return PeriodDispatch(built: built, flow: assembled.flow, injections: assembled.injections, solution: solution,
                                      flexKW: [Double](repeating: 0, count: setup.problem.prosumers.count), aggregated: true)
            }
            if solution.status == .primalInfeasible && !pieces.indices.contains(where: { supplyAt[$0].slope[pieces[$0]] == 0 }) {
                // Every bus flex free (no flat piece fixes one): this problem relaxes the full one,
                // so the full one is infeasible too; the caller diagnoses it.
                return PeriodDispatch(built: built, flow: assembled.flow, injections: assembled.injections, solution: solution,
                                      flexKW: [Double](repeating: 0, count: setup.problem.prosumers.count), aggregated: true)
            }
            guard solution.status == .solved else { return nil }
            let perKW = assembled.flow.activePrices(y: solution.y, model: built).map { $0 * setup.priceScale * setup.feeder.baseKVA }
            var settled = true
            for (i, bus) in buses.enumerated() {
                prices[i] = perKW[bus]
                if !supplyAt[i].holds(pieces[i], prices[i]) { settled = false }
            }
            if settled {
                var solved = solution
                solved.iterations = spent.iterations
                solved.solveSeconds = spent.seconds
                var flexKW = [Double](repeating: 0, count: setup.problem.prosumers.count)
                var busFlex = [Int: (sum: Double, range: Double)]()
                for (j, who) in setup.problem.prosumers.enumerated() {
                    guard let flex = who.flex, let bus = who.bus else { continue }
                    let lo = flex.minKW[t], hi = flex.maxKW[t]
                    if hi > lo {
                        let p = (perKW[bus] - flex.costB[t]) / flex.costA[t]
                        flexKW[j] = p.isFinite ? min(max(p, lo), hi) : lo
                        busFlex[bus, default: (0, 0)].sum += flexKW[j]
                        busFlex[bus, default: (0, 0)].range += hi - lo
                    } else {
                        flexKW[j] = lo
                    }
                }
                // The exactness argument holds only if each bus's curve, evaluated at its price, is
                // what its prosumers produce there. Very steep curves (costA near 0) break that in
                // double precision (the pieces' intercepts cancel): then solve per prosumer.
                for (i, bus) in buses.enumerated() {
                    let curve = supplyAt[i], k = pieces[i]
                    let modelled = curve.intercept[k] + curve.slope[k] * perKW[bus]
                    let actual = busFlex[bus] ?? (0, 0)
                    if !(abs(modelled - actual.sum) <= 1e-6 * max(1, actual.range)) { return nil }
                }
                return PeriodDispatch(built: built, flow: assembled.flow, injections: assembled.injections,
                                      solution: solved, flexKW: flexKW, aggregated: true)
            }
        }
        return nil
    }
}

extension PeriodSetup {
    /// The dispatch problem with one flex variable per bus of `buses` (pu), costed by the
    /// quadratic of its supply curve's piece `pieces[i]`; a flat piece is a fixed injection.
    func assembleAggregate(buses: [Int], curves: [SocialOptimumAggregation.Supply], pieces: [Int]) -> Assembled {
        let t = period
        let base = feeder.baseKVA
        let n = feeder.busCount
        var builder = ConicBuilder()
        let block = builder.addVariables("bus flex", count: buses.count)
        let flat = builder.addGroup("flat bus flex", .zero)
        var active = [LinearExpression](repeating: .zero, count: n)
        var reactive = [LinearExpression](repeating: .zero, count: n)
        for (i, bus) in buses.enumerated() {
            let curve = curves[i], k = pieces[i]
            let s = curve.slope[k], alpha = curve.intercept[k]
            if s > 0 {
                // Cost (F − α)²/(2s) with F = base · φ, in units of priceScale · base.
                builder.addQuadraticCost(block[i], base / (s * priceScale))
                builder.addLinearCost(block[i], -alpha / (s * priceScale))
                active[bus].add(block[i], base)
            } else {
                builder.addEquality(flat, .variable(block[i]), alpha / base)
                active[bus].add(block[i], base)
            }
        }
        for who in problem.prosumers {
            guard let bus = who.bus, bus >= 0, bus < n else { continue }
            var fixed = who.pvKW[t] - who.loadKW[t]
            if let flex = who.flex, !(flex.maxKW[t] > flex.minKW[t]) { fixed += flex.minKW[t] }
            active[bus].constant += fixed
            reactive[bus].constant -= who.qLoadKVAr[t]
        }
        let injections = BusInjections(activeKW: active, reactiveKVAr: reactive)
        let flow = feeder.addModel(model, to: &builder, injections: injections, options: branchFlowOptions())
        addSubstationCost(to: &builder, flow: flow, weight: 1)
        return Assembled(builder: builder, flexVariables: [], injections: injections, flow: flow)
    }
}
