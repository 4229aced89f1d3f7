import ESMGrid

/// The modified Lyapunov policy's parameters of one battery (p2p_online spec §3.5–3.6): the
/// trade-off V_i (queue weight w_i = 1/V_i) and the SoC shift Γ_i (queue Q_i = E_i − Γ_i).
///
/// With one-slot extremes ā = η_c c̄ Δt and |a̲| = ē Δt / η_d and the marginal value of energy in
/// [π̲, π̄], the SoC stays in [E̲, Ē] by induction whenever
///
///     E̲ + |a̲| + η_d π̄ V  ≤  Γ  ≤  Ē − ā + π̲ V / η_c,
///
/// which has a solution iff V ≤ V^max = (Ē − E̲ − ā − |a̲|) / (η_d π̄ − π̲ / η_c). The drift
/// constant B = ½ max(ā², a̲²) gives the gap bound B / V per slot.
public struct LyapunovParameters: Sendable, Equatable {
    public var v: Double
    public var shiftKWh: Double
    /// nil: no V keeps the SoC in bounds (battery small relative to its power, or π̄ ≤ π̲ ratio).
    public var vMax: Double?
    public var driftB: Double
    public var weight: Double { 1 / v }
    /// B / V: this battery's share of the per-slot optimality gap bound (currency).
    public var gapBound: Double { driftB / v }

    /// The quantities of §3.5 for `storage` that do not depend on V.
    public struct Limits: Sendable {
        public var chargeStepKWh: Double
        public var dischargeStepKWh: Double
        public var driftB: Double
        public var vMax: Double?
        let storage: Storage
        let priceFloor: Double
        let priceCeiling: Double

        public init(_ s: Storage, periodHours h: Double, priceFloor: Double, priceCeiling: Double) {
            storage = s
            self.priceFloor = priceFloor
            self.priceCeiling = priceCeiling
            chargeStepKWh = s.etaCharge * s.chargeMaxKW * h
            dischargeStepKWh = s.dischargeMaxKW * h / s.etaDischarge
            driftB = 0.5 * max(chargeStepKWh * chargeStepKWh, dischargeStepKWh * dischargeStepKWh)
            let room = s.socMaxKWh - s.socMinKWh - chargeStepKWh - dischargeStepKWh
            let spread = s.etaDischarge * priceCeiling - priceFloor / s.etaCharge
            vMax = room > 0 && spread > 0 && (room / spread).isFinite ? room / spread : nil
        }

        /// The interval of safe shifts Γ at trade-off V (empty when V > V^max).
        public func shiftRange(v: Double) -> (low: Double, high: Double) {
            (storage.socMinKWh + dischargeStepKWh + storage.etaDischarge * priceCeiling * v,
             storage.socMaxKWh - chargeStepKWh + priceFloor * v / storage.etaCharge)
        }
    }

    /// Parameters of a battery: the given V and Γ checked (rejected or clamped per `policy`), or
    /// V = θ·V^max and Γ the middle of its safe interval. `path` names the storage object;
    /// clamping appends a sentence to `notes`.
    public static func choose(_ s: Storage, periodHours: Double, priceFloor: Double, priceCeiling: Double,
                              theta: Double, policy: Options.UnsafeParameters, path: String,
                              notes: inout [String]) throws -> LyapunovParameters {
        let limits = Limits(s, periodHours: periodHours, priceFloor: priceFloor, priceCeiling: priceCeiling)
        let vMax = limits.vMax
        var v: Double
        if let given = s.lyapunovV {
            v = given
            if policy != .allow {
                guard let vMax else {
                    if policy == .reject {
                        throw InputError.invalid("\(path).lyapunovV", "no lyapunovV keeps this battery's state of charge in bounds: its usable range \(describe(s.socMaxKWh - s.socMinKWh)) kWh is not larger than one slot's charge plus discharge (\(describe(limits.chargeStepKWh + limits.dischargeStepKWh)) kWh); set options.unsafeParameters to \"allow\" and rely on the one-slot bounds")
                    }
                    throw InputError.invalid("\(path).lyapunovV", "no lyapunovV keeps this battery's state of charge in bounds (usable range not larger than one slot's charge plus discharge), so there is nothing to clamp to")
                }
                if given > vMax * (1 + 1e-12) {
                    if policy == .reject {
                        throw InputError.invalid("\(path).lyapunovV", "lyapunovV (\(describe(given))) exceeds V^max = \(describe(vMax)) kWh²/currency: no SoC shift keeps the state of charge in bounds (p2p_online spec §3.5)")
                    }
                    notes.append("\(path).lyapunovV \(describe(given)) clamped to V^max = \(describe(vMax))")
                    v = vMax
                }
            }
        } else {
            guard let vMax else {
                throw InputError.invalid(path, "no Lyapunov parameters keep this battery's state of charge in bounds: its usable range \(describe(s.socMaxKWh - s.socMinKWh)) kWh is not larger than one slot's charge plus discharge (\(describe(limits.chargeStepKWh + limits.dischargeStepKWh)) kWh); give lyapunovV and socShiftKWh with options.unsafeParameters \"allow\"")
            }
            v = theta * vMax
        }
        let range = limits.shiftRange(v: v)
        var shift: Double
        if let given = s.socShiftKWh {
            shift = given
            if policy != .allow && (given < range.low - 1e-9 || given > range.high + 1e-9) {
                if policy == .reject {
                    throw InputError.invalid("\(path).socShiftKWh", "socShiftKWh (\(describe(given))) is outside the safe interval [\(describe(range.low)), \(describe(range.high))] kWh at lyapunovV = \(describe(v)) (p2p_online spec §3.5)")
                }
                shift = min(max(given, range.low), range.high)
                notes.append("\(path).socShiftKWh \(describe(given)) clamped to \(describe(shift))")
            }
        } else {
            shift = 0.5 * (range.low + range.high)
        }
        return LyapunovParameters(v: v, shiftKWh: shift, vMax: vMax, driftB: limits.driftB)
    }

    static func describe(_ x: Double) -> String { describeNumber(x) }
}
