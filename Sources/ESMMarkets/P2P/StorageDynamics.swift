import ESMSolver
#if canImport(Glibc)
import Glibc
#endif

/// A battery over a horizon of equal periods of `periodHours`: charge c_t and discharge e_t (kW,
/// both ≥ 0 and within their ratings) move the state of charge (kWh) by
///
///     x_{t+1} = ρ · x_t + Δt · (η_c · c_t − e_t / η_d),     ρ = (1 − selfDischarge)^Δt,
///
/// from x_0 = `socKWh`, with socMin ≤ x_{t+1} ≤ socMax for every t and x_H ≥ socFinalMin. Wear costs
/// costWear per kWh moved in or out plus costWearA/2 · (c² + e²) per hour. Shared by the P2P
/// mechanisms; no binary keeps c and e apart (losses make doing both unattractive; results flag
/// the periods where both are positive).
public struct StorageDynamics: Sendable {
    public let storage: Storage
    public let periodHours: Double

    public init(_ storage: Storage, periodHours: Double) {
        self.storage = storage
        self.periodHours = periodHours
    }

    /// Fraction of the stored energy kept from one period to the next.
    public var retention: Double {
        let kept = 1 - storage.selfDischarge
        return kept >= 1 ? 1 : pow(max(kept, 1e-300), periodHours)
    }

    public var finalMinKWh: Double { max(storage.socFinalMinKWh ?? storage.socMinKWh, storage.socMinKWh) }

    /// The state of charge after each period (kWh) for the given charge and discharge (kW).
    public func trajectory(chargeKW: [Double], dischargeKW: [Double]) -> [Double] {
        let rho = retention
        var x = storage.socKWh
        var out: [Double] = []
        out.reserveCapacity(chargeKW.count)
        for t in 0..<min(chargeKW.count, dischargeKW.count) {
            x = rho * x + periodHours * (storage.etaCharge * chargeKW[t] - dischargeKW[t] / storage.etaDischarge)
            out.append(x)
        }
        return out
    }

    /// Why no schedule of `periods` periods can meet the bounds, or nil when one can: the
    /// reachable interval of x is propagated forward (charging or discharging at full rating) and
    /// the first bound it misses is named.
    public func infeasibility(periods: Int) -> (period: Int, field: String, message: String)? {
        let rho = retention
        var low = storage.socKWh, high = storage.socKWh
        for t in 0..<periods {
            low = rho * low - periodHours * storage.dischargeMaxKW / storage.etaDischarge
            high = rho * high + periodHours * storage.etaCharge * storage.chargeMaxKW
            let floor = t == periods - 1 ? finalMinKWh : storage.socMinKWh
            if high < floor - 1e-9 * max(1, floor) {
                let what = t == periods - 1 && floor > storage.socMinKWh ? "socFinalMinKWh" : "socMinKWh"
                return (t, what, "the state of charge cannot stay above \(what) = \(floor) kWh in period \(t): at most \(high) kWh is reachable (self-discharge and charging limit)")
            }
            if low > storage.socMaxKWh + 1e-9 * max(1, storage.socMaxKWh) {
                return (t, "socMaxKWh", "the state of charge cannot stay below socMaxKWh = \(storage.socMaxKWh) kWh in period \(t): at least \(low) kWh remains (discharging limit)")
            }
            low = max(low, storage.socMinKWh)
            high = min(high, storage.socMaxKWh)
        }
        return nil
    }

    /// Variables of one battery in a conic problem (per unit: power on `units.baseKVA`, energy on
    /// baseKVA · Δt).
    public struct Variables: Sendable {
        public var charge: [Int]
        public var discharge: [Int]
        /// State of charge at the end of each period.
        public var soc: [Int]
    }

