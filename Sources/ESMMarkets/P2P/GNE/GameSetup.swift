import ESMGrid
import ESMSolver

/// Everything `p2p_gne` derives from the document before solving: the trading graph, the scaling,
/// one feeder per period on a common power base, the passive demand b_t and the grid price's
/// slope d_t. Validates what the mechanism needs beyond the generic document checks.
struct GameSetup {
    let problem: Problem
    let grid: GridTariff
    let network: Network
    let model: NetworkModel
    let angleMaxRad: Double
    let graph: TradingGraph
    let units: P2PUnits
    let prosumerModel: P2PProsumerModel
    let feeders: [Feeder]
    /// Passive demand per period (the network's bus loads), kW.
    let passiveKW: [Double]
    /// Grid price slope per period, currency/kWh per kW.
    let slope: [Double]
    let periods: Int
    var nash: Bool { problem.options.equilibrium == .nash }

    init(_ problem: Problem, graph: TradingGraph? = nil) throws {
        guard let network = problem.network, let tree = problem.tree else {
            throw InputError.invalid("network", "p2p_gne clears over a feeder: missing \"network\"")
        }
        guard let grid = problem.grid else { throw InputError.invalid("grid", "p2p_gne needs \"grid\"") }
        let model = network.model ?? .linearAngle
        if model == .socp {
            throw InputError.unsupported("network.model", "p2p_gne's operator model is lossless (the energy prosumers buy is what the substation delivers): use \"linear_angle\" (the paper's, default) or \"lindistflow\", not \"socp\"")
        }
        for (j, who) in problem.prosumers.enumerated() where who.bus == nil {
            throw InputError.invalid("prosumers[\(j)].bus", "missing required key \"bus\": p2p_gne attaches every prosumer to a bus")
        }
        self.problem = problem
        self.grid = grid
        self.network = network
        self.model = model
        self.angleMaxRad = (network.angleMaxDeg ?? 15) * Double.pi / 180
        self.periods = problem.periods
        self.graph = graph ?? TradingGraph(prosumers: problem.prosumers)
        for (j, who) in problem.prosumers.enumerated() {
            guard let s = who.storage else { continue }
            if let why = StorageDynamics(s, periodHours: problem.periodHours).infeasibility(periods: problem.periods) {
                throw GameInfeasible(message: "prosumer \"\(who.id)\": \(why.message)",
                                     diagnosis: [("constraint", why.field), ("prosumer", who.id), ("period", "\(why.period)")],
                                     path: "prosumers[\(j)].storage.\(why.field)")
            }
        }

        // A surplus a prosumer can neither consume, store, sell nor trade away makes the market
        // infeasible whatever the others do: name it rather than leave it to the solver.
        let graph = self.graph
        for (j, who) in problem.prosumers.enumerated() {
            var tradable = 0.0
            var unlimited = false
            for end in graph.ends[j] {
                if let limit = graph.edges[end.edge].maxKW { tradable += limit } else { unlimited = true }
            }
            if unlimited || grid.exportAllowed { continue }
            for t in 0..<problem.periods {
                var absorb = tradable + (who.storage?.chargeMaxKW ?? 0)
                if let f = who.flex { absorb += max(0, -f.minKW[t]) } else { absorb += 0 }
                let produced = who.flex.map { max(0, $0.minKW[t]) } ?? 0
                let surplus = who.pvKW[t] + produced - who.loadKW[t]
                if surplus > absorb + 1e-9 * max(1, surplus) {
                    throw GameInfeasible(message: "prosumer \"\(who.id)\" cannot balance period \(t): its surplus of \(surplus) kW exceeds what it can consume, store and trade (\(absorb) kW) and the grid buys nothing (no sellPrice)",
                                         diagnosis: [("constraint", "balance"), ("prosumer", who.id), ("period", "\(t)")],
                                         path: "prosumers[\(j)]")
                }
            }
        }

        // One power base for the whole horizon (storage couples the periods).
        var demand = 0.0, passive = [Double](repeating: 0, count: problem.periods)
        for t in 0..<problem.periods {
            var total = 0.0
            for bus in network.buses {
                let p = bus.pLoadKW.isEmpty ? 0 : bus.pLoadKW[min(t, bus.pLoadKW.count - 1)]
                passive[t] += p
                total += abs(p)
            }
            for who in problem.prosumers { total += who.loadKW[t] + who.pvKW[t] }
            demand = max(demand, total)
        }
        self.passiveKW = passive
        self.slope = grid.priceSlope ?? [Double](repeating: 0, count: problem.periods)
        var feeders: [Feeder] = []
        for t in 0..<problem.periods {
            do {
                feeders.append(try Feeder(network: network, tree: tree, period: t, scaleKVA: demand))
            } catch {
                throw InputError.invalid("network", "the feeder could not be built: \(error)")
            }
        }
        self.feeders = feeders
        let base = feeders.first?.baseKVA ?? 1000

        // Cost scale: the largest marginal price the data can produce, so that prices are O(1).
        var scale = 0.0
        for t in 0..<problem.periods {
            scale = max(scale, grid.buyPrice[t], grid.sellPrice[t])
            scale = max(scale, slope[t] * (abs(passive[t]) + demand))
        }
        for who in problem.prosumers {
            scale = max(scale, abs(who.contractPrice), who.tradeCost)
            if let f = who.flex {
                for t in 0..<problem.periods {
                    scale = max(scale, abs(f.costB[t]) + f.costA[t] * max(abs(f.minKW[t]), abs(f.maxKW[t])))
                }
            }
            if let s = who.storage { scale = max(scale, s.costWear + s.costWearA * max(s.chargeMaxKW, s.dischargeMaxKW)) }
        }
        self.units = P2PUnits(baseKVA: base, costScale: scale > 0 ? scale : 1, periodHours: problem.periodHours)
        self.prosumerModel = P2PProsumerModel(periods: problem.periods, units: units, grid: grid,
                                              graph: self.graph, prosumers: problem.prosumers)
    }

