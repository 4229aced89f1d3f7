/// The per-unit physics of one period of a radial feeder: what the power flow and the branch-flow
/// formulations work on, built in O(n) from a validated `Network` and the `RadialTree` of the lines
/// in service.
///
/// Branches are indexed by their downstream bus: "branch j" is the line joining bus j to its
/// parent (the root has none). Everything is per unit on `baseKVA` (three-phase power) and the
/// feeder's `baseKV`; callers hand in and get back kW / kVAr, so the base never reaches a user.
public struct Feeder: Sendable {
    /// Number of buses (same indices as `Network.buses`).
    public let busCount: Int
    /// Number of lines of the network, open ones included (same indices as `Network.lines`).
    public let lineCount: Int
    /// The substation (slack) bus.
    public let root: Int
    /// Power base, kVA. Chosen from the feeder's size so that flows are of order one.
    public let baseKVA: Double
    /// Voltage base (line to line), kV.
    public let baseKV: Double

    /// Parent bus of each bus; -1 at the root.
    public let parent: [Int]
    /// Network line index of branch j (the line to the parent); -1 at the root.
    public let parentLine: [Int]
    /// True when branch j's line is listed `from` parent `to` j.
    public let parentLineForward: [Bool]
    /// Parents before children (breadth first from the root).
    public let order: [Int]
    /// Children of bus j are `childList[childStart[j] ..< childStart[j + 1]]`.
    public let childStart: [Int]
    public let childList: [Int]
    /// Bus of each network line when it is in service (its downstream end), else -1.
    public let lineBranch: [Int]

    /// Series resistance and reactance of branch j, pu (0 at the root).
    public let r: [Double]
    public let x: [Double]
    /// Branch j has r = x = 0 (switch, ideal regulator): same voltage at both ends, no loss.
    public let zeroImpedance: [Bool]
    /// Thermal limit of branch j, pu of apparent power; nil for none.
    public let rating: [Double?]

    /// Passive load of each bus in this period, pu (positive = consumption).
    public let pLoad: [Double]
    public let qLoad: [Double]
    /// Shunt susceptance, pu: injects `bCap · |V|²` pu of reactive power (< 0: a reactor draws).
    public let bCap: [Double]
    /// Shunt conductance, pu (≥ 0): draws `gShunt · |V|²` pu of active power.
    public let gShunt: [Double]

    /// Slack voltage magnitude (angle 0) and the voltage limits, pu.
    public let vSubstation: Double
    public let vMin: Double
    public let vMax: Double

    /// Why a feeder cannot be built from the given network and tree.
    public enum BuildError: Error, Sendable, Equatable {
        /// The tree was built for a different number of buses, or names a line that does not exist.
        case treeDoesNotMatch
        /// `period` is negative.
        case badPeriod
    }

