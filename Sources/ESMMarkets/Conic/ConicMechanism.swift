import ESMGrid
import ESMSolver

/// Mechanism `conic` (api.md §2.7): the solver itself, reachable through the C API and Python.
enum ConicMechanism {
    static func clear(_ problem: Problem, control: SolveControl) throws -> MarketResult {
        guard let conic = problem.conic else { throw InputError.invalid("conic", "missing required key \"conic\"") }
        var settings = SolverSettings()
        settings.gapAbsTolerance = problem.options.tolerance
        settings.gapRelTolerance = problem.options.tolerance
        settings.feasibilityTolerance = problem.options.tolerance
        if let limit = problem.options.maxIterations { settings.maxIterations = limit }
        if let limit = problem.options.timeLimitSeconds { settings.timeLimitSeconds = limit }
        if !conic.integers.isEmpty { return mixedInteger(conic, settings: settings, problem: problem, control: control) }
        let solution = solveConic(conic, settings: settings) { info in
            control.report(#"{"event":"iteration","mechanism":"conic","iteration":\#(info.iteration),"primalResidual":\#(finite(info.primalResidual)),"dualResidual":\#(finite(info.dualResidual))}"#)
        }
        let status = ResultStatus(solution.status)
        var result = MarketResult(mechanism: .conic, status: status, algorithm: problem.algorithm)
        result.message = solution.message
        result.fields = [("x", .numbers(solution.x)), ("y", .numbers(solution.y)), ("s", .numbers(solution.s)),
                         ("objective", .number(solution.objective))]
        result.quality = [("primalResidual", solution.primalResidual), ("dualResidual", solution.dualResidual)]
        result.iterations = solution.iterations
        return result
    }

    /// Binaries by branch-and-bound (best-bound search over interior-point relaxations); the
    /// result also carries the incumbent's `bestBound`, `gap` and `nodes`.
    static func mixedInteger(_ conic: ConicProblem, settings: SolverSettings, problem: Problem,
                             control: SolveControl) -> MarketResult {
        var bb = BranchAndBoundSettings()
        bb.solver = settings
        bb.timeLimitSeconds = settings.timeLimitSeconds
        // The optimality gap follows `options.tolerance` (×10: node relaxations are solved to it)
        // instead of the search's default 1e-4, so that "solved" means the optimum to ~1e-7.
        bb.relativeGap = min(bb.relativeGap, max(problem.options.tolerance * 10, 1e-10))
        bb.absoluteGap = min(bb.absoluteGap, max(problem.options.tolerance * 10, 1e-10))
        if let nodes = problem.options.maxIterations { bb.maxNodes = nodes }
        let solution = solveMixedInteger(conic, settings: bb) { progress in
            control.report(#"{"event":"iteration","mechanism":"conic","nodes":\#(progress.nodes),"incumbent":\#(finite(progress.incumbentObjective)),"bestBound":\#(finite(progress.bestBound))}"#)
        }
        var result = MarketResult(mechanism: .conic, status: ResultStatus(solution.conicSolution.status),
                                  algorithm: "branch_and_bound")
        result.message = solution.message
        result.fields = [("x", .numbers(solution.x)), ("y", .numbers(solution.y)), ("s", .numbers(solution.s)),
                         ("objective", .number(solution.objective)), ("bestBound", .number(solution.bestBound)),
                         ("gap", .number(solution.gap)), ("nodes", .number(Double(solution.nodes))),
                         ("hasIncumbent", .flag(solution.hasIncumbent))]
        result.quality = [("primalResidual", solution.primalResidual), ("dualResidual", solution.dualResidual)]
        result.iterations = solution.iterations
        return result
    }

    /// A number for an event document (JSON has no NaN or infinity).
    static func finite(_ value: Double) -> String { value.isFinite ? "\(value)" : "null" }
}
