import Dispatch

// ADMM building blocks (Boyd et al., "Distributed optimization and statistical learning via
// ADMM", scaled form), generic over the local subproblems: the caller supplies each agent's
// proximal step as a closure and may solve it any way it likes (closed form, `solveConic`, …).
//
// • Consensus:  min Σᵢ fᵢ(xᵢ) + g(z)  s.t.  xᵢ = z[Sᵢ]  (agent i holds a copy of the global
//   entries Sᵢ).
// • Exchange:   min Σᵢ fᵢ(xᵢ)  s.t.  Σᵢ xᵢ = 0  (all xᵢ ∈ ℝᵈ; the multiplier is the price).
//
// Both stop on the primal and dual residuals with absolute + relative tolerances and can adapt
// the penalty ρ by residual balancing (ρ ← ρ·τ if r > μs, ρ ← ρ/τ if s > μr, rescaling the
// scaled duals u accordingly).

/// Settings shared by the ADMM variants.
public struct ADMMSettings: Sendable, Equatable {
    /// Initial penalty ρ.
    public var rho: Double = 1
    public var maxIterations: Int = 1000
    /// Stopping: r ≤ √p·absTolerance + relTolerance·(primal scale), same for s (dual scale).
    public var absTolerance: Double = 1e-6
    public var relTolerance: Double = 1e-4
    /// Residual balancing: when one residual exceeds `residualRatio` times the other,
    /// ρ is multiplied or divided by `rhoScaling`. Off: ρ stays fixed.
    public var adaptiveRho: Bool = true
    public var residualRatio: Double = 10
    public var rhoScaling: Double = 2
    /// Bounds on ρ while adapting.
    public var minRho: Double = 1e-6
    public var maxRho: Double = 1e6
    public var timeLimitSeconds: Double = .infinity
    public init() {}
}

public enum ADMMStatus: String, Sendable, Equatable {
    case converged = "solved"
    case iterationLimit = "iteration_limit"
    case timeLimit = "time_limit"
    case interrupted = "interrupted"
    /// A local step returned nil, a vector of the wrong length, or a non-finite value.
    case subproblemFailed = "numerical_error"
}

/// Progress of one ADMM iteration (given to the callback, which may stop the run).
public struct ADMMIterationInfo: Sendable {
    public var iteration: Int
    public var primalResidual: Double
    public var dualResidual: Double
    public var primalTolerance: Double
    public var dualTolerance: Double
    public var rho: Double
}

/// Result of a consensus ADMM run. All numbers are finite.
public struct ConsensusADMMResult: Sendable {
    public var status: ADMMStatus
    /// The consensus (global) variable.
    public var z: [Double]
    /// The agents' local copies.
    public var x: [[Double]]
    /// Multipliers of xᵢ = z[Sᵢ] (ρ·uᵢ).
    public var multipliers: [[Double]]
    public var iterations: Int
    public var primalResidual: Double
    public var dualResidual: Double
    public var rho: Double
}

/// Result of an exchange ADMM run. All numbers are finite.
public struct ExchangeADMMResult: Sendable {
    public var status: ADMMStatus
    /// The agents' variables (Σᵢ xᵢ ≈ 0).
    public var x: [[Double]]
    /// The multiplier of Σᵢ xᵢ = 0 (ρ·u): at the optimum ∇fᵢ(xᵢ) + price = 0 for every i.
    public var price: [Double]
    public var iterations: Int
    public var primalResidual: Double
    public var dualResidual: Double
    public var rho: Double
}

/// Residual balancing, shared by the variants: returns the factor the scaled duals must be
/// multiplied by (1 if ρ is unchanged).
private func adaptRho(_ rho: inout Double, r: Double, s: Double, settings: ADMMSettings) -> Double {
    guard settings.adaptiveRho else { return 1 }
    if r > settings.residualRatio * s && rho * settings.rhoScaling <= settings.maxRho {
        rho *= settings.rhoScaling
        return 1 / settings.rhoScaling
    }
    if s > settings.residualRatio * r && rho / settings.rhoScaling >= settings.minRho {
        rho /= settings.rhoScaling
        return settings.rhoScaling
    }
    return 1
}

/// Local steps one agent after the other, stopping at the first failure.
private func sequentialLocalSteps(_ targets: [[Double]], _ rho: Double,
                                  _ local: (Int, [Double], Double) -> [Double]?) -> [[Double]?] {
    var out = [[Double]?]()
    out.reserveCapacity(targets.count)
    for (i, v) in targets.enumerated() {
        let xi = local(i, v, rho)
        out.append(xi)
        if xi == nil { break }
    }
    return out
}

