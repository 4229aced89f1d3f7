import Dispatch
import ESMGrid
import ESMSolver

/// Mechanism `two_layer_voltage` (spec/mechanisms/two_layer_voltage.md): community markets whose
/// uncleared energy is traded in an upper-layer market over the feeder's AC branch-flow model (SOC
/// relaxation) with reactive power and voltage limits, cleared in one shot — no iteration between
/// the layers (§4):
///
/// 1. every community's exact best-response table to its upper price π₀ (`CommunityBestResponse`,
///    O(n log n), in parallel with `options.threads`);
/// 2. one conic program over the network with each community's cost written as a function of its
///    injection (`TwoLayerVoltageUpperProblem`): the convex route where that function is convex,
///    the disjunctive MISOCP route (engine branch-and-bound) where it is not — or for every
///    community with `options.algorithm: "misocp"`; `"centralized"` enumerates every combination
///    of pieces instead (an independent reference for small cases);
/// 3. recovery (§3.10): each community's upper price from its injection (on a flat piece, the
///    optimal upper price closest to π_g), its exact equilibrium re-solved at that price, every
///    prosumer's decision, bus prices from the duals, and an AC power flow at the exact injections.
///
/// Step 2 runs under the relaxation-exactness policy (`RelaxationRecovery`): an upper layer whose
/// AC power flow is not the relaxation's state is solved again under the linearized voltage
/// ceiling; no AC-feasible point found is `infeasible` with the worst bus, an answer left inexact
/// `relaxation_inexact`.
///
/// π_g is `grid.substationPrice`; without one, the import is valued at `buyPrice` and the export
/// at `sellPrice` (api.md §2.5) and the tie-break aims at the middle of the tariff. Upper prices lie
/// in `options.upperPriceRange` (default `[sellPrice, buyPrice]`). `network.model: "lindistflow"`
/// swaps the network for its linearization (the comparison the paper argues against).
enum TwoLayerVoltage {
    /// How a community entered the upper problem: `convex` (its C(G) is convex: exact, no
    /// binaries), `envelope` (not convex, but its convex envelope is exact at the optimum: no
    /// binaries), `misocp` (the disjunctive encoding with one binary per piece).
    enum Route: String { case convex, envelope, misocp }

    /// One period's communities, ready for the upper layer.
    struct Instance {
        var markets: [CommunityMarket]
        var tables: [CommunityBestResponse]
        var segments: [[CommunityBestResponse.CostSegment]]
        var convex: [Bool]
        var buses: [Int]
        var reactiveKVAr: [Double]
        var members: [[Int]]
        /// Σ_j |demand_j| + max(|pMin_j|, |pMax_j|): what "relative" means for a community's kW.
        var sizeKW: [Double]
    }

    /// The upper layer's answer: each community's injection, and the network state.
    struct Upper {
        var solution: ConicSolution
        var built: ConicModel
        var flow: BranchFlowModel
        var injectionKW: [Double]
        var routes: [Route]
        var binaries = 0
        var nodes = 0
        /// Branch-and-bound gap in currency (0 without binaries).
        var gap = 0.0
        /// False when branch-and-bound stopped (limit, interruption) before any integer-feasible
        /// point: `solution.x` is then no market outcome.
        var hasPoint = true
        /// The per-bus injections of the problem solved (for the AC check).
        var injections = BusInjections()
    }