    /// Builds the per-unit model of period `period` (0-based; a bus series shorter than that uses
    /// its last value). `scaleKVA`, when given, is the caller's estimate of the feeder's total
    /// demand (e.g. passive loads plus prosumers), used only to choose the power base.
    public init(network: Network, tree: RadialTree, period: Int = 0, scaleKVA: Double? = nil) throws {
        let n = network.buses.count
        guard tree.parent.count == n, tree.parentLine.count == n, tree.parentLineForward.count == n,
              tree.order.count == n, tree.root >= 0, tree.root < n else { throw BuildError.treeDoesNotMatch }
        guard period >= 0 else { throw BuildError.badPeriod }
        let lineCount = network.lines.count
        for bus in 0..<n {
            let p = tree.parent[bus], k = tree.parentLine[bus]
            if bus == tree.root {
                guard p == -1 else { throw BuildError.treeDoesNotMatch }
                continue
            }
            guard p >= 0, p < n, k >= 0, k < lineCount else { throw BuildError.treeDoesNotMatch }
            let line = network.lines[k]
            guard (line.from == p && line.to == bus) || (line.to == p && line.from == bus) else {
                throw BuildError.treeDoesNotMatch
            }
        }

        func value(_ series: [Double]) -> Double {
            let v = series.isEmpty ? 0 : series[min(period, series.count - 1)]
            return v.isFinite ? v : 0
        }
        var pLoadKW = [Double](repeating: 0, count: n)
        var qLoadKVAr = [Double](repeating: 0, count: n)
        var totalKVA = 0.0
        for (i, bus) in network.buses.enumerated() {
            pLoadKW[i] = value(bus.pLoadKW)
            qLoadKVAr[i] = value(bus.qLoadKVAr)
            totalKVA += (pLoadKW[i] * pLoadKW[i] + qLoadKVAr[i] * qLoadKVAr[i]).squareRoot()
            totalKVA += bus.shuntKVA
        }
        let base = Feeder.chooseBaseKVA(scaleKVA.map { max($0, totalKVA) } ?? totalKVA)

        self.busCount = n
        self.lineCount = lineCount
        self.root = tree.root
        self.baseKVA = base
        self.baseKV = network.baseKV
        self.parent = tree.parent
        self.parentLine = tree.parentLine
        self.parentLineForward = tree.parentLineForward
        self.order = tree.order

        var counts = [Int](repeating: 0, count: n + 1)
        for bus in 0..<n where tree.parent[bus] >= 0 { counts[tree.parent[bus] + 1] += 1 }
        for i in 0..<n { counts[i + 1] += counts[i] }
        var fill = counts
        var children = [Int](repeating: 0, count: max(n - 1, 0))
        for bus in tree.order where tree.parent[bus] >= 0 {
            let p = tree.parent[bus]
            children[fill[p]] = bus
            fill[p] += 1
        }
        self.childStart = counts
        self.childList = children

        // z_pu = z_ohm · S_base[kVA] / (1000 · baseKV²)
        let zScale = base / (1000 * network.baseKV * network.baseKV)
        var r = [Double](repeating: 0, count: n), x = [Double](repeating: 0, count: n)
        var zero = [Bool](repeating: false, count: n)
        var rating = [Double?](repeating: nil, count: n)
        var lineBranch = [Int](repeating: -1, count: lineCount)
        for bus in 0..<n where bus != tree.root {
            let k = tree.parentLine[bus]
            let line = network.lines[k]
            lineBranch[k] = bus
            r[bus] = Feeder.finite(line.rOhm * zScale)
            x[bus] = Feeder.finite(line.xOhm * zScale)
            zero[bus] = r[bus] == 0 && x[bus] == 0
            if let rate = line.rateKVA, rate.isFinite, rate > 0 { rating[bus] = rate / base }
        }
        self.r = r
        self.x = x
        self.zeroImpedance = zero
        self.rating = rating
        self.lineBranch = lineBranch
        self.pLoad = pLoadKW.map { Feeder.finite($0 / base) }
        self.qLoad = qLoadKVAr.map { Feeder.finite($0 / base) }
        self.bCap = network.buses.map { Feeder.finite($0.qCapKVAr / base) }
        self.gShunt = network.buses.map { Feeder.finite($0.pShuntKW / base) }
        self.vSubstation = network.vSubstationPu
        self.vMin = network.vMinPu
        self.vMax = network.vMaxPu
    }

    /// The power of ten nearest (in ratio) to a quarter of the feeder's total demand in kVA
    /// (1000 kVA for the built-in feeders), so that per-unit flows, squared currents and losses
    /// stay near one. Between 1 kVA and 10¹² kVA; 1000 kVA when there is no demand.
    public static func chooseBaseKVA(_ scale: Double) -> Double {
        guard scale.isFinite, scale > 0 else { return 1000 }
        let target = scale / 4
        var base = 1.0
        // Step up while the next decade is nearer in ratio (√10 is the geometric midpoint).
        while base < 1e12, target >= base * 3.1622776601683795 { base *= 10 }
        return base
    }

    static func finite(_ v: Double) -> Double { v.isFinite ? v : 0 }

    /// Children of `bus`.
    public func children(of bus: Int) -> ArraySlice<Int> {
        guard bus >= 0, bus < busCount else { return [] }
        return childList[childStart[bus] ..< childStart[bus + 1]]
    }

    /// Buses from `bus` up to the substation, `bus` first and the root last.
    public func pathToSubstation(from bus: Int) -> [Int] {
        guard bus >= 0, bus < busCount else { return [] }
        var path = [bus]
        var b = bus
        while parent[b] >= 0 {
            b = parent[b]
            path.append(b)
        }
        return path
    }

    /// Sum of `values` (one per bus) over each bus's subtree, the bus itself included, in O(n).
    public func subtreeSums(_ values: [Double]) -> [Double] {
        var sums = values
        guard sums.count == busCount else { return sums }
        for bus in order.reversed() where parent[bus] >= 0 {
            sums[parent[bus]] += sums[bus]
        }
        return sums
    }

    /// kW (or kVAr, kVA) → pu.
    public func pu(_ kW: Double) -> Double { Feeder.finite(kW / baseKVA) }
    /// pu → kW (or kVAr, kVA).
    public func kW(_ pu: Double) -> Double { Feeder.finite(pu * baseKVA) }
}
