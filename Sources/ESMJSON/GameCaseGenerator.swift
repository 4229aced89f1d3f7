import ESMGrid
import ESMMarkets

#if canImport(Glibc)
import Glibc
#endif

/// `p2p_gne` cases after the paper's case study (p2p_gne.md §5): N prosumers (default 50) on a
/// built-in feeder (default ieee37) over `periods` hours (default 24), each of one of six demand
/// types with a daily profile (household, multiple households, restaurant, office, hospital,
/// school: peaks 5, 20, 40, 60, 150 and 80 kW), PV for half of them, a dispatchable unit for a
/// quarter (0 … U[10, 40] kW at 0.045 per kWh plus a small quadratic term), a battery for half
/// (±5 kW, 20 … 100 kWh, starting at 50, efficiencies 0.95 / 0.94); the feeder's own loads are the
/// passive consumers, following a residential profile; a random connected trading graph with
/// `connectivity` = |E| / (N(N−1)/2) (default 0.6); contract price 0.08, fee 0.01, 30 kW per
/// trade; the grid price slope set so that the busiest hour's price is about 0.4 per kWh, and a
/// feed-in price of 0.03 (the paper has none; without it a PV surplus no peer can absorb would
/// make the case infeasible).
enum GameCaseGenerator {
    static func generate(prosumers n: Int, seed: UInt64, feeder: BuiltinFeeder, periods: Int,
                         connectivity: Double) throws -> String {
        var random = SplitMix64(seed: seed)
        let network = try CaseGenerator.feederNode(feeder).withRoot { try NetworkDecoder(periods: 1).decode($0) }
        let loads = network.buses.map { $0.pLoadKW[0] }
        let hosts = network.buses.indices.filter { $0 != network.substation }
        let weights = hosts.map { max(loads[$0], 0) + 10 }
        let counts = CaseGenerator.apportion(n, weights: weights)

        // Prosumers, by bus.
        struct Who { var bus: Int; var type: Int; var pv: Double; var unit: Double; var storage: Bool }
        var people: [Who] = []
        for (k, count) in counts.enumerated() {
            for _ in 0..<count {
                let type = min(5, Int(random.uniform(0, 6)))
                let pv = random.uniform(0, 1) < 0.5 ? random.uniform(0.3, 1.0) * peak[type] : 0
                people.append(Who(bus: hosts[k], type: type, pv: pv, unit: 0, storage: false))
            }
        }
        // ⌊N/4⌋ unit owners and ⌊N/2⌋ battery owners, drawn without replacement.
        for k in sample(n, count: n / 4, &random) { people[k].unit = random.uniform(10, 40) }
        for k in sample(n, count: n / 2, &random) { people[k].storage = true }

        // Demand per prosumer and period; passive demand per period.
        let hours = (0..<periods).map { Double($0) * 24 / Double(periods) }
        var peakDraw = 0.0
        for t in 0..<periods {
            var total = 0.0
            for who in people { total += max(0, peak[who.type] * profile(who.type, hours[t]) - who.pv * solar(hours[t])) }
            for bus in network.buses.indices { total += loads[bus] * residential(hours[t]) }
            peakDraw = max(peakDraw, total)
        }
        let slope = CaseGenerator.rounded(0.4 / max(peakDraw, 1), digits: 6)

        var out = JSONWriter(capacity: 600 * n * max(1, periods / 4) + 4096)
        out.raw(#"{"schema":"esmarket/1","mechanism":"p2p_gne","periods":"#)
        out.number(Double(periods))
        writeNetwork(network, feeder: feeder, hours: hours, reactive: false, to: &out)
        // A small feed-in price lets PV surplus that no peer or battery takes leave the feeder.
        out.raw(#","grid":{"sellPrice":0.03,"priceSlope":"#)
        out.number(slope)
        out.raw("}")

        let peers = tradingGraph(n, connectivity: connectivity, &random)

        out.raw(#","prosumers":["#)
        for (k, who) in people.enumerated() {
            if k > 0 { out.raw(",") }
            out.raw(#"{"id":"p\#(k + 1)","bus":"#)
            out.string(network.buses[who.bus].id)
            out.key("loadKW")
            let load = hours.map { CaseGenerator.rounded(peak[who.type] * profile(who.type, $0)) }
            if periods == 1 { out.number(load[0]) } else { out.numbers(load[...]) }
            if who.pv > 0 {
                out.key("pvKW")
                let pv = hours.map { CaseGenerator.rounded(who.pv * solar($0)) }
                if periods == 1 { out.number(pv[0]) } else { out.numbers(pv[...]) }
            }
            if who.unit > 0 {
                CaseGenerator.flex(&out, maxKW: who.unit, costA: 0.002, costB: 0.045)
            }
            if who.storage {
                out.raw(#","storage":{"capacityKWh":100,"socKWh":50,"socMinKWh":20,"socMaxKWh":100,"chargeMaxKW":5,"dischargeMaxKW":5,"etaCharge":0.95,"etaDischarge":0.94,"costWearA":0.002}"#)
            }
            out.raw(#","tradeCost":0.01,"contractPrice":0.08,"tradeMaxKW":30,"peers":["#)
            for (m, j) in peers[k].enumerated() {
                if m > 0 { out.raw(",") }
                out.raw(#""p\#(j + 1)""#)
            }
            out.raw("]}")
        }
        out.raw("]}")
        return out.text
    }

    /// Peak demand of each type, kW.
    static let peak: [Double] = [5, 20, 40, 60, 150, 80]

    /// Daily shape of each demand type at hour h (0 … 24), between about 0.2 and 1.
    static func profile(_ type: Int, _ h: Double) -> Double {
        func bump(_ center: Double, _ width: Double) -> Double {
            let d = (h - center) / width
            return exp(-0.5 * d * d)
        }
        switch type {
        case 0, 1: return 0.25 + 0.35 * bump(8, 1.5) + 0.75 * bump(19.5, 2.5)      // households
        case 2: return 0.15 + 0.6 * bump(12.5, 1.5) + 0.85 * bump(19.5, 2)          // restaurant
        case 3: return 0.2 + 0.8 * bump(13, 3.5)                                    // office
        case 4: return 0.6 + 0.4 * bump(12, 5)                                      // hospital
        default: return 0.15 + 0.85 * bump(11.5, 3)                                 // school
        }
    }

    /// Clear-sky PV shape: 0 at night, 1 at noon.
    static func solar(_ h: Double) -> Double {
        guard h > 6, h < 18 else { return 0 }
        let s = sin(Double.pi * (h - 6) / 12)
        return s * s
    }

    /// Passive (residential) consumers' shape.
    static func residential(_ h: Double) -> Double {
        let d1 = (h - 8) / 1.5, d2 = (h - 19.5) / 2.5
        return 0.35 + 0.25 * exp(-0.5 * d1 * d1) + 0.5 * exp(-0.5 * d2 * d2)
    }

    /// `"network"`: the built-in feeder with its bus loads on the residential profile over `hours`
    /// (and its reactive loads too when `reactive`), capacitors kept.
    static func writeNetwork(_ network: Network, feeder: BuiltinFeeder, hours: [Double], reactive: Bool,
                             to out: inout JSONWriter) {
        func write(_ values: [Double]) {
            if values.count == 1 { out.number(values[0]) } else { out.numbers(values[...]) }
        }
        out.raw(#","network":{"builtin":"\#(feeder.rawValue)","buses":["#)
        for (b, bus) in network.buses.enumerated() {
            if b > 0 { out.raw(",") }
            out.raw("{")
            out.key("id", first: true)
            out.string(bus.id)
            let p = bus.pLoadKW.first ?? 0, q = bus.qLoadKVAr.first ?? 0
            out.key("pLoadKW")
            write(hours.map { CaseGenerator.rounded(p * residential($0)) })
            if reactive {
                out.key("qLoadKVAr")
                write(hours.map { CaseGenerator.rounded(q * residential($0)) })
            }
            if bus.qCapKVAr > 0 {
                out.key("qCapKVAr")
                out.number(bus.qCapKVAr)
            }
            out.raw("}")
        }
        out.raw("]}")
    }

    /// A random connected trading graph on n prosumers with |E| ≈ connectivity · n(n − 1)/2: a
    /// random spanning tree first, then random extra edges. Each edge is listed by its smaller
    /// index (`peers[i]` holds partners j > i): a one-sided listing is an edge.
    static func tradingGraph(_ n: Int, connectivity: Double, _ random: inout SplitMix64) -> [[Int]] {
        var peers = [[Int]](repeating: [], count: n)
        var present = Set<Int>()
        func connect(_ a: Int, _ b: Int) {
            let (i, j) = (min(a, b), max(a, b))
            guard i != j, present.insert(i * n + j).inserted else { return }
            peers[i].append(j)
        }
        guard n > 1 else { return peers }
        let order = sample(n, count: n, &random)
        for k in 1..<n { connect(order[k], order[Int(random.uniform(0, Double(k)))]) }
        let target = Int((connectivity * Double(n) * Double(n - 1) / 2).rounded())
        var attempts = 0
        while present.count < target && attempts < 50 * max(target, 1) {
            connect(Int(random.uniform(0, Double(n))), Int(random.uniform(0, Double(n))))
            attempts += 1
        }
        return peers
    }

    /// `count` distinct indices of 0..<n in random order (partial Fisher–Yates).
    static func sample(_ n: Int, count: Int, _ random: inout SplitMix64) -> [Int] {
        var items = Array(0..<n)
        let c = min(max(count, 0), n)
        for k in 0..<c {
            let j = k + min(n - k - 1, Int(random.uniform(0, Double(n - k))))
            items.swapAt(k, j)
        }
        return Array(items.prefix(c))
    }
}
