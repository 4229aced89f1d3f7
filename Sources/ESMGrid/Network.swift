/// The feeder as the caller described it (api.md §2.2), validated, in the caller's units.
/// Buses and lines are referred to by index; ids are kept for the result document.

/// Physics used for the feeder's power flow.
public enum NetworkModel: String, Sendable, CaseIterable {
    /// Branch flow model with the second-order cone relaxation `P² + Q² ≤ v·ℓ`.
    case socp
    /// Linearized (lossless) branch flow: active/reactive flows and squared voltages.
    case lindistflow
    /// The DC-like linearization of `p2p_gne`'s paper: flows from angle and voltage-magnitude
    /// differences, no reactive balance (`LinearAngleFlow`). Only `p2p_gne` accepts it.
    case linearAngle = "linear_angle"
}

public struct Bus: Sendable, Equatable {
    public var id: String
    /// Passive (non-prosumer) load per period, kW / kVAr.
    public var pLoadKW: [Double]
    public var qLoadKVAr: [Double]
    /// Shunt susceptance as its reactive output at 1.0 pu, kVAr: a capacitor (> 0) injects
    /// `qCapKVAr · |V|²`, a reactor (< 0) draws as much.
    public var qCapKVAr: Double
    /// Shunt conductance as its active draw at 1.0 pu, kW (≥ 0): draws `pShuntKW · |V|²` (line
    /// charging losses, transformer magnetizing branches of imported feeders).
    public var pShuntKW: Double

    public init(id: String, pLoadKW: [Double], qLoadKVAr: [Double], qCapKVAr: Double, pShuntKW: Double = 0) {
        self.id = id
        self.pLoadKW = pLoadKW
        self.qLoadKVAr = qLoadKVAr
        self.qCapKVAr = qCapKVAr
        self.pShuntKW = pShuntKW
    }

    /// What the shunt can exchange at 1.0 pu, kVA (|pShuntKW| + |qCapKVAr|): its part of a
    /// magnitude estimate (power base, big-M bounds).
    public var shuntKVA: Double {
        (pShuntKW.isFinite ? abs(pShuntKW) : 0) + (qCapKVAr.isFinite ? abs(qCapKVAr) : 0)
    }
}

public struct Line: Sendable, Equatable {
    public var id: String
    /// Bus indices; `from` is the end nearer the substation on a radial feeder.
    public var from: Int
    public var to: Int
    public var rOhm: Double
    public var xOhm: Double
    /// Thermal limit, kVA; nil means none.
    public var rateKVA: Double?
    public var closed: Bool
    public var switchable: Bool

    public init(id: String, from: Int, to: Int, rOhm: Double, xOhm: Double, rateKVA: Double?,
                closed: Bool, switchable: Bool) {
        self.id = id
        self.from = from
        self.to = to
        self.rOhm = rOhm
        self.xOhm = xOhm
        self.rateKVA = rateKVA
        self.closed = closed
        self.switchable = switchable
    }
}

public struct Network: Sendable {
    public var name: String?
    public var baseKV: Double
    public var substation: Int
    public var vSubstationPu: Double
    public var vMinPu: Double
    public var vMaxPu: Double
    /// nil: the mechanism's default model.
    public var model: NetworkModel?
    /// Bound on every bus's voltage angle, degrees (`linear_angle` model); nil: the model's default.
    public var angleMaxDeg: Double?
    public var buses: [Bus]
    public var lines: [Line]
    /// Bus id → index.
    public var busIndex: [String: Int]

    public init(name: String?, baseKV: Double, substation: Int, vSubstationPu: Double, vMinPu: Double,
                vMaxPu: Double, model: NetworkModel?, buses: [Bus], lines: [Line], busIndex: [String: Int]) {
        self.name = name
        self.baseKV = baseKV
        self.substation = substation
        self.vSubstationPu = vSubstationPu
        self.vMinPu = vMinPu
        self.vMaxPu = vMaxPu
        self.model = model
        self.buses = buses
        self.lines = lines
        self.busIndex = busIndex
    }
}
