import ESMGrid
import ESMSolver

/// The mechanisms of api.md §2.1, by their JSON names.
public enum Mechanism: String, Sendable, CaseIterable {
    case energySharing = "energy_sharing"
    case twoLayer = "two_layer"
    case twoLayerVoltage = "two_layer_voltage"
    case p2pReconfiguration = "p2p_reconfiguration"
    case p2pGNE = "p2p_gne"
    case p2pOnline = "p2p_online"
    case socialOptimum = "social_optimum"
    case conic = "conic"
    case powerFlow = "power_flow"

    /// `options.algorithm` values each mechanism accepts; the first is the default.
    public var algorithms: [String] {
        switch self {
        case .energySharing: return ["exact", "centralized"]
        case .twoLayer: return ["direct", "bidding", "centralized"]
        case .twoLayerVoltage: return ["non_iterative", "misocp", "centralized"]
        case .p2pReconfiguration: return ["centralized", "two_tier"]
        case .p2pGNE: return ["centralized", "proximal_point"]
        case .p2pOnline: return ["centralized", "admm", "offline"]
        case .socialOptimum: return ["centralized"]
        case .conic: return ["interior_point"]
        case .powerFlow: return ["backward_forward_sweep"]
        }
    }

    /// Whether the mechanism is cleared over a feeder (and so requires `network`).
    public var needsNetwork: Bool {
        switch self {
        // p2p_online: a slot without a feeder is a plain P2P market with storage (spec §7 C2–C4).
        case .energySharing, .conic, .p2pOnline: return false
        default: return true
        }
    }

    /// Whether every prosumer must belong to a community.
    public var needsCommunities: Bool {
        switch self {
        case .energySharing, .twoLayer, .twoLayerVoltage: return true
        default: return false
        }
    }
}

/// The utility's retail tariff and the upstream price (api.md §2.5), one value per period.
public struct GridTariff: Sendable {
    /// What a prosumer pays the utility, per kWh.
    public var buyPrice: [Double]
    /// What a prosumer gets for exports to the utility, per kWh (< buyPrice).
    public var sellPrice: [Double]
    /// Wholesale price at the substation; nil: import valued at buyPrice, export at sellPrice.
    public var substationPrice: [Double]?
    /// `p2p_gne`: slope d_h of the grid price in the feeder's total draw (currency/kWh per kW),
    /// per period; nil: a fixed price.
    public var priceSlope: [Double]?
    /// `p2p_gne`: bounds on the feeder's total draw from the grid (prosumers' imports plus passive
    /// loads), kW per period; nil: unbounded.
    public var importMinKW: [Double]?
    public var importMaxKW: [Double]?
    /// `p2p_gne`: whether `sellPrice` was given (without it prosumers cannot export to the grid).
    public var exportAllowed = true

    public init(buyPrice: [Double], sellPrice: [Double], substationPrice: [Double]? = nil,
                priceSlope: [Double]? = nil) {
        self.buyPrice = buyPrice
        self.sellPrice = sellPrice
        self.substationPrice = substationPrice
        self.priceSlope = priceSlope
    }
}

/// A community's local sharing market (api.md §2.4).
public struct Community: Sendable {
    public enum Mode: String, Sendable {
        /// Mode A of two_layer.md §3.8: the LAM price equals the locational price.
        case lamPriceEqualsDLMP = "lam_price_equals_dlmp"
        /// Mode B: the intercept equals the locational price.
        case interceptEqualsDLMP = "intercept_equals_dlmp"
    }

    public var id: String
    /// Bus index on the network, when there is one.
    public var bus: Int?
    /// Price sensitivity `a` (currency/kWh per kW) of `price = intercept − a·Σ exports`.
    public var sensitivity: Double
    public var mode: Mode
    /// energy_sharing: a given intercept makes the community an uncleared market.
    public var intercept: [Double]?

    public init(id: String, bus: Int?, sensitivity: Double, mode: Mode = .lamPriceEqualsDLMP,
                intercept: [Double]? = nil) {
        self.id = id
        self.bus = bus
        self.sensitivity = sensitivity
        self.mode = mode
        self.intercept = intercept
    }
}

