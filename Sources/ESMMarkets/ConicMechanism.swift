import ESMGrid
import ESMSolver

/// Mechanism `conic` (api.md §2.7): the solver itself, reachable through the C API and Python.
enum ConicMechanism {
    static func clear(_ problem: Problem, control: SolveControl) throws -> MarketResult {
        guard let conic = problem.conic else { throw InputError.invalid("conic", "missing required key \"conic\"") }
        if !conic.integers.isEmpty {
            throw InputError.unsupported("conic.integers", "binary variables need branch-and-bound, not built yet in this version")
        }
        var settings = SolverSettings()
        settings.gapAbsTolerance = problem.options.tolerance
        settings.gapRelTolerance = problem.options.tolerance
        settings.feasibilityTolerance = problem.options.tolerance
        if let limit = problem.options.maxIterations { settings.maxIterations = limit }
        if let limit = problem.options.timeLimitSeconds { settings.timeLimitSeconds = limit }
        let solution = solveConic(conic, settings: settings) { info in
            control.report(#"{"event":"iteration","mechanism":"conic","iteration":\#(info.iteration),"primalResidual":\#(finite(info.primalResidual)),"dualResidual":\#(finite(info.dualResidual))}"#)
        }
        let status: ResultStatus
        switch solution.status {
        case .solved: status = .solved
        case .solvedInaccurate: status = .solvedInaccurate
        case .primalInfeasible: status = .primalInfeasible
        case .dualInfeasible: status = .dualInfeasible
        case .iterationLimit: status = .iterationLimit
        case .timeLimit: status = .timeLimit
        case .numericalError: status = .numericalError
        case .interrupted: status = .interrupted
        }
        var result = MarketResult(mechanism: .conic, status: status, algorithm: problem.algorithm)
        result.message = solution.message
        result.fields = [("x", .numbers(solution.x)), ("y", .numbers(solution.y)), ("s", .numbers(solution.s)),
                         ("objective", .number(solution.objective))]
        result.quality = [("primalResidual", solution.primalResidual), ("dualResidual", solution.dualResidual)]
        result.iterations = solution.iterations
        return result
    }

    /// A number for an event document (JSON has no NaN or infinity).
    static func finite(_ value: Double) -> String { value.isFinite ? "\(value)" : "null" }
}