    /// Adds the battery's variables, dynamics (rows of `dynamics`, a zero group), bounds (rows of
    /// `bounds`, a nonnegative group) and wear costs. `socBounds: false` leaves the state of charge
    /// free (p2p_online with its one-slot safety net disabled, spec §7 C3).
    public func add(to builder: inout ConicBuilder, periods: Int, units: P2PUnits, dynamics: ConstraintGroup,
                    bounds: ConstraintGroup, prefix: String, socBounds: Bool = true) -> Variables {
        let s = storage
        let energyBase = units.baseKVA * periodHours
        let charge = Array(builder.addVariables(prefix + "charge", count: periods).range)
        let discharge = Array(builder.addVariables(prefix + "discharge", count: periods).range)
        let soc = Array(builder.addVariables(prefix + "soc", count: periods).range)
        let rho = retention
        for t in 0..<periods {
            // x_t − ρ x_{t−1} − η_c c_t + e_t / η_d = 0 (x_{−1} the initial state, a constant).
            var e = LinearExpression([LinearTerm(soc[t], 1), LinearTerm(charge[t], -s.etaCharge),
                                      LinearTerm(discharge[t], 1 / s.etaDischarge)])
            if t > 0 { e.add(soc[t - 1], -rho) } else { e.constant -= rho * s.socKWh / energyBase }
            builder.addRow(dynamics, e)
            builder.addGreaterEqual(bounds, .variable(charge[t]), 0)
            builder.addLessEqual(bounds, .variable(charge[t]), s.chargeMaxKW / units.baseKVA)
            builder.addGreaterEqual(bounds, .variable(discharge[t]), 0)
            builder.addLessEqual(bounds, .variable(discharge[t]), s.dischargeMaxKW / units.baseKVA)
            if socBounds {
                let floor = t == periods - 1 ? finalMinKWh : s.socMinKWh
                builder.addGreaterEqual(bounds, .variable(soc[t]), floor / energyBase)
                builder.addLessEqual(bounds, .variable(soc[t]), s.socMaxKWh / energyBase)
            }
            for v in [charge[t], discharge[t]] {
                if s.costWear != 0 { builder.addLinearCost(v, units.linear(s.costWear)) }
                if s.costWearA != 0 { builder.addQuadraticCost(v, units.quadratic(s.costWearA)) }
            }
        }
        return Variables(charge: charge, discharge: discharge, soc: soc)
    }

    /// Wear cost of a schedule (currency over the horizon).
    public func wearCost(chargeKW: Double, dischargeKW: Double) -> Double {
        let s = storage
        return periodHours * (s.costWear * (chargeKW + dischargeKW)
            + 0.5 * s.costWearA * (chargeKW * chargeKW + dischargeKW * dischargeKW))
    }
}

/// Per-unit scaling of a P2P problem: powers on `baseKVA`, energies on baseKVA · periodHours, and
/// the objective in units of costScale · baseKVA (currency), so that a marginal price of
/// `costScale` per kWh is 1 per unit of power and period. Chosen from the data, never from the
/// user's units.
public struct P2PUnits: Sendable {
    public let baseKVA: Double
    public let costScale: Double
    public let periodHours: Double

    public init(baseKVA: Double, costScale: Double, periodHours: Double) {
        self.baseKVA = baseKVA > 0 && baseKVA.isFinite ? baseKVA : 1
        self.costScale = costScale > 0 && costScale.isFinite ? costScale : 1
        self.periodHours = periodHours > 0 && periodHours.isFinite ? periodHours : 1
    }

    /// Objective coefficient of a per-unit power that costs `pricePerKWh` per kWh.
    public func linear(_ pricePerKWh: Double) -> Double { pricePerKWh * periodHours / costScale }
    /// Weight w of ½ w x² for a cost a/2 · kW² per hour.
    public func quadratic(_ a: Double) -> Double { a * periodHours * baseKVA / costScale }
    public func pu(_ kW: Double) -> Double { kW / baseKVA }
    public func kW(_ pu: Double) -> Double { pu.isFinite ? pu * baseKVA : 0 }
    /// A dual of a per-unit power row (objective units per pu) as currency per kWh.
    public func pricePerKWh(_ dual: Double) -> Double {
        let v = dual * costScale / periodHours
        return v.isFinite ? v : 0
    }
}