/// Results written by concurrent workers, each to its own slot.
private final class ResultSlots: @unchecked Sendable {
    var slots: UnsafeMutableBufferPointer<[Double]?>
    init(_ count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil)
    }
    deinit {
        slots.deinitialize()
        slots.deallocate()
    }
}

/// Local steps of all agents concurrently.
private func concurrentLocalSteps(_ targets: [[Double]], _ rho: Double,
                                  _ local: @escaping @Sendable (Int, [Double], Double) -> [Double]?) -> [[Double]?] {
    let results = ResultSlots(targets.count)
    DispatchQueue.concurrentPerform(iterations: targets.count) { i in
        results.slots[i] = local(i, targets[i], rho)
    }
    return Array(results.slots)
}

@inline(__always)
private func isUsable(_ v: [Double]?, count: Int) -> Bool {
    guard let v, v.count == count else { return false }
    return v.allSatisfy { $0.isFinite }
}

/// Consensus ADMM.
/// - `agentIndices[i]`: the global entries agent i holds a copy of (each in 0..<globalDimension).
/// - `local(i, v, ρ)`: argmin fᵢ(xᵢ) + (ρ/2)‖xᵢ − v‖² (v has agentIndices[i].count entries);
///   nil reports a failure.
/// - `globalProx(a, c, ρ)`: argmin g(z) + (ρ/2) Σₖ cₖ(zₖ − aₖ)² where aₖ averages the agents'
///   xᵢ + uᵢ over the cₖ agents holding entry k; without it g = 0 and z = a (entries nobody
///   holds keep their initial value).
public func consensusADMM(globalDimension: Int, agentIndices: [[Int]], initialZ: [Double]? = nil,
                          settings: ADMMSettings = ADMMSettings(),
                          local: (Int, [Double], Double) -> [Double]?,
                          globalProx: (([Double], [Double], Double) -> [Double]?)? = nil,
                          onIteration: ((ADMMIterationInfo) -> Bool)? = nil) -> ConsensusADMMResult {
    consensusCore(globalDimension: globalDimension, agentIndices: agentIndices, initialZ: initialZ,
                  settings: settings, runLocal: { targets, rho in sequentialLocalSteps(targets, rho, local) },
                  globalProx: globalProx, onIteration: onIteration)
}

/// `consensusADMM` with the agents' local steps run concurrently (on the cores Dispatch
/// offers); `local` must then be safe to call from several threads at once.
public func consensusADMMConcurrent(globalDimension: Int, agentIndices: [[Int]], initialZ: [Double]? = nil,
                                    settings: ADMMSettings = ADMMSettings(),
                                    local: @escaping @Sendable (Int, [Double], Double) -> [Double]?,
                                    globalProx: (([Double], [Double], Double) -> [Double]?)? = nil,
                                    onIteration: ((ADMMIterationInfo) -> Bool)? = nil) -> ConsensusADMMResult {
    consensusCore(globalDimension: globalDimension, agentIndices: agentIndices, initialZ: initialZ,
                  settings: settings, runLocal: { targets, rho in concurrentLocalSteps(targets, rho, local) },
                  globalProx: globalProx, onIteration: onIteration)
}

