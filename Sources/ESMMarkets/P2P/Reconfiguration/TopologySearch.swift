import ESMGrid
import ESMSolver

/// How the switch statuses were found: one branch-and-bound over the whole horizon, or one per
/// period when the periods are independent (no battery links them) and the periods' own optima
/// meet the switching limits together — then their union is the horizon's optimum, and the
/// search is a sum of small ones instead of one over every period's binaries at once.
struct TopologySearch {
    var closed: [[Bool]]
    var status: MixedIntegerStatus
    /// Relative gap of the objective, and the best bound on the social cost (currency).
    var relativeGap: Double
    var bestBound: Double
    var nodes: Int
    var message: String
    var hasIncumbent: Bool { !closed.isEmpty }
}

extension P2PReconfiguration {
    /// Period t of `problem` as a one-period problem (series sliced, switching limits dropped).
    static func slice(_ problem: Problem, period t: Int) -> Problem {
        var one = problem
        one.periods = 1
        func at(_ s: Series) -> Series { Series(s[t]) }
        func at(_ a: [Double]) -> [Double] { a.isEmpty ? a : [a[min(t, a.count - 1)]] }
        for j in one.prosumers.indices {
            one.prosumers[j].loadKW = at(problem.prosumers[j].loadKW)
            one.prosumers[j].qLoadKVAr = at(problem.prosumers[j].qLoadKVAr)
            one.prosumers[j].pvKW = at(problem.prosumers[j].pvKW)
            if let f = problem.prosumers[j].flex {
                one.prosumers[j].flex = Flex(minKW: at(f.minKW), maxKW: at(f.maxKW), costA: at(f.costA), costB: at(f.costB))
            }
        }
        if var network = problem.network {
            for b in network.buses.indices {
                network.buses[b].pLoadKW = at(network.buses[b].pLoadKW)
                network.buses[b].qLoadKVAr = at(network.buses[b].qLoadKVAr)
            }
            one.network = network
        }
        if var grid = problem.grid {
            grid.buyPrice = at(grid.buyPrice)
            grid.sellPrice = at(grid.sellPrice)
            grid.substationPrice = grid.substationPrice.map { at($0) }
            one.grid = grid
        }
        one.options.maxSwitchingOperations = nil
        return one
    }

    /// Switch operations between consecutive periods.
    static func operations(_ closed: [[Bool]]) -> Int {
        (1..<max(closed.count, 1)).reduce(0) { acc, t in acc + zip(closed[t], closed[t - 1]).filter { $0 != $1 }.count }
    }
}
