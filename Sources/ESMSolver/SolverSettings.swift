// Settings, statuses, results and errors of the conic interior-point solver.

/// Every tunable of the interior-point solver, each with its default.
public struct SolverSettings: Sendable, Equatable {
    /// Iteration cap (status `iterationLimit`, or `solvedInaccurate` if the reduced tolerances hold).
    public var maxIterations: Int = 200
    /// Wall-clock cap in seconds for `solve()`, measured from its start; `.infinity` for none.
    public var timeLimitSeconds: Double = .infinity

    /// Absolute duality-gap tolerance |pobj − dobj| (either this or the relative one suffices).
    public var gapAbsTolerance: Double = 1e-8
    /// Relative duality-gap tolerance |pobj − dobj| / max(1, min(|pobj|, |dobj|)).
    public var gapRelTolerance: Double = 1e-8
    /// Primal and dual residual tolerance, ∞-norm, relative to the data alone:
    /// ‖Ax + s − b‖ ≤ tol·(1 + ‖b‖) and ‖Px + q + Aᵀy‖ ≤ tol·(1 + ‖q‖). Not relative to the
    /// terms (‖Ax‖, ‖Aᵀy‖, …): a user checks a solution against the data, and large terms that
    /// cancel must not hide a residual.
    public var feasibilityTolerance: Double = 1e-8
    /// Infeasibility certificate tolerance: ‖Aᵀy‖ ≤ tol·(−bᵀy) (primal), and
    /// ‖Px‖, ‖Ax + s‖ ≤ tol·(−qᵀx) (dual).
    public var infeasibilityTolerance: Double = 1e-8

    /// Reduced tolerances, accepted (status `solvedInaccurate`, or an infeasibility status) when
    /// the solver stalls, fails numerically or reaches a limit before meeting the full ones; the
    /// best iterate seen is reported then. Reduced absolute gap:
    public var reducedGapAbsTolerance: Double = 5e-5
    /// Reduced relative gap.
    public var reducedGapRelTolerance: Double = 5e-5
    /// Reduced primal/dual residual tolerance.
    public var reducedFeasibilityTolerance: Double = 1e-4
    /// Reduced infeasibility-certificate tolerance.
    public var reducedInfeasibilityTolerance: Double = 5e-5

    /// Fraction of the distance to the cone boundary taken by a step.
    public var maxStepFraction: Double = 0.99
    /// Steps shorter than this count as no progress; a few in a row end the solve.
    public var minStepLength: Double = 1e-6

    /// Static regularization ε added to the KKT diagonal (+ on P's block, − on the cone block).
    public var staticRegularization: Double = 1e-8
    /// Pivots with |d| ≤ this (or of the wrong sign) are replaced by ±`dynamicRegularizationDelta`.
    public var dynamicRegularizationEpsilon: Double = 1e-13
    /// Magnitude given to such pivots, with the sign expected of the row (+ primal, − dual).
    public var dynamicRegularizationDelta: Double = 2e-7
    /// Maximum iterative-refinement steps per KKT solve.
    public var iterativeRefinementSteps: Int = 10
    /// Refinement stops once ‖residual‖∞ ≤ abs + rel·‖rhs‖∞.
    public var iterativeRefinementAbsTolerance: Double = 1e-12
    public var iterativeRefinementRelTolerance: Double = 1e-13
    /// Refinement stops once a step reduces the residual by less than this factor. Close to 1:
    /// on badly scaled problems refinement gains slowly (a factor 2-3 a step) but steadily, and
    /// stopping early leaves the dual residual above the tolerance for good. The price: ~20 %
    /// more solve time on well-scaled DistFlow problems (more steps on the last iterations);
    /// patience only after a short step did not rescue the scaled SOCPs.
    public var iterativeRefinementStopRatio: Double = 1.1
    /// Second-order cones up to this dimension enter the KKT matrix as a dense W² block; larger
    /// ones as a diagonal plus two extra rows (see KKTSystem). 0 expands every cone.
    public var socDenseMaxDimension: Int = 8
    /// Approximate-minimum-degree ordering of the KKT matrix (off: natural order, for tests).
    public var fillReducingOrdering: Bool = true

    /// Ruiz equilibration of [P Aᵀ; A 0] and cost scaling, undone on the solution.
    public var equilibrate: Bool = true
    /// Ruiz sweeps.
    public var equilibrationIterations: Int = 10
    /// Bounds on the accumulated equilibration factors.
    public var equilibrationMinScaling: Double = 1e-4
    public var equilibrationMaxScaling: Double = 1e4

    public init() {}

