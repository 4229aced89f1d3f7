import ESMGrid
import ESMSolver

/// What p2p_online derives once from its configuration document (spec §4.1): the trading graph,
/// the scaling, the feeder, and every battery's Lyapunov parameters (validated). Shared by every
/// slot of a session; never mutated by a step.
public struct OnlineSetup: Sendable {
    public let problem: Problem
    public let graph: TradingGraph
    public let units: P2PUnits
    /// The feeder of each document period (passive bus loads of that period) on one common
    /// power base; empty without a network. Slots past the document's periods use the last.
    public let feeders: [Feeder]
    /// Per prosumer: its battery's parameters; nil without storage.
    public let lyapunov: [LyapunovParameters?]
    public let priceFloor: Double
    public let priceCeiling: Double
    /// Sentences about clamped parameters (options.unsafeParameters "clamp").
    public let notes: [String]

    public init(_ problem: Problem) throws {
        guard let grid = problem.grid else { throw InputError.invalid("grid", "p2p_online needs \"grid\"") }
        if problem.network != nil {
            for (j, who) in problem.prosumers.enumerated() where who.bus == nil {
                throw InputError.invalid("prosumers[\(j)].bus", "missing required key \"bus\": with a network, p2p_online attaches every prosumer to a bus")
            }
            if problem.network?.model == .socp {
                throw InputError.unsupported("network.model", "p2p_online's network is LinDistFlow (spec §6 item 3): use \"lindistflow\", not \"socp\"")
            }
        }
        for (j, who) in problem.prosumers.enumerated() {
            guard let s = who.storage else { continue }
            if s.selfDischarge != 0 {
                throw InputError.unsupported("prosumers[\(j)].storage.selfDischarge", "p2p_online's Lyapunov parameters assume no leakage (spec §6 item 6)")
            }
            if s.socFinalMinKWh != nil {
                throw InputError.invalid("prosumers[\(j)].storage.socFinalMinKWh", "p2p_online has no horizon end: \"socFinalMinKWh\" is not read")
            }
        }
        self.problem = problem
        graph = TradingGraph(prosumers: problem.prosumers)
        let online = problem.options.online
        // π̲: the lowest marginal value of energy; with a feeder the network can force curtailment,
        // so it is 0 (spec §3.5, §6 item 5). π̄: the highest buy price.
        let floor = online.priceFloor ?? (problem.network != nil ? 0 : (0..<problem.periods).map { grid.sellPrice[$0] }.min() ?? 0)
        let ceiling = online.priceCeiling ?? ((0..<problem.periods).map { grid.buyPrice[$0] }.max() ?? 0)
        if ceiling < floor {
            throw InputError.invalid("options.priceCeiling", "priceCeiling (\(describeNumber(ceiling))) is below priceFloor (\(describeNumber(floor)))")
        }
        priceFloor = floor
        priceCeiling = ceiling
        var notes: [String] = []
        var lyapunov: [LyapunovParameters?] = []
        for (j, who) in problem.prosumers.enumerated() {
            lyapunov.append(try who.storage.map {
                try LyapunovParameters.choose($0, periodHours: problem.periodHours, priceFloor: floor, priceCeiling: ceiling,
                                              theta: online.lyapunovTheta, policy: online.unsafeParameters,
                                              path: "prosumers[\(j)].storage", notes: &notes)
            })
        }
        self.lyapunov = lyapunov
        self.notes = notes

        // One power base for every slot: the feeder's (from the largest gross demand), else the data's.
        var demand = 0.0
        for t in 0..<problem.periods {
            var total = 0.0
            if let network = problem.network {
                for bus in network.buses where !bus.pLoadKW.isEmpty { total += abs(bus.pLoadKW[min(t, bus.pLoadKW.count - 1)]) }
            }
            for who in problem.prosumers {
                total += who.loadKW[t] + who.pvKW[t] + (who.storage.map { $0.chargeMaxKW + $0.dischargeMaxKW } ?? 0)
            }
            demand = max(demand, total)
        }
        var feeders: [Feeder] = []
        if let network = problem.network, let tree = problem.tree {
            do {
                for t in 0..<problem.periods {
                    feeders.append(try Feeder(network: network, tree: tree, period: t, scaleKVA: demand))
                }
            } catch {
                throw InputError.invalid("network", "the feeder could not be built: \(error)")
            }
        }
        self.feeders = feeders
        var scale = ceiling
        for t in 0..<problem.periods { scale = max(scale, grid.buyPrice[t], grid.sellPrice[t]) }
        for who in problem.prosumers {
            scale = max(scale, abs(who.contractPrice), who.tradeCost)
            if let s = who.storage { scale = max(scale, s.costWear + s.costWearA * max(s.chargeMaxKW, s.dischargeMaxKW)) }
        }
        units = P2PUnits(baseKVA: feeders.first?.baseKVA ?? max(demand, 1e-3), costScale: scale > 0 ? scale : 1,
                         periodHours: problem.periodHours)
    }
}

extension OnlineSetup {
    /// The feeder of slot t (nil without a network).
    func feeder(slot t: Int) -> Feeder? {
        feeders.isEmpty ? nil : feeders[min(max(t, 0), feeders.count - 1)]
    }
}