    /// The grid's import price in period t at total prosumer import σ (kW).
    func importPrice(sigmaKW: Double, period t: Int) -> Double {
        grid.buyPrice[t] + slope[t] * (sigmaKW + passiveKW[t])
    }
}

/// An infeasibility found before solving (e.g. a battery that cannot meet its bounds).
struct GameInfeasible: Error {
    var message: String
    var diagnosis: [(String, String)]
    var path: String
}

/// The operator's network in one period: the paper's linear angle model or LinDistFlow. A
/// struct with one of two models rather than an enum with two payloads: valgrind cannot follow
/// the tag Swift keeps in a multi-payload enum's spare bits and reports it as uninitialized.
struct GameNetwork {
    private(set) var angle: LinearAngleModel?
    private(set) var branch: BranchFlowModel?

    init(angle: LinearAngleModel) { self.angle = angle }
    init(branch: BranchFlowModel) { self.branch = branch }

    /// Adds period t's network with the prosumers' physical withdrawals (kW expressions per
    /// prosumer, negated into bus injections).
    static func add(_ setup: GameSetup, period t: Int, withdrawals: [LinearExpression],
                    to builder: inout ConicBuilder) -> GameNetwork {
        let feeder = setup.feeders[t]
        var active = [LinearExpression](repeating: .zero, count: feeder.busCount)
        var reactive = [LinearExpression](repeating: .zero, count: feeder.busCount)
        for (j, who) in setup.problem.prosumers.enumerated() {
            guard let bus = who.bus, bus >= 0, bus < feeder.busCount, j < withdrawals.count else { continue }
            active[bus].add(withdrawals[j], times: -1)
            reactive[bus].constant -= who.qLoadKVAr[t]
        }
        var options = BranchFlowOptions()
        options.namePrefix = "t\(t)."
        switch setup.model {
        case .lindistflow, .socp:
            return GameNetwork(branch: feeder.addModel(.lindistflow, to: &builder,
                                                       injections: BusInjections(activeKW: active, reactiveKVAr: reactive), options: options))
        case .linearAngle:
            return GameNetwork(angle: feeder.addLinearAngleFlow(to: &builder, injections: BusInjections(activeKW: active),
                                                                angleMaxRad: setup.angleMaxRad, options: options))
        }
    }

    var activeBalance: ConstraintGroup? { angle?.activeBalance ?? branch?.activeBalance }

    /// Per bus: voltage (pu) and angle (degrees; 0 in LinDistFlow, which has none); per line:
    /// flow at the `from` end (kW, kVAr).
    func state(x: [Double]) -> (vPu: [Double], angleDeg: [Double], pKW: [Double], qKVAr: [Double]) {
        if let m = angle { return m.solution(x: x) }
        guard let m = branch else { return ([], [], [], []) }
        let s = m.solution(x: x)
        return (s.vPu, [Double](repeating: 0, count: s.vPu.count), s.pKW, s.qKVAr)
    }

    /// Per line: the marginal value of a kVA of rating (objective units per kVA).
    func ratingPrices(y: [Double], model built: ConicModel) -> [Double] {
        if let m = angle { return m.ratingPrices(y: y, model: built) }
        guard let m = branch else { return [] }
        // LinDistFlow's thermal cones are per rated branch in bus order.
        var out = [Double](repeating: 0, count: m.feeder.lineCount)
        guard let group = m.thermalLimits else { return out }
        let duals = built.values(of: group, in: y)
        var k = 0
        for bus in 0..<m.feeder.busCount where m.feeder.parent[bus] >= 0 && m.feeder.rating[bus] != nil {
            let row = duals.startIndex + 3 * k
            let line = m.feeder.parentLine[bus]
            if row < duals.endIndex, line >= 0, line < out.count { out[line] = GameResult.finite(duals[row] / m.feeder.baseKVA) }
            k += 1
        }
        return out
    }
}
