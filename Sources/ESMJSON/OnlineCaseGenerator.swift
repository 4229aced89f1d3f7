import ESMGrid
import ESMMarkets

/// `p2p_online` cases after the spec's recommended setup (p2p_online.md §5): N prosumers (default
/// 20) on a built-in feeder (default ieee33bw) at its loaded buses in proportion to their load,
/// 15-minute slots (`periods`, default 96 = one day; 2,880 = 30 days), half of them (drawn) with
/// a 10 kWh / 5 kW battery (η = 0.95, starting at 5 kWh in [1, 10]); every prosumer a daily
/// residential load of U[1, 4] kW and PV of U[2, 8] kW peak, each slot times an i.i.d. factor
/// U[0.8, 1.2] (PV also times a daily cloudiness U[0.4, 1]); time-of-use buy prices 0.12
/// (0–7 h), 0.20 (7–17 h, 21–24 h), 0.30 (17–21 h), sell price 0.05; each prosumer trades with
/// its two neighbours in a ring (default quadratic trading cost). The feeder's own loads stay
/// (constant); vMinPu is set to 0.9 because ieee33bw's own loads already take LinDistFlow to
/// 0.913 pu. The document is both an `esm_clear` input and a session configuration whose series
/// are the steps' defaults, so `{}` steps replay it.
enum OnlineCaseGenerator {
    static func generate(prosumers n: Int, seed: UInt64, feeder: BuiltinFeeder, periods: Int) throws -> String {
        var random = SplitMix64(seed: seed)
        let network = try CaseGenerator.feederNode(feeder).withRoot { try NetworkDecoder(periods: 1).decode($0) }
        let hosts = network.buses.indices.filter { $0 != network.substation && network.buses[$0].pLoadKW[0] > 0 }
        let counts = CaseGenerator.apportion(n, weights: hosts.map { network.buses[$0].pLoadKW[0] })
        var buses: [Int] = []
        for (k, count) in counts.enumerated() { buses += [Int](repeating: hosts[k], count: count) }
        let batteries = Set(GameCaseGenerator.sample(n, count: n / 2, &random))
        let days = (periods + 95) / 96
        var cloud: [Double] = []
        for _ in 0..<days { cloud.append(random.uniform(0.4, 1)) }

        var out = JSONWriter(capacity: 64 * n * periods + 4096)
        out.raw(#"{"schema":"esmarket/1","mechanism":"p2p_online","periods":"#)
        out.number(Double(periods))
        out.raw(#","periodHours":0.25,"network":{"builtin":"\#(feeder.rawValue)","vMinPu":0.9},"grid":{"buyPrice":"#)
        let hour = (0..<periods).map { Double($0 % 96) / 4 }
        out.numbers(hour.map { $0 < 7 ? 0.12 : ($0 >= 17 && $0 < 21 ? 0.30 : 0.20) })
        out.raw(#","sellPrice":0.05},"prosumers":["#)
        for k in 0..<n {
            if k > 0 { out.raw(",") }
            let base = random.uniform(1, 4), peak = random.uniform(2, 8)
            var load: [Double] = [], pv: [Double] = []
            load.reserveCapacity(periods)
            pv.reserveCapacity(periods)
            for t in 0..<periods {
                load.append(CaseGenerator.rounded(base * GameCaseGenerator.residential(hour[t]) * random.uniform(0.8, 1.2), digits: 3))
                pv.append(CaseGenerator.rounded(peak * cloud[t / 96] * GameCaseGenerator.solar(hour[t]) * random.uniform(0.8, 1.2), digits: 3))
            }
            out.raw(#"{"id":"p\#(k + 1)","bus":"#)
            out.string(network.buses[buses[min(k, buses.count - 1)]].id)
            out.key("loadKW")
            if periods == 1 { out.number(load[0]) } else { out.numbers(load) }
            out.key("pvKW")
            if periods == 1 { out.number(pv[0]) } else { out.numbers(pv) }
            if batteries.contains(k) {
                out.raw(#","storage":{"capacityKWh":10,"socKWh":5,"socMinKWh":1,"socMaxKWh":10,"chargeMaxKW":5,"dischargeMaxKW":5,"etaCharge":0.95,"etaDischarge":0.95,"costWear":0.002}"#)
            }
            if n > 1 { out.raw(#","peers":["p\#((k + 1) % n + 1)"]"#) }
            out.raw("}")
        }
        out.raw("]}")
        return out.text
    }
}
