import ESMGrid
import ESMSolver

/// Mechanism `social_optimum` (api.md §2.1): the central planner's dispatch, the efficiency
/// yardstick every market is compared with. Each period is solved on its own:
///
///     min  Σ_j costA_j/2 · p_j² + costB_j · p_j  +  C_grid(P_0)
///     s.t. minKW_j ≤ p_j ≤ maxKW_j,
///          the feeder's network model (`network.model`: `socp` by default, or `lindistflow`)
///          with the net injection of bus i = Σ_{j at i} (pvKW_j − loadKW_j + p_j), −Σ qLoadKVAr_j,
///
/// where P_0 is the substation import and C_grid(P_0) = substationPrice · P_0, or, without a
/// substation price, buyPrice · max(P_0, 0) − sellPrice · max(−P_0, 0) (convex: buy > sell),
/// written with an import u ≥ 0 and an export w ≥ 0, P_0 = u − w.
///
/// How: by default the exact bus aggregation of `SocialOptimumAggregation.swift` (one flex
/// variable per bus, a few network-sized solves, whatever the number of prosumers); when it does
/// not apply (a flexible prosumer with costA = 0) or does not settle, one conic problem with a
/// variable per flexible prosumer.
///
/// Scaling: flows, injections and flex are per unit on the feeder's power base (`Feeder`), and the
/// objective is divided by (price scale · base), the price scale being the period's largest grid
/// price, so the conic problem is of order one whatever the user's units; results are converted
/// back to kW, kVAr and currency.
///
/// Result (api.md §3):
/// * `objective`: `socialCost` = `flexCost` + `gridCost`; `lossesKW` (series losses, 0 in
///   LinDistFlow).
/// * `prosumers[]`: `flexKW`, `netImportKW` = load − pv − flex, `flexCost`, `payment` = its bus
///   price × net import (settlement at the locational price), `cost` = flexCost + payment.
/// * `buses[]`: `vPu` and `price`, the cost of one more kW of demand at the bus, split into
///   `priceEnergy` + `priceLoss` + `priceCongestion` + `priceVoltage` (`LocationalPrices`).
/// * `lines[]`: `pKW`, `qKVAr` at the `from` end, `lossKW`, `closed`.
/// * `quality`: solver residuals; `relaxationGapMax` (socp) = max over lines of
///   (v_from·ℓ − P² − Q²) / S_ref², with S_ref the feeder's total apparent demand (passive loads
///   plus prosumer loads), so that it is free of units and bases: 0 when the relaxation is exact;
///   `acVoltageErrorMaxPu` (with `verifyPowerFlow`, default on for socp) = max |V − V_AC| against
///   an AC power flow run on the cleared injections; `priceDecompositionError`, the largest gap
///   between the price and its components' independent reconstruction (currency/kWh).
/// * Relaxation exactness (socp, `RelaxationRecovery`): a period whose AC power flow is not the
///   relaxation's state is solved again under the linearized voltage ceiling (the bus aggregation
///   starting from the previous solve's prices); `relaxationExact`, `recoverySolves`, the AC
///   voltages (`buses[].vAcPu`, `acVoltageMin/MaxPu`, `acVoltageViolationMaxPu`); no AC-feasible
///   point: `infeasible`; inexact within the limits: `relaxation_inexact`.
/// * Infeasible periods: status `infeasible`, and `diagnosis` from a second solve that relaxes
///   every voltage and thermal limit with a slack and minimizes the total relative violation: the
///   largest slack names the constraint (see `SocialOptimumDiagnosis.swift`).
enum SocialOptimum {
    /// `aggregate: false` skips the bus-aggregated fast path (`SocialOptimumAggregation`) and
    /// solves with one variable per prosumer (the tests compare the two).
    static func clear(_ problem: Problem, control: SolveControl, aggregate: Bool = true) throws -> MarketResult {
        try validate(problem)
        guard let network = problem.network, let tree = problem.tree else {
            throw InputError.invalid("network", "social_optimum clears over a feeder: missing \"network\"")
        }
        guard let grid = problem.grid else { throw InputError.invalid("grid", "social_optimum needs grid prices") }
        let model = network.model ?? .socp
        let verify = problem.options.verifyPowerFlow ?? (model == .socp)
        let periods = problem.periods
        let people = problem.prosumers
        let m = people.count
        let n = network.buses.count
        let lineCount = network.lines.count
        var result = MarketResult(mechanism: .socialOptimum, status: .solved, algorithm: problem.algorithm)
        if control.stopsAtStart(#"{"event":"start","mechanism":"social_optimum","prosumers":\#(m),"periods":\#(periods)}"#, &result) { return result }

        var flexKW = [Double](repeating: 0, count: m * periods), netImport = flexKW
        var flexCost = flexKW, payment = flexKW, cost = flexKW
        var networkColumns = NetworkColumns(busCount: n, lineCount: lineCount, periods: periods)
        var socialCost = [Double](), flexCostTotal = [Double](), gridCost = [Double](), losses = [Double]()
        var primalResidual = 0.0, dualResidual = 0.0, gapMax = 0.0, acError = 0.0, decompositionError = 0.0
        var vAcPu = [Double](repeating: 0, count: n * periods)
        var acMin = Double.infinity, acMax = -Double.infinity, acViolation = 0.0
        var exact = true, recoverySolves = 0
        var iterations = 0, solveSeconds = 0.0
        var status = ResultStatus.solved
        var messages: [String] = []

        for t in 0..<periods {
            // options.timeLimitSeconds bounds the whole call (Service sets the deadline from its
            // start), not each period's solve: stop between periods once it has passed.
            if t > 0 && control.pastDeadline {
                result.status = .timeLimit
                result.message = "time limit reached after \(t) of \(periods) periods"
                result.iterations = iterations
                result.solveSeconds = solveSeconds
                return result
            }
            let feeder = try Feeder(network: network, tree: tree, period: t,
                                    scaleKVA: demandKVA(network: network, prosumers: people, period: t))
            var setup = PeriodSetup(problem: problem, grid: grid, feeder: feeder, model: model, period: t)
            // The relaxation-exactness policy (`RelaxationRecovery`): with socp, a dispatch whose
            // AC power flow is not its own state is solved again under the linearized voltage ceiling.
            var spent = (iterations: 0, seconds: 0.0)
            var lastPrices: [Double]?
            let outcome = try RelaxationRecovery(referenceKVA: setup.referenceKVA).run(solve: { tightening in
                var under = setup
                under.tightening = tightening
                under.priceGuess = lastPrices
                let d = try dispatchPeriod(under, options: problem.options, control: control, aggregate: aggregate)
                spent.iterations += d.solution.iterations
                spent.seconds += d.solution.solveSeconds
                if d.solution.status.hasSolution {
                    lastPrices = d.flow.activePrices(y: d.solution.y, model: d.built).map { $0 * setup.priceScale * feeder.baseKVA }
                }
                return d
            }, point: { (d: PeriodDispatch) -> RelaxationRecovery.Point? in
                guard d.solution.status.hasSolution else { return nil }
                return RelaxationRecovery.Point(x: d.solution.x, flow: d.flow, injections: d.injections,
                                                accurate: d.solution.status == .solved)
            })
            setup.tightening = outcome.tightening
            recoverySolves += outcome.recoverySolves
            let dispatch = outcome.value
            let built = dispatch.built
            let solution = dispatch.solution
            iterations += spent.iterations
            solveSeconds += spent.seconds
            if solution.status == .interrupted {
                result.status = .interrupted
                result.message = "interrupted by the progress observer in period \(t)"
                return result
            }
            if outcome.noFeasiblePoint, let check = outcome.check {
                let finding = RelaxationPolicy.finding(check, network: network, feeder: feeder)
                result.status = .infeasible
                result.message = (periods > 1 ? "period \(t): " : "") + finding.message
                result.diagnosis = finding.diagnosis + (periods > 1 ? [("period", "\(t)")] : [])
                result.iterations = iterations
                result.solveSeconds = solveSeconds
                _ = control.report(#"{"event":"done","mechanism":"social_optimum","status":"infeasible"}"#)
                return result
            }
            if !solution.status.hasSolution && solution.status != .iterationLimit && solution.status != .timeLimit {
                // Infeasible, or the solver could not tell: find the limit that cannot be met.
                if let finding = try SocialOptimumDiagnosis.diagnose(setup, control: control) {
                    result.status = .infeasible
                    let message = setup.tightening?.ceiling == nil ? finding.message
                        : "the SOC relaxation is not exact here and no AC-feasible dispatch was found under the linearized voltage ceiling: " + finding.message
                    result.message = periods > 1 ? "period \(t): \(message)" : message
                    result.diagnosis = finding.diagnosis + (periods > 1 ? [("period", "\(t)")] : [])
                    result.iterations = iterations + finding.iterations
                    result.solveSeconds = solveSeconds
                    _ = control.report(#"{"event":"done","mechanism":"social_optimum","status":"infeasible"}"#)
                    return result
                }
                if solution.status == .dualInfeasible {
                    messages.append("period \(t): the problem is unbounded (a negative price with unlimited flex?)")
                } else {
                    messages.append("period \(t): the solver ended with \(solution.status.rawValue): \(solution.message)")
                }
                status = .numericalError
            } else if solution.status != .solved && status == .solved {
                status = solution.status == .solvedInaccurate ? .solvedInaccurate
                    : solution.status == .iterationLimit ? .iterationLimit : .timeLimit
                messages.append("period \(t): the solver ended with \(solution.status.rawValue)")
            }
            primalResidual = max(primalResidual, finite(solution.primalResidual))
            dualResidual = max(dualResidual, finite(solution.dualResidual))

            // Quantities.
            let x = solution.x
            let flow = dispatch.flow
            let state = flow.solution(x: x)
            let unscale = setup.priceScale * feeder.baseKVA   // objective units per pu → currency per kW·(1/base)
            let lmp = flow.locationalPrices(x: x, y: solution.y, model: built)
            networkColumns.record(period: t, state: state, prices: lmp, unscale: unscale)
            decompositionError = max(decompositionError, finite(lmp.reconstructionError * unscale))
            var totalFlex = 0.0
            for (j, who) in people.enumerated() {
                let p = dispatch.flexKW[j]
                let k = j * periods + t
                let c = flexCostOf(who, p, period: t)
                let net = who.loadKW[t] - who.pvKW[t] - p
                let busPrice = who.bus.map { networkColumns.price(bus: $0, period: t) } ?? 0
                flexKW[k] = p
                netImport[k] = finite(net)
                flexCost[k] = c
                payment[k] = finite(busPrice * net)
                cost[k] = finite(c + busPrice * net)
                totalFlex += c
            }
            let import0 = state.substationPKW
            let gridPart: Double
            if let substation = grid.substationPrice {
                gridPart = substation[t] * import0
            } else {
                gridPart = grid.buyPrice[t] * max(import0, 0) - grid.sellPrice[t] * max(-import0, 0)
            }
            flexCostTotal.append(finite(totalFlex))
            gridCost.append(finite(gridPart))
            socialCost.append(finite(totalFlex + gridPart))
            losses.append(finite(state.totalLossKW))

            if let check = outcome.check {
                // socp: the policy ran the AC power flow already.
                gapMax = max(gapMax, check.relaxationGap)
                acError = max(acError, check.voltageErrorPu)
                acViolation = max(acViolation, check.violationPu)
                acMin = min(acMin, check.minPu)
                acMax = max(acMax, check.maxPu)
                for bus in 0..<n { vAcPu[bus * periods + t] = finite(check.powerFlow.vPu[bus]) }
                if !check.powerFlow.converged { messages.append("period \(t): the AC power flow did not converge (\(check.powerFlow.message))") }
                if !check.exact {
                    exact = false
                    status = .relaxationInexact
                    messages.append("period \(t): " + RelaxationPolicy.inexact(check, state: state, feeder: feeder))
                }
            } else if verify {
                let (ac, error) = flow.verifyWithPowerFlow(x: x, injections: dispatch.injections)
                acError = max(acError, finite(error))
                if !ac.converged { messages.append("period \(t): the AC power flow did not converge (\(ac.message))") }
            }
        }

        result.status = status
        result.message = messages.joined(separator: "; ")
        result.iterations = iterations
        result.solveSeconds = solveSeconds
        result.objective = [
            ("socialCost", .perPeriod(socialCost)),
            ("flexCost", .perPeriod(flexCostTotal)),
            ("gridCost", .perPeriod(gridCost)),
            ("lossesKW", .perPeriod(losses)),
        ]
        var prosumers = ResultTable(ids: people.map(\.id), periods: periods)
        prosumers.addColumn("flexKW", flexKW)
        prosumers.addColumn("netImportKW", netImport)
        prosumers.addColumn("flexCost", flexCost)
        prosumers.addColumn("payment", payment)
        prosumers.addColumn("cost", cost)
        let (buses, lines) = networkColumns.tables(network, vAcPu: model == .socp ? vAcPu : nil)
        result.tables = [("prosumers", prosumers), ("buses", buses), ("lines", lines)]
        var quality: [(String, Double)] = [("primalResidual", primalResidual), ("dualResidual", dualResidual)]
        if model == .socp {
            quality.append(("relaxationGapMax", gapMax))
            quality.append(("relaxationExact", exact ? 1 : 0))
            quality.append(("recoverySolves", Double(recoverySolves)))
        }
        if verify || model == .socp { quality.append(("acVoltageErrorMaxPu", acError)) }
        if model == .socp && acMin.isFinite {
            quality += [("acVoltageMinPu", acMin), ("acVoltageMaxPu", acMax), ("acVoltageViolationMaxPu", acViolation)]
        }
        quality.append(("priceDecompositionError", decompositionError))
        result.quality = quality
        _ = control.report(#"{"event":"done","mechanism":"social_optimum","iterations":\#(iterations)}"#)
        return result
    }

    /// One period's solve: by bus aggregation when it applies and settles, else per prosumer.
    static func dispatchPeriod(_ setup: PeriodSetup, options: Options, control: SolveControl,
                               aggregate: Bool) throws -> PeriodDispatch {
        var spent = (iterations: 0, seconds: 0.0)
        if aggregate {
            if let fast = try SocialOptimumAggregation.dispatch(setup, options: options, control: control, spent: &spent) {
                return fast
            }
        }
        let assembled = setup.assemble()
        let built = try assembled.builder.build()
        var solution = solve(built.problem, options: options, control: control)
        solution.iterations += spent.iterations
        solution.solveSeconds += spent.seconds
        let flexKW = setup.problem.prosumers.indices.map { setup.flexKW(of: $0, x: solution.x, variables: assembled.flexVariables) }
        return PeriodDispatch(built: built, flow: assembled.flow, injections: assembled.injections,
                              solution: solution, flexKW: flexKW, aggregated: false)
    }

    /// What the mechanism rejects beyond the generic document checks.
    static func validate(_ problem: Problem) throws {
        for (j, prosumer) in problem.prosumers.enumerated() {
            if prosumer.storage != nil {
                throw InputError.unsupported("prosumers[\(j)].storage",
                                             "social_optimum has no storage model yet (each period is dispatched on its own)")
            }
            if prosumer.bus == nil {
                throw InputError.invalid("prosumers[\(j)].bus", "missing required key \"bus\": social_optimum attaches every prosumer to a bus")
            }
        }
    }

    /// The conic solve with the caller's limits and progress observer. The solver's tolerances
    /// measure gaps and residuals of the whole (scaled) problem, and prices are duals, which
    /// converge more slowly than the cost: the solve runs ten times tighter than
    /// `options.tolerance` (1e-9 by default), which gives prices to about 1e-6 relative. When the
    /// solver cannot reach that (status `solved_inaccurate` or a numerical failure), it runs again
    /// at the caller's tolerance and keeps that answer if it is `solved`. When that fails too, the
    /// Newton steps were the limit: near the optimum the cones' scaling spans many orders of
    /// magnitude and the KKT system's static regularization (1e-8) leaves a direction error that
    /// iterative refinement no longer removes (residuals jump from 1e-9 to 1e-4 in one step on
    /// ieee123 two_layer_voltage cases at low load). A last attempt runs with a static
    /// regularization of 1e-11, kept if it is `solved`.
    static func solve(_ problem: ConicProblem, options: Options, control: SolveControl,
                      mechanism: Mechanism = .socialOptimum) -> ConicSolution {
        let tight = solve(problem, tolerance: max(options.tolerance * 0.1, 1e-13), options: options, control: control,
                          mechanism: mechanism)
        guard tight.status == .solvedInaccurate || tight.status == .numericalError else { return tight }
        var plain = solve(problem, tolerance: options.tolerance, options: options, control: control, mechanism: mechanism)
        plain.iterations += tight.iterations
        plain.solveSeconds += tight.solveSeconds
        var best = plain.status == .solved || tight.status == .numericalError ? plain : tight
        best.iterations = plain.iterations
        best.solveSeconds = plain.solveSeconds
        guard best.status != .solved, !control.pastDeadline else { return best }
        var fine = solve(problem, tolerance: options.tolerance, options: options, control: control, mechanism: mechanism,
                         staticRegularization: 1e-11)
        fine.iterations += best.iterations
        fine.solveSeconds += best.solveSeconds
        guard fine.status == .solved else {
            best.iterations = fine.iterations
            best.solveSeconds = fine.solveSeconds
            return best
        }
        return fine
    }

    /// Solver settings with every stopping tolerance at `tolerance`.
    static func settings(tolerance: Double) -> SolverSettings {
        var settings = SolverSettings()
        settings.gapAbsTolerance = tolerance
        settings.gapRelTolerance = tolerance
        settings.feasibilityTolerance = tolerance
        return settings
    }

    static func solve(_ problem: ConicProblem, tolerance: Double, options: Options, control: SolveControl,
                      mechanism: Mechanism = .socialOptimum, staticRegularization: Double? = nil) -> ConicSolution {
        var settings = settings(tolerance: tolerance)
        if let staticRegularization { settings.staticRegularization = staticRegularization }
        if let limit = options.maxIterations { settings.maxIterations = limit }
        if let limit = options.timeLimitSeconds { settings.timeLimitSeconds = limit }
        if let deadline = control.deadline {  // what is left of the call's limit
            settings.timeLimitSeconds = min(settings.timeLimitSeconds, max(0, deadline - monotonicSeconds()))
        }
        guard control.observer != nil else { return solveConic(problem, settings: settings) }
        return solveConic(problem, settings: settings) { info in
            control.report(#"{"event":"iteration","mechanism":"\#(mechanism.rawValue)","iteration":\#(info.iteration),"primalResidual":\#(ConicMechanism.finite(info.primalResidual)),"dualResidual":\#(ConicMechanism.finite(info.dualResidual)),"primalObjective":\#(ConicMechanism.finite(info.primalObjective)),"dualObjective":\#(ConicMechanism.finite(info.dualObjective)),"mu":\#(ConicMechanism.finite(info.mu)),"tau":\#(ConicMechanism.finite(info.tau)),"kappa":\#(ConicMechanism.finite(info.kappa)),"stepLength":\#(ConicMechanism.finite(info.stepLength))}"#)
        }
    }

    /// Flex cost of a prosumer producing `p` kW in period `t` (0 without flex).
    static func flexCostOf(_ who: Prosumer, _ p: Double, period t: Int) -> Double {
        guard let flex = who.flex else { return 0 }
        return finite(0.5 * flex.costA[t] * p * p + flex.costB[t] * p)
    }

    /// Passive plus prosumer demand of a period, kVA: what the power base is chosen from.
    static func demandKVA(network: Network, prosumers: [Prosumer], period t: Int) -> Double {
        var total = 0.0
        for bus in network.buses {
            let p = bus.pLoadKW.isEmpty ? 0 : bus.pLoadKW[min(t, bus.pLoadKW.count - 1)]
            let q = bus.qLoadKVAr.isEmpty ? 0 : bus.qLoadKVAr[min(t, bus.qLoadKVAr.count - 1)]
            total += (p * p + q * q).squareRoot()
        }
        for who in prosumers {
            let p = who.loadKW[t], q = who.qLoadKVAr[t]
            total += (p * p + q * q).squareRoot()
        }
        return finite(total)
    }

    static func finite(_ v: Double) -> Double { v.isFinite ? v : 0 }
}

/// A period's solved problem: where the network sits in it, and every prosumer's flex (kW).
struct PeriodDispatch {
    var built: ConicModel
    var flow: BranchFlowModel
    var injections: BusInjections
    var solution: ConicSolution
    var flexKW: [Double]
    /// Solved by bus aggregation (`SocialOptimumAggregation`).
    var aggregated: Bool
}

/// One period's data and how it becomes a conic problem: shared by the dispatch and the
/// infeasibility diagnosis.
struct PeriodSetup {
    let problem: Problem
    let grid: GridTariff
    let feeder: Feeder
    let model: NetworkModel
    let period: Int
    /// Objective units: the objective is divided by priceScale · baseKVA.
    let priceScale: Double
    /// The feeder's total apparent demand, kVA (S_ref of `relaxationGapMax`).
    let referenceKVA: Double
    /// The SOC model's voltage ceiling and loss penalty, set by the relaxation-exactness policy.
    var tightening: RelaxationTightening?
    /// Bus prices (currency/kWh) to start the bus aggregation from (the previous solve's).
    var priceGuess: [Double]?

    /// The branch-flow options of every problem of this period (`limits` false: without the
    /// voltage and thermal limits).
    func branchFlowOptions(limits: Bool = true) -> BranchFlowOptions {
        var options = BranchFlowOptions()
        options.voltageLimits = limits
        options.thermalLimits = limits
        tightening?.apply(to: &options)
        return options
    }

    init(problem: Problem, grid: GridTariff, feeder: Feeder, model: NetworkModel, period: Int) {
        self.problem = problem
        self.grid = grid
        self.feeder = feeder
        self.model = model
        self.period = period
        var scale = abs(grid.buyPrice[period])
        if let substation = grid.substationPrice { scale = max(scale, abs(substation[period])) }
        self.priceScale = scale.isFinite && scale > 0 ? scale : 1
        var reference = 0.0
        for bus in 0..<feeder.busCount {
            reference += (feeder.pLoad[bus] * feeder.pLoad[bus] + feeder.qLoad[bus] * feeder.qLoad[bus]).squareRoot()
        }
        reference *= feeder.baseKVA
        for who in problem.prosumers {
            let p = who.loadKW[period], q = who.qLoadKVAr[period]
            reference += (p * p + q * q).squareRoot()
        }
        self.referenceKVA = reference
    }

    /// Builder, flex variables (index per prosumer, -1 when its output is fixed), injections and
    /// the network model.
    struct Assembled {
        var builder: ConicBuilder
        var flexVariables: [Int]
        var injections: BusInjections
        var flow: BranchFlowModel
    }

    /// The dispatch problem with the limits of the network document (`limits` false: without the
    /// voltage and thermal limits, which the diagnosis adds itself with slacks). `costWeight`
    /// multiplies the whole objective.
    func assemble(limits: Bool = true, costWeight: Double = 1) -> Assembled {
        let t = period
        let base = feeder.baseKVA
        let people = problem.prosumers
        var builder = ConicBuilder()
        var flexible: [Int] = []
        for (j, who) in people.enumerated() {
            if let flex = who.flex, flex.maxKW[t] > flex.minKW[t] { flexible.append(j) }
        }
        let block = builder.addVariables("flex", count: flexible.count)
        var flexVariables = [Int](repeating: -1, count: people.count)
        let bounds = builder.addGroup("flex bounds", .nonnegative)
        let n = feeder.busCount
        var active = [LinearExpression](repeating: .zero, count: n)
        var reactive = [LinearExpression](repeating: .zero, count: n)
        // Objective coefficients in units of priceScale · base: p = base · φ (φ per unit).
        let linearUnit = costWeight / priceScale
        let quadraticUnit = costWeight * base / priceScale
        for (i, j) in flexible.enumerated() {
            let variable = block[i]
            flexVariables[j] = variable
            let flex = people[j].flex!
            builder.addGreaterEqual(bounds, .variable(variable), flex.minKW[t] / base)
            builder.addLessEqual(bounds, .variable(variable), flex.maxKW[t] / base)
            if flex.costA[t] != 0 { builder.addQuadraticCost(variable, flex.costA[t] * quadraticUnit) }
            if flex.costB[t] != 0 { builder.addLinearCost(variable, flex.costB[t] * linearUnit) }
        }
        for (j, who) in people.enumerated() {
            guard let bus = who.bus, bus >= 0, bus < n else { continue }
            var fixed = who.pvKW[t] - who.loadKW[t]
            if flexVariables[j] >= 0 {
                active[bus].add(flexVariables[j], base)
            } else if let flex = who.flex {
                fixed += flex.minKW[t]
            }
            active[bus].constant += fixed
            reactive[bus].constant -= who.qLoadKVAr[t]
        }
        let injections = BusInjections(activeKW: active, reactiveKVAr: reactive)
        let flow = feeder.addModel(model, to: &builder, injections: injections, options: branchFlowOptions(limits: limits))

        addSubstationCost(to: &builder, flow: flow, weight: costWeight)
        return Assembled(builder: builder, flexVariables: flexVariables, injections: injections, flow: flow)
    }

    /// The substation's import cost (P_0 in pu; the objective in priceScale · base units), times
    /// `weight`.
    func addSubstationCost(to builder: inout ConicBuilder, flow: BranchFlowModel, weight: Double) {
        let t = period
        let linearUnit = weight / priceScale
        let import0 = flow.p[feeder.root]
        if let substation = grid.substationPrice {
            builder.addLinearCost(import0, substation[t] * linearUnit)
        } else {
            let split = builder.addVariables("substation import, export", count: 2)
            let signs = builder.addGroup("substation import, export ≥ 0", .nonnegative)
            builder.addGreaterEqual(signs, .variable(split[0]), 0)
            builder.addGreaterEqual(signs, .variable(split[1]), 0)
            let tie = builder.addGroup("substation import = import − export", .zero)
            builder.addRow(tie, LinearExpression([LinearTerm(import0, 1), LinearTerm(split[0], -1), LinearTerm(split[1], 1)]))
            builder.addLinearCost(split[0], grid.buyPrice[t] * linearUnit)
            builder.addLinearCost(split[1], -grid.sellPrice[t] * linearUnit)
        }
    }

    /// Prosumer j's flex output in kW at `x` (its fixed output when it has no variable), clamped to
    /// its bounds.
    func flexKW(of j: Int, x: [Double], variables: [Int]) -> Double {
        guard let flex = problem.prosumers[j].flex else { return 0 }
        let t = period
        let k = variables[j]
        guard k >= 0, k < x.count else { return flex.minKW[t] }
        let p = x[k] * feeder.baseKVA
        guard p.isFinite else { return flex.minKW[t] }
        return min(max(p, flex.minKW[t]), flex.maxKW[t])
    }
}