private func consensusCore(globalDimension: Int, agentIndices: [[Int]], initialZ: [Double]?, settings: ADMMSettings,
                           runLocal: ([[Double]], Double) -> [[Double]?],
                           globalProx: (([Double], [Double], Double) -> [Double]?)?,
                           onIteration: ((ADMMIterationInfo) -> Bool)?) -> ConsensusADMMResult {
    let start = monotonicSeconds()
    let nz = max(globalDimension, 0)
    let agents = agentIndices.count
    // Indices outside the global vector are dropped (they cannot be honoured).
    let indices = agentIndices.map { $0.filter { $0 >= 0 && $0 < nz } }
    var z = (initialZ?.count == nz && initialZ!.allSatisfy { $0.isFinite }) ? initialZ! : [Double](repeating: 0, count: nz)
    var x = indices.map { idx in idx.map { z[$0] } }
    var u = indices.map { [Double](repeating: 0, count: $0.count) }
    var count = [Double](repeating: 0, count: nz)
    for idx in indices { for k in idx { count[k] += 1 } }
    let p = Double(indices.reduce(0) { $0 + $1.count })
    var rho = settings.rho > 0 && settings.rho.isFinite ? settings.rho : 1
    var status = ADMMStatus.iterationLimit
    var r = 0.0, s = 0.0
    var iteration = 0
    var avg = [Double](repeating: 0, count: nz)
    var zPrev = z
    while iteration < settings.maxIterations {
        if monotonicSeconds() - start > settings.timeLimitSeconds { status = .timeLimit; break }
        iteration += 1
        // x-updates
        let targets = (0..<agents).map { i in (0..<indices[i].count).map { z[indices[i][$0]] - u[i][$0] } }
        let steps = runLocal(targets, rho)
        var failed = steps.count != agents
        for i in 0..<agents where !failed {
            guard isUsable(steps[i], count: indices[i].count), let xi = steps[i] else { failed = true; break }
            x[i] = xi
        }
        if failed { status = .subproblemFailed; break }
        // z-update
        for k in 0..<nz { avg[k] = 0 }
        for i in 0..<agents { for (t, k) in indices[i].enumerated() { avg[k] += x[i][t] + u[i][t] } }
        for k in 0..<nz { avg[k] = count[k] > 0 ? avg[k] / count[k] : z[k] }
        zPrev = z
        if let prox = globalProx {
            guard let newZ = prox(avg, count, rho), isUsable(newZ, count: nz) else { status = .subproblemFailed; break }
            z = newZ
        } else {
            z = avg
        }
        // u-update and residuals
        var r2 = 0.0, xNorm2 = 0.0, zNorm2 = 0.0, uNorm2 = 0.0
        for i in 0..<agents {
            for (t, k) in indices[i].enumerated() {
                let d = x[i][t] - z[k]
                u[i][t] += d
                r2 += d * d
                xNorm2 += x[i][t] * x[i][t]
                zNorm2 += z[k] * z[k]
            }
        }
        var s2 = 0.0
        for k in 0..<nz { let d = z[k] - zPrev[k]; s2 += count[k] * d * d }
        for i in 0..<agents { for v in u[i] { uNorm2 += v * v } }
        r = r2.squareRoot()
        s = rho * s2.squareRoot()
        let epsPri = p.squareRoot() * settings.absTolerance + settings.relTolerance * max(xNorm2, zNorm2).squareRoot()
        let epsDual = p.squareRoot() * settings.absTolerance + settings.relTolerance * rho * uNorm2.squareRoot()
        if let callback = onIteration,
           callback(ADMMIterationInfo(iteration: iteration, primalResidual: r, dualResidual: s,
                                      primalTolerance: epsPri, dualTolerance: epsDual, rho: rho)) {
            status = .interrupted
            break
        }
        if r <= epsPri && s <= epsDual { status = .converged; break }
        let factor = adaptRho(&rho, r: r, s: s, settings: settings)
        if factor != 1 { for i in 0..<agents { for t in 0..<u[i].count { u[i][t] *= factor } } }
    }
    let finiteOK = z.allSatisfy { $0.isFinite } && r.isFinite && s.isFinite
    return ConsensusADMMResult(status: finiteOK ? status : .subproblemFailed,
                               z: finiteOK ? z : [Double](repeating: 0, count: nz), x: x,
                               multipliers: u.map { $0.map { rho * $0 } }, iterations: iteration,
                               primalResidual: finiteOK ? r : 0, dualResidual: finiteOK ? s : 0, rho: rho)
}

/// Exchange ADMM for `agents` agents with variables in ℝ^`dimension`.
/// - `local(i, v, ρ)`: argmin fᵢ(xᵢ) + (ρ/2)‖xᵢ − v‖²; nil reports a failure.
/// The price (ρu) is the multiplier of Σᵢ xᵢ = 0; with `initialPrice` the run starts from it.
public func exchangeADMM(agents: Int, dimension: Int, initialX: [[Double]]? = nil, initialPrice: [Double]? = nil,
                         settings: ADMMSettings = ADMMSettings(),
                         local: (Int, [Double], Double) -> [Double]?,
                         onIteration: ((ADMMIterationInfo) -> Bool)? = nil) -> ExchangeADMMResult {
    exchangeCore(agents: agents, dimension: dimension, initialX: initialX, initialPrice: initialPrice,
                 settings: settings, runLocal: { targets, rho in sequentialLocalSteps(targets, rho, local) },
                 onIteration: onIteration)
}

/// `exchangeADMM` with the agents' local steps run concurrently (on the cores Dispatch
/// offers); `local` must then be safe to call from several threads at once.
public func exchangeADMMConcurrent(agents: Int, dimension: Int, initialX: [[Double]]? = nil,
                                   initialPrice: [Double]? = nil, settings: ADMMSettings = ADMMSettings(),
                                   local: @escaping @Sendable (Int, [Double], Double) -> [Double]?,
                                   onIteration: ((ADMMIterationInfo) -> Bool)? = nil) -> ExchangeADMMResult {
    exchangeCore(agents: agents, dimension: dimension, initialX: initialX, initialPrice: initialPrice,
                 settings: settings, runLocal: { targets, rho in concurrentLocalSteps(targets, rho, local) },
                 onIteration: onIteration)
}

