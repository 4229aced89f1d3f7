#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Exact AC power flow of a radial feeder by backward/forward sweep (complex voltages,
/// constant-power loads, shunts as constant admittance: capacitors and reactors as a
/// susceptance, magnetizing and charging losses as a conductance). Used to verify what a relaxed or
/// linearized market clearing implies for the real feeder.

/// Settings of the sweep.
public struct PowerFlowSettings: Sendable, Equatable {
    /// Stop when no bus voltage moves by more than this between sweeps, pu.
    public var tolerance: Double = 1e-11
    /// Sweeps before giving up (result `converged == false`).
    public var maxIterations: Int = 100
    /// A bus voltage below this (pu) is taken as collapse: the sweep stops, not converged.
    public var collapseVoltage: Double = 1e-3

    public init() {}
}

/// The solved (or last) state of a power flow, in the caller's units. Every number is finite.
public struct PowerFlowResult: Sendable {
    /// The sweep met the tolerance (and the power mismatch is small).
    public var converged: Bool
    public var iterations: Int
    /// Largest voltage update of the last sweep, pu.
    public var lastUpdatePu: Double
    /// Largest nodal power mismatch (apparent power, kVA) of the reported state: what the bus
    /// voltages and branch flows fail to deliver of each bus's demand.
    public var maxMismatchKVA: Double
    /// Why the sweep stopped without converging; empty when it converged.
    public var message: String

    /// Per bus: voltage magnitude (pu) and angle (degrees, relative to the substation).
    public var vPu: [Double]
    public var angleDeg: [Double]
    /// Per network line: flow at the `from` end, positive from `from` to `to` (0 on lines out of
    /// service), and series losses.
    public var pKW: [Double]
    public var qKVAr: [Double]
    public var lossKW: [Double]
    public var lossKVAr: [Double]
    /// Power delivered into the feeder at the substation (positive = import).
    public var substationPKW: Double
    public var substationQKVAr: Double
    /// Total series losses.
    public var totalLossKW: Double
    public var totalLossKVAr: Double
    /// Active power drawn by the shunt conductances, Σ pShuntKW · |V|² (not in `totalLossKW`).
    public var shuntLossKW: Double = 0

    /// The lowest voltage and its bus (the root when the feeder is a single bus).
    public var vMinPu: Double { vPu.min() ?? 0 }
    public var vMinBus: Int { vPu.indices.min(by: { vPu[$0] < vPu[$1] }) ?? 0 }
}

