import ESMGrid

/// The paper's hierarchical distributed bidding (two_layer.md §4, Algorithm 2): the wide-area
/// market posts locational prices `π_i = λ + Σ_{l∈path(i)} (μ⁺_l − μ⁻_l)`, every community answers
/// with its prosumers' bids, and the prices follow projected dual ascent on the imbalance and the
/// line-limit violations until the stopping tests of §4 step 4 hold. Each community's answer is
/// its exact equilibrium at the posted price (Mode B: at the posted intercept — the fixed point
/// Algorithm 1 converges to).
struct TwoLayerBidding {
    var instance: TwoLayer.Instance
    var options: Options
    var control: SolveControl

    func run() throws -> TwoLayer.Outcome {
        let tree = instance.tree
        let markets = instance.markets
        let k = markets.count
        let limited = instance.exportLimits.indices.filter { instance.exportLimits[$0] != nil }
        // Communities below each limited line (the −1 entries of H).
        var below = [[Int]](repeating: [], count: tree.parent.count)
        for (i, bus) in instance.buses.enumerated() { below[bus].append(i) }
        for bus in tree.order.reversed() where tree.parent[bus] >= 0 { below[tree.parent[bus]] += below[bus] }
        var lineBus = [Int](repeating: -1, count: instance.exportLimits.count)
        for bus in tree.order where tree.parent[bus] >= 0 { lineBus[tree.parentLine[bus]] = bus }

        // Step sizes α = β = 1/L, L = ‖M·diag(√κ)‖², M = [1ᵀ; H; −H] (§4), with §4's rigorous
        // slope bounds. Mode A's "practical" κ = Σ 1/(c + a) undercounts a prosumer whose
        // marginal value is pinned at a retail price (the grid absorbs the change: slope 1/a, see
        // strategicSlope); near the band's edge the ascent then oscillated with a growing or
        // constant amplitude that the growth safeguard, which needs three growing iterations in
        // a row, never caught (iteration_limit, or overflow to NaN).
        let kappa = markets.indices.map { i -> Double in
            let a = markets[i].sensitivity
            if instance.modes[i] == .interceptEqualsDLMP { return 1 / a }
            return Double(markets[i].participants.count) / a
        }
        var step = 1 / Self.lipschitz(kappa: kappa, lines: limited.map { below[lineBus[$0]] })

        let band = markets.first?.band ?? RetailBand(sell: 0, buy: 1)
        let demand = markets.reduce(0.0) { $0 + $1.participants.reduce(0.0) { $0 + abs($1.demand) } }
        // §4 step 4 with the spec's 1e-6 replaced by options.tolerance (1e-8 by default): the
        // spec's defaults let a congestion price of 1e-4 survive on a line with 1 kW of slack,
        // too loose for prices that agree with the exact clearing to 1e-6.
        let balanceTolerance = options.tolerance * max(demand, 1)
        let slacknessTolerance = balanceTolerance * max(abs(band.buy), 1)
        let priceTolerance = options.tolerance
        let maxIterations = options.maxIterations ?? 100_000

        // Prices z = (λ, μ⁺, μ⁻); the ascent posts prices at the extrapolated point y (Nesterov
        // momentum, restarted whenever it stops pointing uphill — O'Donoghue & Candès), which
        // §4 allows as long as the stopping tests stay those of step 4.
        let lineCount = instance.exportLimits.count
        var lambda = 0.5 * (band.buy + band.sell), lambdaBefore = lambda
        var muUp = [Double](repeating: 0, count: lineCount), muDown = muUp
        var muUpBefore = muUp, muDownBefore = muDown
        var momentum = 1.0
        var previous: [Double]? = nil
        var growth = 0, lastViolation = Double.infinity
        var iteration = 0
        var exports = [Double](repeating: 0, count: k)
        var busPrices = [Double](repeating: lambda, count: tree.parent.count)
        var status = ResultStatus.iterationLimit
        var postedUp = muUp, postedDown = muDown
        while iteration < maxIterations {
            iteration += 1
            let nextMomentum = 0.5 * (1 + (1 + 4 * momentum * momentum).squareRoot())
            let beta = (momentum - 1) / nextMomentum
            let postedLambda = lambda + beta * (lambda - lambdaBefore)
            for line in limited {
                postedUp[line] = max(0, muUp[line] + beta * (muUp[line] - muUpBefore[line]))
                postedDown[line] = max(0, muDown[line] + beta * (muDown[line] - muDownBefore[line]))
            }
            // 1. Prices, one pre-order pass.
            busPrices[tree.root] = postedLambda
            for bus in tree.order where tree.parent[bus] >= 0 {
                let line = tree.parentLine[bus]
                busPrices[bus] = busPrices[tree.parent[bus]] + postedUp[line] - postedDown[line]
            }
            let prices = instance.buses.map { busPrices[$0] }
            // 2. Community answers.
            for i in 0..<k { exports[i] = answer(i, price: prices[i]) }
            // 3. Residuals: imbalance, flows f_l = −(exports below l), violations, slackness.
            let imbalance = exports.reduce(0, +)
            var violation = 0.0, slackness = 0.0
            var flows = [Double](repeating: 0, count: lineCount)
            for line in limited {
                guard let range = instance.exportLimits[line] else { continue }
                let subtreeExport = below[lineBus[line]].reduce(0.0) { $0 + exports[$1] }
                flows[line] = -subtreeExport
                violation = max(violation, subtreeExport - range.upperBound, range.lowerBound - subtreeExport)
                // μ⁺ prices f ≤ −low (flow into the subtree), μ⁻ prices −f ≤ high.
                slackness = max(slackness, postedUp[line] * (-range.lowerBound - flows[line]),
                                postedDown[line] * (range.upperBound + flows[line]))
            }
            let priceChange = previous.map { zip($0, prices).reduce(0.0) { max($0, abs($1.0 - $1.1)) } } ?? .infinity
            previous = prices
            if options.log == .iterations || iteration % 100 == 0 {
                let event = #"{"event":"iteration","mechanism":"two_layer","iteration":\#(iteration),"imbalanceKW":\#(ConicMechanism.finite(imbalance)),"violationKW":\#(ConicMechanism.finite(max(violation, 0))),"priceChange":\#(priceChange.isFinite ? priceChange : -1)}"#
                if control.report(event) { status = .interrupted; break }
            }
            // Progress events and results must stay JSON: stop rather than iterate on NaN.
            if !(imbalance.isFinite && violation.isFinite && slackness.isFinite) { status = .numericalError; break }
            if control.pastDeadline { status = .timeLimit; break }
            // 4. Stopping tests.
            if abs(imbalance) <= balanceTolerance && violation <= balanceTolerance && slackness <= slacknessTolerance
                && priceChange <= priceTolerance {
                status = .solved
                break
            }
            // Safeguard (§4): when the residuals grow three times in a row, drop the momentum;
            // if they still grow without it, halve the steps.
            let size = abs(imbalance) + max(violation, 0)
            growth = size > lastViolation ? growth + 1 : 0
            lastViolation = size
            var restart = false
            if growth >= 3 {
                if momentum > 1 { restart = true } else { step *= 0.5 }
                growth = 0
            }
            // 5. Projected dual ascent from the posted prices: a surplus lowers λ, a flow over
            // its limit raises that direction's congestion price.
            let newLambda = postedLambda - step * imbalance
            var uphill = (newLambda - lambda) * -imbalance
            lambdaBefore = lambda
            lambda = newLambda
            for line in limited {
                guard let range = instance.exportLimits[line] else { continue }
                let gradientUp = flows[line] + range.lowerBound, gradientDown = -flows[line] - range.upperBound
                let newUp = max(0, postedUp[line] + step * gradientUp)
                let newDown = max(0, postedDown[line] + step * gradientDown)
                uphill += (newUp - muUp[line]) * gradientUp + (newDown - muDown[line]) * gradientDown
                muUpBefore[line] = muUp[line]
                muDownBefore[line] = muDown[line]
                muUp[line] = newUp
                muDown[line] = newDown
            }
            momentum = uphill < 0 || restart ? 1 : nextMomentum
        }
        // The last posted prices are the outcome.
        for line in limited {
            muUp[line] = postedUp[line]
            muDown[line] = postedDown[line]
        }
        let upper = instance.buses.map { busPrices[$0] }
        let equilibria = upper.indices.map { instance.respond($0, upperPrice: upper[$0]) }
        var congestion = [Double](repeating: 0, count: instance.exportLimits.count)
        for line in limited { congestion[line] = muUp[line] - muDown[line] }
        let message = status == .solved ? "" : "bidding stopped after \(iteration) iterations (\(status.rawValue)) before its stopping tests held"
        return TwoLayer.Outcome(upperPrices: upper, equilibria: equilibria, busPrices: busPrices,
                                congestionPrices: congestion, iterations: iteration, status: status, message: message)
    }