    /// The first setting out of its domain, as a descriptive error; `nil` if all are valid.
    public func validationError() -> ConicSolverError? {
        func bad(_ field: String, _ value: Any, _ rule: String) -> ConicSolverError {
            ConicSolverError(field: "settings.\(field)", message: "settings.\(field) = \(value) \(rule)")
        }
        if maxIterations < 0 { return bad("maxIterations", maxIterations, "must be ≥ 0") }
        if !(timeLimitSeconds >= 0) { return bad("timeLimitSeconds", timeLimitSeconds, "must be ≥ 0") }
        let positive: [(String, Double)] = [
            ("gapAbsTolerance", gapAbsTolerance), ("gapRelTolerance", gapRelTolerance),
            ("feasibilityTolerance", feasibilityTolerance), ("infeasibilityTolerance", infeasibilityTolerance),
            ("reducedGapAbsTolerance", reducedGapAbsTolerance), ("reducedGapRelTolerance", reducedGapRelTolerance),
            ("reducedFeasibilityTolerance", reducedFeasibilityTolerance),
            ("reducedInfeasibilityTolerance", reducedInfeasibilityTolerance),
            ("dynamicRegularizationDelta", dynamicRegularizationDelta),
            ("equilibrationMinScaling", equilibrationMinScaling), ("equilibrationMaxScaling", equilibrationMaxScaling),
        ]
        for (name, v) in positive where !(v > 0 && v.isFinite) { return bad(name, v, "must be positive and finite") }
        let nonnegative: [(String, Double)] = [
            ("staticRegularization", staticRegularization),
            ("dynamicRegularizationEpsilon", dynamicRegularizationEpsilon),
            ("iterativeRefinementAbsTolerance", iterativeRefinementAbsTolerance),
            ("iterativeRefinementRelTolerance", iterativeRefinementRelTolerance),
            ("minStepLength", minStepLength),
        ]
        for (name, v) in nonnegative where !(v >= 0 && v.isFinite) { return bad(name, v, "must be ≥ 0 and finite") }
        if !(iterativeRefinementStopRatio >= 1 && iterativeRefinementStopRatio.isFinite) {
            return bad("iterativeRefinementStopRatio", iterativeRefinementStopRatio, "must be ≥ 1 and finite")
        }
        if !(maxStepFraction > 0 && maxStepFraction < 1) { return bad("maxStepFraction", maxStepFraction, "must be in (0, 1)") }
        if socDenseMaxDimension < 0 { return bad("socDenseMaxDimension", socDenseMaxDimension, "must be ≥ 0") }
        if iterativeRefinementSteps < 0 { return bad("iterativeRefinementSteps", iterativeRefinementSteps, "must be ≥ 0") }
        if equilibrationIterations < 0 { return bad("equilibrationIterations", equilibrationIterations, "must be ≥ 0") }
        if equilibrationMinScaling > 1 || equilibrationMaxScaling < 1 {
            return bad("equilibrationMinScaling", equilibrationMinScaling, "must be ≤ 1 ≤ equilibrationMaxScaling")
        }
        return nil
    }
}

/// How a solve ended. Raw values are the JSON spellings of api.md.
public enum ConicStatus: String, Sendable, Equatable, CaseIterable {
    /// All full-accuracy tolerances met.
    case solved = "solved"
    /// Only the reduced tolerances met (the solver stalled or hit a limit).
    case solvedInaccurate = "solved_inaccurate"
    /// `y` is a certificate: Aᵀy ≈ 0, bᵀy = −1, y ∈ K*.
    case primalInfeasible = "primal_infeasible"
    /// `x`, `s` are a certificate: Px ≈ 0, Ax + s ≈ 0, s ∈ K, qᵀx = −1.
    case dualInfeasible = "dual_infeasible"
    case iterationLimit = "iteration_limit"
    case timeLimit = "time_limit"
    /// A factorization or step failed, or the input was invalid (see `message`).
    case numericalError = "numerical_error"
    /// The iteration callback asked to stop.
    case interrupted = "interrupted"

    /// `solved` or `solvedInaccurate`.
    public var hasSolution: Bool { self == .solved || self == .solvedInaccurate }
    public var isInfeasible: Bool { self == .primalInfeasible || self == .dualInfeasible }
}

/// The result of a solve, in the user's scaling. Every number is finite.
public struct ConicSolution: Sendable, Equatable {
    public var status: ConicStatus
    /// Primal solution (or dual-infeasibility certificate; zeros when there is none).
    public var x: [Double]
    /// Dual solution, Clarabel's convention: Px + q + Aᵀy = 0, y ∈ K*, ⟨s, y⟩ = 0
    /// (or primal-infeasibility certificate).
    public var y: [Double]
    /// Slack, Ax + s = b, s ∈ K.
    public var s: [Double]
    /// ½xᵀPx + qᵀx at `x` when there is a solution; 0 otherwise.
    public var objective: Double
    public var iterations: Int
    public var solveSeconds: Double
    /// ‖Ax + s − b‖∞ / (1 + ‖b‖∞).
    public var primalResidual: Double
    /// ‖Px + Aᵀy + q‖∞ / (1 + ‖q‖∞).
    public var dualResidual: Double
    /// Human-readable detail (why a numerical error or invalid input), empty otherwise.
    public var message: String

    public init(status: ConicStatus, x: [Double], y: [Double], s: [Double], objective: Double, iterations: Int,
                solveSeconds: Double, primalResidual: Double, dualResidual: Double, message: String = "") {
        self.status = status
        self.x = x
        self.y = y
        self.s = s
        self.objective = objective
        self.iterations = iterations
        self.solveSeconds = solveSeconds
        self.primalResidual = primalResidual
        self.dualResidual = dualResidual
        self.message = message
    }
}

/// Progress of one iteration, handed to the iteration callback.
public struct ConicIterationInfo: Sendable {
    public var iteration: Int
    public var primalObjective: Double
    public var dualObjective: Double
    public var primalResidual: Double
    public var dualResidual: Double
    public var mu: Double
    public var tau: Double
    public var kappa: Double
    /// Step length of the previous iteration (0 before the first step).
    public var stepLength: Double
    public var elapsedSeconds: Double
}

/// Invalid problem data or settings. `field` names the offending array element, e.g.
/// `"A.rowval[12]"` or `"cones[3]"`.
public struct ConicSolverError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String
    public var message: String
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { message }
}