/// The one dispatchable resource of a prosumer: power `p` (positive produces) costing
/// `costA/2·p² + costB·p` on `[minKW, maxKW]`, per period.
public struct Flex: Sendable {
    public var minKW: Series
    public var maxKW: Series
    public var costA: Series
    public var costB: Series

    public init(minKW: Series, maxKW: Series, costA: Series, costB: Series) {
        self.minKW = minKW
        self.maxKW = maxKW
        self.costA = costA
        self.costB = costB
    }
}

public struct Storage: Sendable {
    public var capacityKWh: Double
    public var socKWh: Double
    public var socMinKWh: Double
    public var socMaxKWh: Double
    public var chargeMaxKW: Double
    public var dischargeMaxKW: Double
    public var etaCharge: Double
    public var etaDischarge: Double
    public var costWear: Double
    /// Quadratic wear cost: costWearA/2 · (charge² + discharge²) per period (currency/kW²h).
    public var costWearA: Double = 0
    /// Fraction of the stored energy lost per hour (leakage; the paper's 1 − η^st).
    public var selfDischarge: Double = 0
    /// Lowest state of charge at the end of the horizon, kWh (default socMinKWh).
    public var socFinalMinKWh: Double?
    /// p2p_online: the Lyapunov trade-off V_i (kWh²/currency; the queue weight is 1/V_i) and the
    /// SoC shift Γ_i (kWh); nil: chosen from the parameters (p2p_online spec §3.5).
    public var lyapunovV: Double?
    public var socShiftKWh: Double?

    public init(capacityKWh: Double, socKWh: Double, socMinKWh: Double, socMaxKWh: Double,
                chargeMaxKW: Double, dischargeMaxKW: Double, etaCharge: Double, etaDischarge: Double,
                costWear: Double) {
        self.capacityKWh = capacityKWh
        self.socKWh = socKWh
        self.socMinKWh = socMinKWh
        self.socMaxKWh = socMaxKWh
        self.chargeMaxKW = chargeMaxKW
        self.dischargeMaxKW = dischargeMaxKW
        self.etaCharge = etaCharge
        self.etaDischarge = etaDischarge
        self.costWear = costWear
    }
}

public struct Prosumer: Sendable {
    public var id: String
    /// Bus index (its own, or its community's when it gives none); nil without a network.
    public var bus: Int?
    /// Community index; nil when it belongs to none.
    public var community: Int?
    public var loadKW: Series
    public var qLoadKVAr: Series
    public var pvKW: Series
    public var flex: Flex?
    public var storage: Storage?
    /// Indices of allowed trading partners (P2P mechanisms).
    public var peers: [Int]
    /// Per-peer terms, parallel to `peers` (an entry's fields override the prosumer's defaults).
    public var peerTerms: [PeerTerms] = []
    /// P2P: per-kWh fee on the absolute traded volume, paid by this side (the paper's c^ta).
    public var tradeCost: Double
    /// P2P: per-kWh contract price paid on what this prosumer buys from a peer (received on what
    /// it sells, since the trade is negative then): the paper's c^tr.
    public var contractPrice: Double = 0
    /// P2P: quadratic trading cost κ: κ/2 · trade² per hour on each of its trades (makes the
    /// bilateral price unique where linear costs leave it a range).
    public var tradeCostA: Double = 0
    /// P2P: largest trade with any one peer, kW (either direction); nil: no limit of its own.
    public var tradeMaxKW: Double?
    public var powerFactor: Double

    public init(id: String, bus: Int?, community: Int?, loadKW: Series, qLoadKVAr: Series,
                pvKW: Series, flex: Flex?, storage: Storage?, peers: [Int], tradeCost: Double,
                powerFactor: Double) {
        self.id = id
        self.bus = bus
        self.community = community
        self.loadKW = loadKW
        self.qLoadKVAr = qLoadKVAr
        self.pvKW = pvKW
        self.flex = flex
        self.storage = storage
        self.peers = peers
        self.tradeCost = tradeCost
        self.powerFactor = powerFactor
    }
}