extension Feeder {
    /// Runs the sweep with per-bus net injections (kW / kVAr, positive = into the feeder) on top
    /// of the passive loads and capacitors. An injection array may be empty (none) or have one
    /// entry per bus; other lengths are read as far as they go. Never traps: a feeder that cannot
    /// be solved (e.g. far overloaded) is reported with `converged == false` and its last
    /// finite state.
    public func powerFlow(injectionKW: [Double] = [], injectionKVAr: [Double] = [],
                          settings: PowerFlowSettings = PowerFlowSettings()) -> PowerFlowResult {
        let n = busCount
        // Net demand of each bus, pu (shunts handled separately since they depend on |V|).
        var pDemand = pLoad, qDemand = qLoad
        for i in 0..<min(n, injectionKW.count) { pDemand[i] -= pu(injectionKW[i]) }
        for i in 0..<min(n, injectionKVAr.count) { qDemand[i] -= pu(injectionKVAr[i]) }

        let v0 = vSubstation
        var vr = [Double](repeating: v0, count: n), vi = [Double](repeating: 0, count: n)
        var jr = [Double](repeating: 0, count: n), ji = [Double](repeating: 0, count: n)
        let collapse = max(settings.collapseVoltage, 1e-12)
        let tolerance = settings.tolerance.isFinite && settings.tolerance > 0 ? settings.tolerance : 1e-11

        /// Branch currents from the bus voltages: J_j = conj(S_j / V_j) summed over the subtree.
        /// Returns false when a current is not finite.
        func backward() -> Bool {
            for bus in 0..<n {
                let m2 = vr[bus] * vr[bus] + vi[bus] * vi[bus]
                let sp = pDemand[bus] + gShunt[bus] * m2, sq = qDemand[bus] - bCap[bus] * m2
                // conj(S / V) = conj(S) / conj(V) = (sp − i sq)(vr + i vi) / |V|²
                jr[bus] = (sp * vr[bus] + sq * vi[bus]) / m2
                ji[bus] = (sp * vi[bus] - sq * vr[bus]) / m2
            }
            for bus in order.reversed() where parent[bus] >= 0 {
                jr[parent[bus]] += jr[bus]
                ji[parent[bus]] += ji[bus]
            }
            for bus in 0..<n where !(jr[bus].isFinite && ji[bus].isFinite) { return false }
            return true
        }

        var iterations = 0
        var lastUpdate = Double.infinity
        var converged = false
        var message = ""
        var savedR = vr, savedI = vi
        while iterations < max(settings.maxIterations, 0) {
            guard backward() else {
                message = "branch currents overflowed"
                break
            }
            savedR = vr
            savedI = vi
            iterations += 1
            var update = 0.0
            var collapsed = false
            for bus in order where parent[bus] >= 0 {
                let p = parent[bus]
                let nr = vr[p] - (r[bus] * jr[bus] - x[bus] * ji[bus])
                let ni = vi[p] - (r[bus] * ji[bus] + x[bus] * jr[bus])
                let dr = nr - vr[bus], di = ni - vi[bus]
                update = max(update, (dr * dr + di * di).squareRoot())
                vr[bus] = nr
                vi[bus] = ni
                if !(nr.isFinite && ni.isFinite) || nr * nr + ni * ni < collapse * collapse { collapsed = true }
            }
            if collapsed || !update.isFinite {
                vr = savedR
                vi = savedI
                message = "voltage collapse: the feeder cannot carry this load"
                break
            }
            lastUpdate = update
            if update <= tolerance {
                converged = true
                break
            }
        }
        if !converged && message.isEmpty {
            message = "no convergence after \(iterations) sweeps (last update \(lastUpdate) pu)"
        }

        // Report the state: branch currents that satisfy Ohm's law with the final voltages are the
        // ones of the last forward sweep (jr, ji computed from the previous voltages); recompute
        // them only when the sweep never ran or stopped on overflow.
        if iterations == 0 || !message.isEmpty && !converged {
            vr = savedR
            vi = savedI
            if !backward() {
                for bus in 0..<n { jr[bus] = 0; ji[bus] = 0 }
            }
        }
        // Nodal mismatch: power arriving through the parent branch minus power leaving to the
        // children, against the demand at the final voltage. Load current of bus j is J_j − ΣJ_k.
        var lr = jr, li = ji
        for bus in 0..<n where parent[bus] >= 0 {
            lr[parent[bus]] -= jr[bus]
            li[parent[bus]] -= ji[bus]
        }
        var mismatch = 0.0
        for bus in 0..<n {
            let m2 = vr[bus] * vr[bus] + vi[bus] * vi[bus]
            // V · conj(I)
            let dp = vr[bus] * lr[bus] + vi[bus] * li[bus]
            let dq = vi[bus] * lr[bus] - vr[bus] * li[bus]
            let ep = dp - (pDemand[bus] + gShunt[bus] * m2), eq = dq - (qDemand[bus] - bCap[bus] * m2)
            mismatch = max(mismatch, (ep * ep + eq * eq).squareRoot())
        }
        if !mismatch.isFinite { mismatch = .greatestFiniteMagnitude }
        if converged && mismatch * 1e3 > 1 {   // over 1 mVA per kVA of base: not a solution
            converged = false
            message = "sweep stalled with a power mismatch of \(kW(mismatch)) kVA"
        }

        var result = PowerFlowResult(
            converged: converged, iterations: iterations, lastUpdatePu: Feeder.finite(lastUpdate),
            maxMismatchKVA: kW(mismatch), message: message,
            vPu: [Double](repeating: 0, count: n), angleDeg: [Double](repeating: 0, count: n),
            pKW: [Double](repeating: 0, count: lineCount), qKVAr: [Double](repeating: 0, count: lineCount),
            lossKW: [Double](repeating: 0, count: lineCount), lossKVAr: [Double](repeating: 0, count: lineCount),
            substationPKW: 0, substationQKVAr: 0, totalLossKW: 0, totalLossKVAr: 0)
        let degrees = 180 / Double.pi
        var shuntLoss = 0.0
        for bus in 0..<n {
            let m2 = vr[bus] * vr[bus] + vi[bus] * vi[bus]
            result.vPu[bus] = Feeder.finite(m2.squareRoot())
            result.angleDeg[bus] = Feeder.finite(atan2Finite(vi[bus], vr[bus]) * degrees)
            shuntLoss += gShunt[bus] * m2
        }
        result.shuntLossKW = kW(shuntLoss)
        var lossP = 0.0, lossQ = 0.0
        for bus in 0..<n where parent[bus] >= 0 {
            let p = parent[bus], k = parentLine[bus]
            let j2 = jr[bus] * jr[bus] + ji[bus] * ji[bus]
            // Sending end (parent side): V_p · conj(J); receiving end: V_j · conj(J).
            let sendP = vr[p] * jr[bus] + vi[p] * ji[bus]
            let sendQ = vi[p] * jr[bus] - vr[p] * ji[bus]
            let recvP = vr[bus] * jr[bus] + vi[bus] * ji[bus]
            let recvQ = vi[bus] * jr[bus] - vr[bus] * ji[bus]
            let forward = parentLineForward[bus]
            // At the `from` end, positive from `from` to `to`.
            result.pKW[k] = kW(forward ? sendP : -recvP)
            result.qKVAr[k] = kW(forward ? sendQ : -recvQ)
            result.lossKW[k] = kW(r[bus] * j2)
            result.lossKVAr[k] = kW(x[bus] * j2)
            lossP += result.lossKW[k]
            lossQ += result.lossKVAr[k]
        }
        // The substation supplies its own bus's demand plus what leaves through its branches.
        let rootBus = root
        result.substationPKW = kW(vr[rootBus] * jr[rootBus] + vi[rootBus] * ji[rootBus])
        result.substationQKVAr = kW(vi[rootBus] * jr[rootBus] - vr[rootBus] * ji[rootBus])
        result.totalLossKW = Feeder.finite(lossP)
        result.totalLossKVAr = Feeder.finite(lossQ)
        return result
    }
}

/// atan2, 0 at the origin and for non-finite input.
func atan2Finite(_ y: Double, _ x: Double) -> Double {
    guard y.isFinite, x.isFinite, x != 0 || y != 0 else { return 0 }
    return atan2(y, x)
}
