import ESMSolver

/// A cleared market in the shape of api.md §3, independent of how it is encoded.

public enum ResultStatus: String, Sendable {
    case solved
    case solvedInaccurate = "solved_inaccurate"
    case infeasible
    case iterationLimit = "iteration_limit"
    case timeLimit = "time_limit"
    case interrupted
    case numericalError = "numerical_error"
    /// Cleared on the SOC relaxation, but the AC power flow of the answer is not its state or
    /// breaks a voltage limit, and no AC-feasible point was recovered (`RelaxationRecovery`).
    case relaxationInexact = "relaxation_inexact"
    // The conic mechanism reports the solver's own certificates.
    case primalInfeasible = "primal_infeasible"
    case dualInfeasible = "dual_infeasible"
}

extension ResultStatus {
    /// The solver's status as a result status (certificates kept as such).
    public init(_ status: ConicStatus) {
        switch status {
        case .solved: self = .solved
        case .solvedInaccurate: self = .solvedInaccurate
        case .primalInfeasible: self = .primalInfeasible
        case .dualInfeasible: self = .dualInfeasible
        case .iterationLimit: self = .iterationLimit
        case .timeLimit: self = .timeLimit
        case .numericalError: self = .numericalError
        case .interrupted: self = .interrupted
        }
    }

    /// For a market: either infeasibility certificate is `infeasible`.
    public var forMarket: ResultStatus {
        self == .primalInfeasible || self == .dualInfeasible ? .infeasible : self
    }
}

/// A value in a result document.
public indirect enum ResultValue: Sendable {
    case number(Double)
    case numbers([Double])
    case text(String)
    case flag(Bool)
    case null
    case object([(String, ResultValue)])
    /// A JSON array of values (e.g. per period, the ids of the open lines).
    case list([ResultValue])

    /// One number per period: a scalar when there is one period, else an array.
    public static func perPeriod(_ values: [Double]) -> ResultValue {
        values.count == 1 ? .number(values[0]) : .numbers(values)
    }
}

/// One list of the result (`prosumers`, `communities`, `buses`, `lines`), stored by column.
/// Numeric column values are row-major over periods: `values[row * periods + t]`.
public struct ResultTable: Sendable {
    /// One entry per row; written under `idKey` (nil: rows without an id, e.g. `trades`, whose
    /// rows are named by their `from` and `to` text columns).
    public var ids: [String]
    public var idKey: String? = "id"
    public var periods: Int
    public var textColumns: [(name: String, values: [String])] = []
    /// Per-row booleans (not per period), e.g. a line's `closed`.
    public var flagColumns: [(name: String, values: [Bool])] = []
    public var columns: [(name: String, values: [Double])] = []

    public init(ids: [String], periods: Int) {
        self.ids = ids
        self.periods = periods
    }

    public mutating func addColumn(_ name: String, _ values: [Double]) {
        columns.append((name, values))
    }

    public mutating func addTextColumn(_ name: String, _ values: [String]) {
        textColumns.append((name, values))
    }

    public mutating func addFlagColumn(_ name: String, _ values: [Bool]) {
        flagColumns.append((name, values))
    }
}

public struct MarketResult: Sendable {
    public var mechanism: Mechanism
    public var status: ResultStatus
    public var message: String = ""
    /// For `infeasible`: the binding constraint, e.g. `[("constraint", "vMinPu"), ("bus", "114")]`.
    public var diagnosis: [(String, String)] = []
    public var objective: [(String, ResultValue)] = []
    /// Mechanism-specific top-level fields (e.g. `x`, `y`, `s` of `conic`), after `status`.
    public var fields: [(String, ResultValue)] = []
    public var tables: [(name: String, table: ResultTable)] = []
    public var quality: [(String, Double)] = []
    public var iterations: Int = 0
    public var algorithm: String
    public var solveSeconds: Double = 0

    public init(mechanism: Mechanism, status: ResultStatus, algorithm: String) {
        self.mechanism = mechanism
        self.status = status
        self.algorithm = algorithm
    }
}

extension ResultValue {
    var isFinite: Bool {
        switch self {
        case .number(let v): return v.isFinite
        case .numbers(let vs): return vs.allSatisfy(\.isFinite)
        case .object(let fields): return fields.allSatisfy { $0.1.isFinite }
        case .list(let items): return items.allSatisfy(\.isFinite)
        case .text, .flag, .null: return true
        }
    }
}

extension MarketResult {
    /// Whether every number of the result is finite.
    public var isFinite: Bool {
        objective.allSatisfy { $0.1.isFinite } && fields.allSatisfy { $0.1.isFinite }
            && quality.allSatisfy { $0.1.isFinite }
            && tables.allSatisfy { $0.table.columns.allSatisfy { $0.values.allSatisfy(\.isFinite) } }
    }
}

/// What a running solve may consult: the caller's progress observer and the time limit.
public struct SolveControl {
    /// Receives a progress event (JSON text); returning true asks the solve to stop.
    public var observer: ((String) -> Bool)?
    /// Monotonic-clock deadline in seconds (see `monotonicSeconds()`), if any.
    public var deadline: Double?

    public init(observer: ((String) -> Bool)? = nil, deadline: Double? = nil) {
        self.observer = observer
        self.deadline = deadline
    }

    /// Reports an event; true means stop (interrupted by the observer).
    public func report(_ eventJSON: String) -> Bool {
        observer?(eventJSON) ?? false
    }

    /// Reports a clearing's `start` event; if the observer stops it there, `result` says so and
    /// the answer is true (the caller returns `result`).
    func stopsAtStart(_ eventJSON: String, _ result: inout MarketResult) -> Bool {
        guard report(eventJSON) else { return false }
        result.status = .interrupted
        result.message = "interrupted by the progress observer before the solve"
        return true
    }

    public var pastDeadline: Bool {
        guard let deadline else { return false }
        return monotonicSeconds() > deadline
    }
}