    static func clear(_ problem: Problem, control: SolveControl) throws -> MarketResult {
        let (network, tree, grid) = try validate(problem)
        let algorithm = problem.algorithm
        var result = MarketResult(mechanism: .twoLayerVoltage, status: .solved, algorithm: algorithm)
        if control.stopsAtStart(#"{"event":"start","mechanism":"two_layer_voltage","prosumers":\#(problem.prosumers.count)}"#, &result) { return result }
        let periods = problem.periods
        let members = TwoLayer.membersOfCommunities(problem)
        let model = network.model ?? .socp
        let verify = problem.options.verifyPowerFlow ?? true
        let n = problem.prosumers.count, k = problem.communities.count
        let busCount = network.buses.count, lineCount = network.lines.count
        var columns = ProsumerColumns(count: n * periods)
        let communityNames = ["price", "upperPrice", "upperPriceMin", "upperPriceMax", "unclearedExportKW", "injectionKW",
                              "flexCost", "operatorSurplus", "pieces"]
        var communityColumns = [[Double]](repeating: [Double](repeating: 0, count: k * periods), count: communityNames.count)
        var routes = [String](repeating: "", count: k)
        var networkColumns = NetworkColumns(busCount: busCount, lineCount: lineCount, periods: periods)
        var vAcPu = [Double](repeating: 0, count: busCount * periods)
        var objectives = [String: [Double]]()
        var quality = [String: Double]()
        func worst(_ name: String, _ value: Double) { quality[name] = max(quality[name] ?? 0, finite(value)) }
        var acMin = Double.infinity, acMax = -Double.infinity
        var iterations = 0, solveSeconds = 0.0, binaries = 0, nodes = 0, convexCount = 0, pieceCount = 0
        var exact = true, recoverySolves = 0
        var messages: [String] = []

        for t in 0..<periods {
            let feeder = try Feeder(network: network, tree: tree, period: t,
                                    scaleKVA: SocialOptimum.demandKVA(network: network, prosumers: problem.prosumers, period: t))
            let setup = PeriodSetup(problem: problem, grid: grid, feeder: feeder, model: model, period: t)
            let instance = Self.instance(problem, period: t, grid: grid, members: members)
            let convexTables = instance.convex.filter { $0 }.count
            let segmentCount = instance.segments.reduce(0) { $0 + $1.count }
            if control.report(#"{"event":"tables","mechanism":"two_layer_voltage","period":\#(t),"communities":\#(k),"convex":\#(convexTables),"segments":\#(segmentCount)}"#) {
                result.status = .interrupted
                result.message = "interrupted by the progress observer after the best-response tables"
                return result
            }
            // The relaxation-exactness policy (`RelaxationRecovery`): an upper layer whose AC power
            // flow is not its own state is solved again under the linearized voltage ceiling.
            var spent = (iterations: 0, seconds: 0.0, binaries: 0, nodes: 0)
            let outcome = try RelaxationRecovery(referenceKVA: setup.referenceKVA).run(solve: { tightening in
                var under = setup
                under.tightening = tightening
                let upper = algorithm == "centralized"
                    ? try enumerate(instance, setup: under, options: problem.options, control: control)
                    : try solveUpper(instance, setup: under, allDisjunctive: algorithm == "misocp",
                                     options: problem.options, control: control)
                spent.iterations += upper.solution.iterations
                spent.seconds += upper.solution.solveSeconds
                spent.binaries += upper.binaries
                spent.nodes += upper.nodes
                return upper
            }, point: { (upper: Upper) -> RelaxationRecovery.Point? in
                guard upper.solution.status.hasSolution && upper.hasPoint else { return nil }
                return RelaxationRecovery.Point(x: upper.solution.x, flow: upper.flow, injections: upper.injections,
                                                accurate: upper.solution.status == .solved)
            })
            let upper = outcome.value
            let solution = upper.solution
            iterations += spent.iterations
            solveSeconds += spent.seconds
            binaries += spent.binaries
            nodes += spent.nodes
            recoverySolves += outcome.recoverySolves
            if outcome.noFeasiblePoint, let check = outcome.check {
                let finding = RelaxationPolicy.finding(check, network: network, feeder: feeder)
                result.status = .infeasible
                result.message = (periods > 1 ? "period \(t): " : "") + finding.message
                result.diagnosis = finding.diagnosis + (periods > 1 ? [("period", "\(t)")] : [])
                result.iterations = iterations
                result.solveSeconds = solveSeconds
                return result
            }
            if let check = outcome.check, !check.exact {
                exact = false
                if result.status == .solved || result.status == .solvedInaccurate { result.status = .relaxationInexact }
                messages.append("period \(t): " + RelaxationPolicy.inexact(check, state: upper.flow.solution(x: upper.solution.x), feeder: feeder))
            }
            if solution.status == .interrupted {
                result.status = .interrupted
                result.message = "interrupted by the progress observer in period \(t)"
                return result
            }
            guard solution.status.hasSolution || solution.status == .iterationLimit || solution.status == .timeLimit else {
                result.status = solution.status == .primalInfeasible ? .infeasible : .numericalError
                let range = upperPriceRange(problem, grid: grid, period: t)
                let ceilingNote = outcome.tightening?.ceiling == nil ? ""
                    : "the SOC relaxation is not exact here, and under the linearized voltage ceiling (which keeps it exact) "
                result.message = (periods > 1 ? "period \(t): " : "") + ceilingNote + (solution.status == .primalInfeasible
                    ? "no upper prices in [\(describeNumber(range.lowerBound)), \(describeNumber(range.upperBound))] keep every voltage and line within its limits"
                    : "the upper-layer solve ended with \(solution.status.rawValue): \(solution.message)")
                result.iterations = iterations
                result.solveSeconds = solveSeconds
                return result
            }
            if !upper.hasPoint {
                result.status = solution.status == .iterationLimit ? .iterationLimit : solution.status == .timeLimit ? .timeLimit : .numericalError
                result.message = (periods > 1 ? "period \(t): " : "")
                    + "branch-and-bound ended with \(solution.status.rawValue) after \(upper.nodes) nodes before finding any integer-feasible point (\(upper.binaries) binaries): there is no market outcome to report; the default algorithm (non_iterative) needs binaries only where a community's convex envelope is not exact"
                result.iterations = iterations
                result.solveSeconds = solveSeconds
                result.fields = [("upperLayer", .object([("binaries", .number(Double(binaries))), ("nodes", .number(Double(nodes)))]))]
                return result
            }
            if solution.status != .solved {
                if result.status == .solved {
                    result.status = solution.status == .solvedInaccurate ? .solvedInaccurate
                        : solution.status == .iterationLimit ? .iterationLimit : .timeLimit
                }
                messages.append("period \(t): the upper layer ended with \(solution.status.rawValue)")
            }
            worst("primalResidual", solution.primalResidual)
            worst("dualResidual", solution.dualResidual)

            // Recovery: upper prices, exact equilibria, prosumers.
            let target = grid.substationPrice?[t] ?? 0.5 * (grid.sellPrice[t] + grid.buyPrice[t])
            let band = RetailBand(sell: grid.sellPrice[t], buy: grid.buyPrice[t])
            var exactInjection = [Double](repeating: 0, count: busCount)
            var reactiveAtBus = [Double](repeating: 0, count: busCount)
            var flexTotal = 0.0
            for i in 0..<k {
                let table = instance.tables[i], market = instance.markets[i]
                let size = max(instance.sizeKW[i], 1e-12)
                let embedded = upper.injectionKW[i]
                let prices = table.prices(atInjection: embedded, tolerance: flatTolerance * size)
                let upperLow = table.upperPrice(atPrice: prices.lowerBound)
                let upperHigh = table.upperPrice(atPrice: prices.upperBound)
                let upperPrice = min(max(target, upperLow), upperHigh)
                var facing = market
                facing.clearing = .intercept(upperPrice)
                let eq = facing.solve()
                var injection = 0.0, cost = 0.0
                for (position, j) in members[i].enumerated() {
                    let who = market.participants[position], d = eq.decisions[position]
                    let physical = who.physicalCost(d, band: band)
                    let payment = -eq.price * d.sharedExportKW
                    columns.set(j * periods + t, decision: d, netImport: who.demand - d.flexKW, cost: physical + payment,
                                payment: payment, standalone: who.standaloneCost(band: band))
                    injection += d.flexKW - who.demand
                    cost += who.productionCost(d.flexKW)
                }
                flexTotal += cost
                exactInjection[instance.buses[i]] += injection
                reactiveAtBus[instance.buses[i]] -= instance.reactiveKVAr[i]
                // Consistency of the table embedded in the upper problem with the exact re-solve (§4 step 7).
                let tablePrice = table.price(atUpper: upperPrice)
                let piece = table.pieces[table.piece(atPrice: tablePrice)]
                let priceScale = max(abs(eq.price), setup.priceScale)
                worst("embeddingErrorMax", max(abs(tablePrice - eq.price) / priceScale,
                                               abs(piece.export(tablePrice) - eq.exportKW) / size,
                                               abs(piece.injection(tablePrice) - injection) / size,
                                               abs(embedded - injection) / size))
                worst("equilibriumResidual", facing.equilibriumResidual(price: eq.price, decisions: eq.decisions))
                let row = i * periods + t
                let values = [eq.price, upperPrice, upperLow, upperHigh, eq.exportKW, injection, cost,
                              (upperPrice - eq.price) * eq.exportKW, Double(table.pieces.count)]
                for (column, value) in values.enumerated() { communityColumns[column][row] = finite(value) }
                if t == 0 { routes[i] = upper.routes[i].rawValue }
                if upper.routes[i] != .misocp { convexCount += 1 }
                pieceCount += table.pieces.count
            }

            // Network: the relaxation's state, prices from its duals, and the AC check.
            let x = solution.x
            let flow = upper.flow
            let state = flow.solution(x: x)
            let unscale = setup.priceScale * feeder.baseKVA
            let lmp = flow.locationalPrices(x: x, y: solution.y, model: upper.built)
            networkColumns.record(period: t, state: state, prices: lmp, unscale: unscale)
            let import0 = state.substationPKW
            let gridPart = grid.substationPrice.map { $0[t] * import0 }
                ?? grid.buyPrice[t] * max(import0, 0) - grid.sellPrice[t] * max(-import0, 0)
            objectives["socialCost", default: []].append(finite(flexTotal + gridPart))
            objectives["flexCost", default: []].append(finite(flexTotal))
            objectives["gridCost", default: []].append(finite(gridPart))
            objectives["lossesKW", default: []].append(finite(state.totalLossKW))
            worst("optimalityGap", upper.gap / max(abs(flexTotal + gridPart), 1e-12))
            if model == .socp {
                let reference = feeder.pu(setup.referenceKVA)
                var gap = 0.0
                for g in state.relaxationGapPu { gap = max(gap, g) }
                worst("relaxationGapMax", gap / (reference > 0 ? reference * reference : 1))
            }
            if verify {
                let ac = feeder.powerFlow(injectionKW: exactInjection, injectionKVAr: reactiveAtBus)
                if !ac.converged { messages.append("period \(t): the AC power flow did not converge (\(ac.message))") }
                var error = 0.0, violation = 0.0
                for bus in 0..<busCount {
                    vAcPu[bus * periods + t] = finite(ac.vPu[bus])
                    error = max(error, abs(ac.vPu[bus] - state.vPu[bus]))
                    if bus != feeder.root {
                        acMin = min(acMin, ac.vPu[bus])
                        acMax = max(acMax, ac.vPu[bus])
                        violation = max(violation, feeder.vMin - ac.vPu[bus], ac.vPu[bus] - feeder.vMax)
                    }
                }
                worst("acVoltageErrorMaxPu", error)
                worst("acVoltageViolationMaxPu", violation)
            }
        }

        result.message = messages.joined(separator: "; ")
        result.iterations = iterations
        result.solveSeconds = solveSeconds
        result.objective = ["socialCost", "flexCost", "gridCost", "lossesKW"].map { ($0, .perPeriod(objectives[$0] ?? [])) }
        var prosumers = ResultTable(ids: problem.prosumers.map(\.id), periods: periods)
        columns.write(into: &prosumers)
        var communities = ResultTable(ids: problem.communities.map(\.id), periods: periods)
        communities.addTextColumn("bus", problem.communities.map { c in c.bus.map { network.buses[$0].id } ?? "" })
        communities.addTextColumn("route", routes)
        for (name, values) in zip(communityNames, communityColumns) { communities.addColumn(name, values) }
        let (buses, lines) = networkColumns.tables(network, vAcPu: verify ? vAcPu : nil)
        result.tables = [("prosumers", prosumers), ("communities", communities), ("buses", buses), ("lines", lines)]
        var names = ["primalResidual", "dualResidual", "equilibriumResidual", "embeddingErrorMax", "optimalityGap"]
        if model == .socp { names.append("relaxationGapMax") }
        quality["relaxationExact"] = exact ? 1 : 0
        quality["recoverySolves"] = Double(recoverySolves)
        names += ["relaxationExact", "recoverySolves"]
        if verify { names += ["acVoltageErrorMaxPu", "acVoltageViolationMaxPu"] }
        result.quality = names.map { ($0, quality[$0] ?? 0) }
        if verify && acMin.isFinite { result.quality += [("acVoltageMinPu", acMin), ("acVoltageMaxPu", acMax)] }
        result.fields = [("upperLayer", .object([
            ("communities", .number(Double(k))),
            ("withoutBinaries", .number(Double(convexCount))),
            ("withBinaries", .number(Double(k * periods - convexCount))),
            ("pieces", .number(Double(pieceCount))),
            ("binaries", .number(Double(binaries))),
            ("nodes", .number(Double(nodes))),
        ]))]
        if problem.options.exportCurves {
            result.fields.append(("exportCurves", CommunityExportCurves.report(
                problem, grid: grid, members: members, priceTaking: false)))
        }
        _ = control.report(#"{"event":"done","mechanism":"two_layer_voltage","iterations":\#(iterations)}"#)
        return result
    }

    /// Injections within this fraction of a community's size of a flat level count as on it (the
    /// solver's accuracy): the upper price is then chosen along the whole flat run.
    static let flatTolerance = 1e-7
    /// Response pieces on which the injection moves by less than this fraction of the community's
    /// size count as flat.
    static let sliverTolerance = 1e-8

    /// Σ_j |demand_j| + max(|pMin_j|, |pMax_j|), kW: what "relative" means for a community's kW.
    static func size(_ market: CommunityMarket) -> Double {
        market.participants.reduce(0.0) { $0 + abs($1.demand) + max(abs($1.pMin), abs($1.pMax)) }
    }

    // MARK: Instance

    static func upperPriceRange(_ problem: Problem, grid: GridTariff, period t: Int) -> ClosedRange<Double> {
        if let range = problem.options.upperPriceRange { return range.min...max(range.min, range.max) }
        return grid.sellPrice[t]...grid.buyPrice[t]
    }

    static func instance(_ problem: Problem, period t: Int, grid: GridTariff, members: [[Int]]) -> Instance {
        let band = RetailBand(sell: grid.sellPrice[t], buy: grid.buyPrice[t])
        let range = upperPriceRange(problem, grid: grid, period: t)
        let markets = problem.communities.enumerated().map { i, community in
            CommunityMarket(participants: members[i].map { EnergySharing.participant(of: problem.prosumers[$0], period: t) },
                            sensitivity: community.sensitivity, band: band, clearing: .intercept(range.lowerBound))
        }
        // Tables in parallel across communities (each is independent, O(n log n)).
        let built = parallelMap(markets.count, threads: problem.options.threads) { i -> (CommunityBestResponse, [CommunityBestResponse.CostSegment]) in
            let table = CommunityBestResponse(market: markets[i], upperPriceRange: range)
            return (table, table.costSegments(minimumLength: sliverTolerance * size(markets[i])))
        }
        return Instance(
            markets: markets, tables: built.map(\.0), segments: built.map(\.1),
            convex: built.map { CommunityBestResponse.isConvex($0.1) },
            buses: problem.communities.map { $0.bus ?? 0 },
            reactiveKVAr: members.map { $0.reduce(0.0) { $0 + problem.prosumers[$1].qLoadKVAr[t] } },
            members: members,
            sizeKW: markets.map(size))
    }

    // MARK: Upper layer

    static func upperProblem(_ instance: Instance, setup: PeriodSetup,
                             forms: [TwoLayerVoltageUpperProblem.Form]) -> TwoLayerVoltageUpperProblem {
        TwoLayerVoltageUpperProblem(
            setup: setup, buses: instance.buses, reactiveKVAr: instance.reactiveKVAr,
            fixedInjectionKW: instance.tables.map(\.lowestInjection), forms: forms)
    }

    /// `non_iterative`: communities with a convex C_i(G) enter as themselves, the others as their
    /// convex envelope (the relaxation of their disjunctive encoding, without binaries). Where the
    /// optimum puts such a community on a bridge of its envelope (cost above the envelope by more
    /// than the tolerance), that community switches to the disjunctive encoding and the problem is
    /// solved again by branch-and-bound; repeated until no envelope is used where it is not exact.
    /// Then every community sits on its true cost and the answer is optimal: it is feasible, and
    /// optimal for a relaxation. `misocp`: the disjunctive encoding for every community.
    ///
    /// Convex costs (own or envelope) are written through `CostWindow`s — chords except near the
    /// optimum, grown until every injection is certified inside its window — unless `windowed` is
    /// false (every segment from the start; the tests' comparison).
    static func solveUpper(_ instance: Instance, setup: PeriodSetup, allDisjunctive: Bool, options: Options,
                           control: SolveControl, windowed: Bool = true) throws -> Upper {
        let count = instance.tables.count
        var routes = [Route](repeating: .convex, count: count)
        var envelopes = [[CommunityBestResponse.CostSegment]](repeating: [], count: count)
        for i in 0..<count where !instance.segments[i].isEmpty && (allDisjunctive || !instance.convex[i]) {
            if allDisjunctive {
                routes[i] = .misocp
            } else {
                routes[i] = .envelope
                envelopes[i] = CommunityBestResponse.convexEnvelope(instance.segments[i])
            }
        }
        // Convex costs enter through windows (`CostWindow`): chords away from the optimum.
        func convexList(_ i: Int) -> [CommunityBestResponse.CostSegment] {
            routes[i] == .envelope ? envelopes[i] : instance.segments[i]
        }
        var windows = (0..<count).map { i in
            windowed ? CostWindow(count: convexList(i).count) : CostWindow(exact: 0..<convexList(i).count)
        }
        var windowRounds = 0
        let unscale = setup.priceScale * setup.feeder.baseKVA
        var iterations = 0, seconds = 0.0, nodes = 0
        while true {
            let forms: [TwoLayerVoltageUpperProblem.Form] = (0..<count).map { i in
                let segments = instance.segments[i]
                if segments.isEmpty { return .fixed }
                switch routes[i] {
                case .convex, .envelope: return .convex(windows[i].segments(convexList(i)))
                case .misocp: return .disjunctive(segments)
                }
            }
            var upper = try solveOnce(instance, setup: setup, forms: forms, routes: routes, options: options,
                                      control: control, unscale: unscale)
            iterations += upper.solution.iterations
            seconds += upper.solution.solveSeconds
            nodes += upper.nodes
            upper.solution.iterations = iterations
            upper.solution.solveSeconds = seconds
            upper.nodes = nodes
            guard upper.solution.status.hasSolution else { return upper }
            // Is every injection where its written cost is exact? Else grow those windows.
            var grew = 0
            windowRounds += 1
            // First windows: where each community's marginal cost meets the price of injection at
            // its bus (the chords' optimum sits on a kink, which only brackets it).
            var busPrice: [Double] = []
            for i in 0..<count where routes[i] != .misocp {
                let list = convexList(i)
                guard !windows[i].isComplete(count: list.count) else { continue }
                let g = upper.injectionKW[i]
                let margin = windowMargin * max(instance.sizeKW[i], 1e-12)
                if !windows[i].certifies(g, in: list, margin: margin) {
                    if windows[i].exact.isEmpty && busPrice.isEmpty {
                        busPrice = upper.flow.activePrices(y: upper.solution.y, model: upper.built).map { $0 * unscale }
                    }
                    let bus = instance.buses[i]
                    windows[i] = windowRounds >= maxWindowRounds ? CostWindow(exact: 0..<list.count)
                        : windows[i].exact.isEmpty && bus < busPrice.count && busPrice[bus].isFinite
                        ? CostWindow.aroundSlope(busPrice[bus], in: list, radius: 4, reach: 2 * margin)
                        : windows[i].grown(around: g, in: list, radius: max(2, CostWindow.chordWidth(count: list.count)),
                                           reach: 2 * margin)
                    grew += 1

                }
            }
            if grew > 0 {
                _ = control.report(#"{"event":"window","mechanism":"two_layer_voltage","grown":\#(grew)}"#)
                continue
            }
            // Where does an envelope undercut the true cost at the solution?
            var switched = false
            for i in 0..<count where routes[i] == .envelope {
                let g = upper.injectionKW[i]
                let gap = CommunityBestResponse.value(of: instance.segments[i], at: g)
                    - CommunityBestResponse.value(of: envelopes[i], at: g)
                if gap > options.tolerance * setup.priceScale * max(instance.sizeKW[i], 1e-12) {
                    routes[i] = .misocp
                    switched = true
                }
            }
            if !switched { return upper }
            _ = control.report(#"{"event":"escalate","mechanism":"two_layer_voltage","misocp":\#(routes.filter { $0 == .misocp }.count)}"#)
        }
    }

    /// An injection within this fraction of its community's size of a window's inner end is not
    /// certified (the solver's accuracy on G is far coarser than on the cost near a flat optimum).
    static let windowMargin = 1e-4
    /// After this many solves with windows, the uncertified communities are written whole.
    static let maxWindowRounds = 3

    /// One solve of the upper problem with the given forms: interior point, or branch-and-bound
    /// when some community is disjunctive.
    static func solveOnce(_ instance: Instance, setup: PeriodSetup, forms: [TwoLayerVoltageUpperProblem.Form],
                          routes: [Route], options: Options, control: SolveControl, unscale: Double) throws -> Upper {
        let assembled = upperProblem(instance, setup: setup, forms: forms).assemble()
        let built = try assembled.builder.build()
        var upper: Upper
        if built.problem.integers.isEmpty {
            let solution = SocialOptimum.solve(built.problem, options: options, control: control)
            upper = Upper(solution: solution, built: built, flow: assembled.flow, injectionKW: [], routes: routes)
        } else {
            var settings = BranchAndBoundSettings()
            // Node relaxations solved 1000x tighter than asked: the costs are flat near the
            // optimum (a community's response is piecewise), so a node solved to the tolerance
            // pins the cost but leaves the point 1e-5 off the one the other routes return.
            settings.solver = SocialOptimum.settings(tolerance: max(options.tolerance * 0.001, 1e-13))
            settings.relativeGap = max(options.tolerance * 100, 1e-10)
            settings.absoluteGap = 1e-12
            if let limit = options.timeLimitSeconds { settings.timeLimitSeconds = limit }
            if let limit = options.maxIterations { settings.maxNodes = limit }
            let search = solveMixedInteger(built.problem, settings: settings) { progress in
                control.report(#"{"event":"node","mechanism":"two_layer_voltage","nodes":\#(progress.nodes),"incumbent":\#(finite(progress.incumbentObjective)),"bound":\#(finite(progress.bestBound))}"#)
            }
            upper = Upper(solution: search.conicSolution, built: built, flow: assembled.flow, injectionKW: [], routes: routes,
                          binaries: built.problem.integers.count, nodes: search.nodes, gap: finite(search.gap * unscale),
                          hasPoint: search.hasIncumbent)
        }
        upper.injectionKW = assembled.communityInjectionKW.map { finite($0.value(at: upper.solution.x)) }
        upper.injections = assembled.injections
        return upper
    }

    /// `centralized`: every combination of one cost segment per community, each a convex problem;
    /// the cheapest is the optimum. Independent of the convexity check and of branch-and-bound, and
    /// exponential: for small cases (at most `maxCombinations`).
    static let maxCombinations = 20_000

    static func enumerate(_ instance: Instance, setup: PeriodSetup, options: Options, control: SolveControl) throws -> Upper {
        let counts = instance.segments.map { max($0.count, 1) }
        var total = 1
        for c in counts {
            let (product, overflow) = total.multipliedReportingOverflow(by: c)
            total = overflow ? Int.max : product
            if total > maxCombinations {
                throw InputError.unsupported("options.algorithm", "centralized enumerates every combination of the communities' response pieces: more than \(maxCombinations) here; use it on small cases")
            }
        }
        let unscale = setup.priceScale * setup.feeder.baseKVA
        var choice = [Int](repeating: 0, count: counts.count)
        var best: Upper?
        var bestCost = Double.infinity
        var iterations = 0, seconds = 0.0
        for _ in 0..<total {
            var forms: [TwoLayerVoltageUpperProblem.Form] = []
            var constant = 0.0
            for i in counts.indices {
                let segments = instance.segments[i]
                if segments.isEmpty {
                    forms.append(.fixed)
                } else {
                    forms.append(.convex([segments[choice[i]]]))
                    constant += segments[choice[i]].costLow
                }
            }
            let assembled = upperProblem(instance, setup: setup, forms: forms).assemble()
            let built = try assembled.builder.build()
            let solution = SocialOptimum.solve(built.problem, options: options, control: control)
            iterations += solution.iterations
            seconds += solution.solveSeconds
            if solution.status == .interrupted {
                return Upper(solution: solution, built: built, flow: assembled.flow, injectionKW: [], routes: [])
            }
            let cost = solution.objective * unscale + constant
            if solution.status.hasSolution && cost < bestCost {
                bestCost = cost
                best = Upper(solution: solution, built: built, flow: assembled.flow,
                             injectionKW: assembled.communityInjectionKW.map { finite($0.value(at: solution.x)) },
                             routes: instance.segments.map { $0.count > 1 ? .misocp : .convex },
                             injections: assembled.injections)
            } else if best == nil && !solution.status.hasSolution && solution.status != .primalInfeasible {
                best = Upper(solution: solution, built: built, flow: assembled.flow, injectionKW: [], routes: [])
            }
            // Next combination (odometer).
            var i = 0
            while i < counts.count {
                choice[i] += 1
                if choice[i] < counts[i] { break }
                choice[i] = 0
                i += 1
            }
        }
        guard var found = best else {
            // Every combination infeasible.
            let forms = instance.segments.map { _ in TwoLayerVoltageUpperProblem.Form.fixed }
            let assembled = upperProblem(instance, setup: setup, forms: forms).assemble()
            let solution = ConicSolution(status: .primalInfeasible, x: [], y: [], s: [], objective: 0, iterations: iterations,
                                         solveSeconds: seconds, primalResidual: 0, dualResidual: 0,
                                         message: "every combination of pieces is infeasible")
            return Upper(solution: solution, built: try assembled.builder.build(), flow: assembled.flow, injectionKW: [], routes: [])
        }
        found.solution.iterations = iterations
        found.solution.solveSeconds = seconds
        found.nodes = total
        return found
    }

    // MARK: Validation

    static func validate(_ problem: Problem) throws -> (Network, RadialTree, GridTariff) {
        guard let network = problem.network, let tree = problem.tree else {
            throw InputError.invalid("network", "two_layer_voltage clears over a feeder: missing \"network\"")
        }
        guard let grid = problem.grid else { throw InputError.invalid("grid", "two_layer_voltage needs grid prices") }
        guard !problem.communities.isEmpty else {
            throw InputError.invalid("communities", "two_layer_voltage needs at least one community")
        }
        for (i, community) in problem.communities.enumerated() where community.sensitivity <= 0 {
            throw InputError.invalid("communities[\(i)].sensitivity", "two_layer_voltage needs a positive sensitivity; got \(describeNumber(community.sensitivity))")
        }
        for (j, prosumer) in problem.prosumers.enumerated() {
            if prosumer.storage != nil {
                throw InputError.unsupported("prosumers[\(j)].storage", "two_layer_voltage has no storage model (a single real-time interval)")
            }
            if prosumer.community == nil {
                throw InputError.invalid("prosumers[\(j)].community", "missing required key \"community\": every two_layer_voltage prosumer belongs to a community")
            }
            if prosumer.bus != nil, let community = prosumer.community, prosumer.bus != problem.communities[community].bus {
                throw InputError.invalid("prosumers[\(j)].bus", "a prosumer of a two_layer_voltage community sits at its community's bus \"\(problem.communities[community].bus.map { network.buses[$0].id } ?? "")\"")
            }
        }
        return (network, tree, grid)
    }

    static func finite(_ v: Double) -> Double { v.isFinite ? v : 0 }
}