private func exchangeCore(agents: Int, dimension: Int, initialX: [[Double]]?, initialPrice: [Double]?,
                          settings: ADMMSettings, runLocal: ([[Double]], Double) -> [[Double]?],
                          onIteration: ((ADMMIterationInfo) -> Bool)?) -> ExchangeADMMResult {
    let start = monotonicSeconds()
    let na = max(agents, 0), d = max(dimension, 0)
    var rho = settings.rho > 0 && settings.rho.isFinite ? settings.rho : 1
    var x = [[Double]](repeating: [Double](repeating: 0, count: d), count: na)
    if let initialX, initialX.count == na, initialX.allSatisfy({ isUsable($0, count: d) }) { x = initialX }
    var u = [Double](repeating: 0, count: d)
    if let initialPrice, isUsable(initialPrice, count: d) { u = initialPrice.map { $0 / rho } }
    var mean = [Double](repeating: 0, count: d)
    for i in 0..<na { for k in 0..<d { mean[k] += x[i][k] } }
    if na > 0 { for k in 0..<d { mean[k] /= Double(na) } }
    let p = Double(na * d)
    var status = ADMMStatus.iterationLimit
    var r = 0.0, s = 0.0
    var iteration = 0
    while iteration < settings.maxIterations {
        if monotonicSeconds() - start > settings.timeLimitSeconds { status = .timeLimit; break }
        iteration += 1
        let previous = x, previousMean = mean
        let targets = (0..<na).map { i in (0..<d).map { previous[i][$0] - previousMean[$0] - u[$0] } }
        let steps = runLocal(targets, rho)
        var failed = steps.count != na
        for i in 0..<na where !failed {
            guard isUsable(steps[i], count: d), let xi = steps[i] else { failed = true; break }
            x[i] = xi
        }
        if failed { status = .subproblemFailed; break }
        for k in 0..<d { mean[k] = 0 }
        for i in 0..<na { for k in 0..<d { mean[k] += x[i][k] } }
        if na > 0 { for k in 0..<d { mean[k] /= Double(na) } }
        for k in 0..<d { u[k] += mean[k] }
        // As consensus with zᵢ = xᵢ − x̄: r = √N‖x̄‖, s = ρ‖Δz‖.
        var mean2 = 0.0, s2 = 0.0, xNorm2 = 0.0, zNorm2 = 0.0
        for k in 0..<d { mean2 += mean[k] * mean[k] }
        for i in 0..<na {
            for k in 0..<d {
                let dz = (x[i][k] - mean[k]) - (previous[i][k] - previousMean[k])
                s2 += dz * dz
                xNorm2 += x[i][k] * x[i][k]
                let zk = x[i][k] - mean[k]
                zNorm2 += zk * zk
            }
        }
        var uNorm2 = 0.0
        for k in 0..<d { uNorm2 += u[k] * u[k] }
        r = (Double(na) * mean2).squareRoot()
        s = rho * s2.squareRoot()
        let epsPri = p.squareRoot() * settings.absTolerance + settings.relTolerance * max(xNorm2, zNorm2).squareRoot()
        let epsDual = p.squareRoot() * settings.absTolerance
            + settings.relTolerance * rho * (Double(na) * uNorm2).squareRoot()
        if let callback = onIteration,
           callback(ADMMIterationInfo(iteration: iteration, primalResidual: r, dualResidual: s,
                                      primalTolerance: epsPri, dualTolerance: epsDual, rho: rho)) {
            status = .interrupted
            break
        }
        if r <= epsPri && s <= epsDual { status = .converged; break }
        let factor = adaptRho(&rho, r: r, s: s, settings: settings)
        if factor != 1 { for k in 0..<d { u[k] *= factor } }
    }
    let price = u.map { rho * $0 }
    let finiteOK = price.allSatisfy { $0.isFinite } && r.isFinite && s.isFinite
    return ExchangeADMMResult(status: finiteOK ? status : .subproblemFailed, x: x,
                              price: finiteOK ? price : [Double](repeating: 0, count: d), iterations: iteration,
                              primalResidual: finiteOK ? r : 0, dualResidual: finiteOK ? s : 0, rho: rho)
}