/// What a prosumer's `peers` entry may set for that one partner.
public struct PeerTerms: Sendable, Equatable {
    public var maxKW: Double?
    public var tradeCost: Double?
    public var contractPrice: Double?
    public var tradeCostA: Double?

    public init(maxKW: Double? = nil, tradeCost: Double? = nil, contractPrice: Double? = nil) {
        self.maxKW = maxKW
        self.tradeCost = tradeCost
        self.contractPrice = contractPrice
    }
}

public enum LogLevel: String, Sendable {
    case off, summary, iterations
}

/// `options` of api.md §2.6, with their defaults.
public struct Options: Sendable {
    /// nil: the mechanism's default algorithm.
    public var algorithm: String?
    public var tolerance: Double = 1e-8
    public var upperPriceRange: (min: Double, max: Double)?
    public var maxIterations: Int?
    public var timeLimitSeconds: Double?
    public var verifyPowerFlow: Bool?
    public var threads: Int = 1
    public var log: LogLevel = .off
    /// Result tables as arrays of row objects (default) or as objects of columns.
    public var columnOutput: Bool = false
    public var priceTaking: Bool = false
    public var allLinesSwitchable: Bool = false
    /// `p2p_gne`: `nash` (each prosumer sees its own effect on the grid price; the paper's
    /// target) or `wardrop` (price-taking).
    public var equilibrium: Equilibrium = .nash
    /// `p2p_gne`: re-solve every prosumer's problem at the equilibrium prices and report how far
    /// its decision is from its best response (`quality.equilibriumResidual`).
    public var verifyEquilibrium: Bool = true
    /// `p2p_reconfiguration`: choose the switch statuses (false: keep the document's).
    public var reconfigure: Bool = true
    /// `p2p_reconfiguration`: most switch operations over the horizon (counted between
    /// consecutive periods); nil: no limit.
    public var maxSwitchingOperations: Int?

    public enum Equilibrium: String, Sendable { case nash, wardrop }

    /// `p2p_online` (spec §3.5): bounds π̲, π̄ on the marginal value of energy (nil: derived from
    /// the grid prices), the fraction θ of V^max used by default, what to do with parameters that
    /// cannot keep the SoC in bounds, and whether the one-slot SoC bounds are imposed.
    public var online = Online()

    public struct Online: Sendable {
        public var priceFloor: Double?
        public var priceCeiling: Double?
        public var lyapunovTheta: Double = 1
        public var unsafeParameters: UnsafeParameters = .reject
        public var hardSocBounds: Bool = true
        public init() {}
    }

    public enum UnsafeParameters: String, Sendable { case reject, clamp, allow }

    public init() {}
}

/// A validated problem document (api.md §2) in the caller's units.
public struct Problem: Sendable {
    public var mechanism: Mechanism
    public var periods: Int
    /// Length of a period, hours (energy = power × periodHours).
    public var periodHours: Double = 1
    public var network: Network?
    /// The radial tree of the closed lines (absent in p2p_reconfiguration, whose tree is chosen).
    public var tree: RadialTree?
    public var grid: GridTariff?
    public var communities: [Community]
    public var prosumers: [Prosumer]
    public var options: Options
    public var conic: ConicProblem?

    public init(mechanism: Mechanism, periods: Int, network: Network?, tree: RadialTree?, grid: GridTariff?,
                communities: [Community], prosumers: [Prosumer], options: Options, conic: ConicProblem?) {
        self.mechanism = mechanism
        self.periods = periods
        self.network = network
        self.tree = tree
        self.grid = grid
        self.communities = communities
        self.prosumers = prosumers
        self.options = options
        self.conic = conic
    }

    /// The algorithm to run: the one asked for, or the mechanism's default.
    public var algorithm: String { options.algorithm ?? mechanism.algorithms[0] }
}
