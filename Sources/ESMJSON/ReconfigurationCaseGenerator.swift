import ESMGrid
import ESMMarkets

/// `p2p_reconfiguration` cases after the spec's §5 setup: `periods` hours (default 24) on a
/// built-in feeder (default ieee33bw, every line switchable as in Baran and Wu's study), the
/// feeder's loads following a residential profile, N prosumers (default 20) at the loaded buses
/// with a household load (peak U[3, 12] kW), PV for 60 % of them (peak U[5, 15] kW), flexible
/// demand for all (0 … U[2, 6] kW of extra consumption worth 0.2–0.4 per kWh, decreasing by
/// U[0.01, 0.05] per kW), a random connected trading graph of density `connectivity` (default
/// 0.3) with a fee of 0.005 per kWh and κ = 0.002 per side, a time-of-use tariff (0.25, 0.35
/// from 17 to 21 h; feed-in 0.05) and a budget of 10 switch operations over the horizon.
enum ReconfigurationCaseGenerator {
    static func generate(prosumers n: Int, seed: UInt64, feeder: BuiltinFeeder, periods: Int,
                         connectivity: Double) throws -> String {
        var random = SplitMix64(seed: seed)
        let network = try CaseGenerator.feederNode(feeder).withRoot { try NetworkDecoder(periods: 1).decode($0) }
        let loads = network.buses.map { $0.pLoadKW[0] }
        let hosts = network.buses.indices.filter { loads[$0] > 0 }
        let counts = CaseGenerator.apportion(n, weights: hosts.map { loads[$0] })
        let hours = (0..<periods).map { Double($0) * 24 / Double(periods) }
        func write(_ out: inout JSONWriter, _ values: [Double]) {
            if values.count == 1 { out.number(values[0]) } else { out.numbers(values[...]) }
        }

        var out = JSONWriter(capacity: 500 * n * max(1, periods / 4) + 8192)
        out.raw(#"{"schema":"esmarket/1","mechanism":"p2p_reconfiguration","periods":"#)
        out.number(Double(periods))
        GameCaseGenerator.writeNetwork(network, feeder: feeder, hours: hours, reactive: true, to: &out)
        out.raw(#","grid":{"buyPrice":"#)
        write(&out, hours.map { $0 >= 17 && $0 < 21 ? 0.35 : 0.25 })
        out.raw(#","sellPrice":0.05}"#)

        let peers = GameCaseGenerator.tradingGraph(n, connectivity: connectivity, &random)

        out.raw(#","prosumers":["#)
        var serial = 0
        for (k, count) in counts.enumerated() {
            for _ in 0..<count {
                let i = serial
                serial += 1
                if i > 0 { out.raw(",") }
                out.raw(#"{"id":"p\#(i + 1)","bus":"#)
                out.string(network.buses[hosts[k]].id)
                let peak = random.uniform(3, 12)
                out.key("loadKW")
                write(&out, hours.map { CaseGenerator.rounded(peak * GameCaseGenerator.profile(0, $0)) })
                if random.uniform(0, 1) < 0.6 {
                    let pv = random.uniform(5, 15)
                    out.key("pvKW")
                    write(&out, hours.map { CaseGenerator.rounded(pv * GameCaseGenerator.solar($0)) })
                }
                let extra = random.uniform(2, 6), slope = random.uniform(0.01, 0.05), worth = random.uniform(0.2, 0.4)
                out.raw(#","flex":{"minKW":"#)
                out.number(-CaseGenerator.rounded(extra))
                out.raw(#","maxKW":0,"costA":"#)
                out.number(CaseGenerator.rounded(slope))
                out.raw(#","costB":"#)
                out.number(CaseGenerator.rounded(worth))
                out.raw("}")
                out.raw(#","tradeCost":0.005,"tradeCostA":0.002,"peers":["#)
                for (m, j) in peers[i].enumerated() {
                    if m > 0 { out.raw(",") }
                    out.raw(#""p\#(j + 1)""#)
                }
                out.raw("]}")
            }
        }
        out.raw(#"],"options":{"allLinesSwitchable":true,"maxSwitchingOperations":10}}"#)
        return out.text
    }
}