    /// A community's export at the posted price: its prosumers' bids (Mode A) or its own cleared
    /// market at that intercept (Mode B).
    func answer(_ i: Int, price: Double) -> Double {
        let market = instance.markets[i]
        if instance.modes[i] == .lamPriceEqualsDLMP {
            return market.participants.reduce(0.0) { $0 + $1.strategicResponse(price: price, impact: market.sensitivity, band: market.band).sharedExportKW }
        }
        var uncleared = market
        uncleared.clearing = .intercept(price)
        return uncleared.solve().exportKW
    }

    /// Largest eigenvalue of `M·diag(κ)·Mᵀ`, `M = [1ᵀ; H; −H]`, by power iteration on the small
    /// (1 + 2·lines)-square matrix.
    static func lipschitz(kappa: [Double], lines: [[Int]]) -> Double {
        // Rows of M as lists of (community, coefficient).
        var rows: [[(Int, Double)]] = [kappa.indices.map { ($0, 1.0) }]
        for members in lines {
            rows.append(members.map { ($0, -1.0) })
            rows.append(members.map { ($0, 1.0) })
        }
        let size = rows.count
        var gram = [[Double]](repeating: [Double](repeating: 0, count: size), count: size)
        var dense = [[Double]](repeating: [Double](repeating: 0, count: kappa.count), count: size)
        for (r, row) in rows.enumerated() { for (i, value) in row { dense[r][i] = value } }
        for r in 0..<size {
            for s in r..<size {
                var total = 0.0
                for i in kappa.indices { total += dense[r][i] * kappa[i] * dense[s][i] }
                gram[r][s] = total
                gram[s][r] = total
            }
        }
        var vector = [Double](repeating: 1, count: size)
        var eigenvalue = 0.0
        for _ in 0..<200 {
            var next = [Double](repeating: 0, count: size)
            for r in 0..<size { for s in 0..<size { next[r] += gram[r][s] * vector[s] } }
            let norm = next.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm > 0 else { break }
            eigenvalue = norm / max(vector.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-300)
            vector = next.map { $0 / norm }
        }
        return max(eigenvalue, 1e-12)
    }
}
