import Foundation
import Testing
import ESMGrid
import ESMJSON
import ESMSolver
@testable import ESMMarkets

/// `p2p_reconfiguration` (centralized) on the spec's hand-worked cases: A4's two-prosumer market,
/// A1/A2's three-bus loop (the market's injections decide which line opens), A3's 33-bus optimum.
@Suite struct P2PReconfigurationTests {
    /// A4: seller with 10 kW of PV, buyer with utility 0.3 d − 0.01 d² (flex −20 … 0, costA 0.02,
    /// costB 0.3), buy 0.25 / sell 0.05, κ = 0.005 each side: t = 0.25 / (0.02 + 2κ) = 8.3333,
    /// the seller sells 1.6667 kW to the grid, λ = 0.05 + κt = 0.091667. Both sit at the
    /// substation: no losses.
    @Test func a4TwoProsumerMarket() throws {
        let document = #"""
        {"schema":"esmarket/1","mechanism":"p2p_reconfiguration",
         "network":{"baseKV":1,"substationBus":"0","buses":[{"id":"0"},{"id":"1"}],
                    "lines":[{"id":"L1","from":"0","to":"1","rOhm":0.01,"xOhm":0.02}]},
         "grid":{"buyPrice":0.25,"sellPrice":0.05},
         "prosumers":[{"id":"seller","bus":"0","pvKW":10,"peers":["buyer"],"tradeCostA":0.005},
                      {"id":"buyer","bus":"0","flex":{"minKW":-20,"maxKW":0,"costA":0.02,"costB":0.3},"tradeCostA":0.005}]}
        """#
        let r = try clear(document)
        #expect(r.status == .solved, "\(r.message)")
        let t = 0.25 / 0.03
        expectClose(r.column("trades", "kW"), [t], 1e-5)
        expectClose(r.column("trades", "price"), [0.05 + 0.005 * t], 1e-6)
        expectClose(r.column("prosumers", "gridSellKW"), [10 - t, 0], 1e-5)
        expectClose(r.column("prosumers", "gridBuyKW"), [0, 0], 1e-5)
        expectClose(r.column("prosumers", "flexKW"), [0, -t], 1e-5)
        // Buyer's marginal utility 0.3 − 0.02 d = λ + κ t.
        #expect(abs(0.3 - 0.02 * t - (0.05 + 0.005 * t + 0.005 * t)) < 1e-9)
    }

    /// A1: three-bus loop (z = 0.01 + j0.02 pu each on 1 kV / 1000 kVA), loads 500 and 300 kW:
    /// opening 1–2 gives the least loss, 3.431 kW (0.003431 pu).
    static func loop(loads: [[Double]], budget: String = "", periods: Int = 1) -> String {
        let p1 = loads.map { $0[0] }, p2 = loads.map { $0[1] }
        func series(_ v: [Double]) -> String { v.count == 1 ? describeNumber(v[0]) : "[" + v.map(describeNumber).joined(separator: ",") + "]" }
        return #"""
        {"schema":"esmarket/1","mechanism":"p2p_reconfiguration","periods":\#(periods),
         "network":{"baseKV":1,"substationBus":"0","vMinPu":0.9,"vMaxPu":1.1,
                    "buses":[{"id":"0"},{"id":"1","pLoadKW":\#(series(p1))},{"id":"2","pLoadKW":\#(series(p2))}],
                    "lines":[{"id":"01","from":"0","to":"1","rOhm":0.01,"xOhm":0.02,"switchable":true},
                             {"id":"12","from":"1","to":"2","rOhm":0.01,"xOhm":0.02,"switchable":true,"closed":false},
                             {"id":"02","from":"0","to":"2","rOhm":0.01,"xOhm":0.02,"switchable":true}]},
         "grid":{"buyPrice":0.3,"sellPrice":0.1},
         "prosumers":[{"id":"idle","bus":"0","loadKW":0}],
         "options":{"algorithm":"centralized"\#(budget)}}
        """#
    }

    @Test func a1OpensLineOneTwo() throws {
        let r = try clear(Self.loop(loads: [[500, 300]]))
        #expect(r.status == .solved, "\(r.message)")
        guard case .list(let open)? = r.fields.first(where: { $0.0 == "openLines" })?.1 else {
            Issue.record("openLines missing"); return
        }
        #expect(open.count == 1)
        if case .text(let id)? = open.first { #expect(id == "12") }
        #expect(abs(r.objectiveValue("lossesKW") - 3.431) < 2e-3)
        #expect(r.qualityValue("acVoltageErrorMaxPu") < 1e-5)
        expectClose(r.column("lines", "inService"), [1, 0, 1], 0)
    }

    /// A2: period 2 has bus 1 exporting 200 kW and bus 2 at 600: the best period-2 topology opens
    /// 0–1. With no switching allowed the first topology stays (7.474 kW in all); with two
    /// operations the second period switches (5.449 kW).
    @Test func a2SwitchingBudget() throws {
        let frozen = try clear(Self.loop(loads: [[500, 300], [-200, 600]], budget: #","maxSwitchingOperations":0"#, periods: 2))
        #expect(frozen.status == .solved, "\(frozen.message)")
        let lossesFrozen = frozen.objective.first { $0.0 == "lossesKW" }
        if case .numbers(let v)? = lossesFrozen?.1 { #expect(abs(v.reduce(0, +) - 7.474) < 4e-3) }
        #expect(frozen.fieldNumber("switchOperations") == 0)
        let free = try clear(Self.loop(loads: [[500, 300], [-200, 600]], budget: #","maxSwitchingOperations":2"#, periods: 2))
        #expect(free.status == .solved)
        if case .numbers(let v)? = free.objective.first(where: { $0.0 == "lossesKW" })?.1 { #expect(abs(v.reduce(0, +) - 5.449) < 4e-3) }
        #expect(free.fieldNumber("switchOperations") == 2)
        // Invariant 6: the market's injections on the document's own topology lose at least as much.
        if case .numbers(let chosen)? = free.objective.first(where: { $0.0 == "lossesKW" })?.1,
           case .numbers(let base)? = free.objective.first(where: { $0.0 == "baseTopologyLossesKW" })?.1 {
            #expect(chosen.reduce(0, +) <= base.reduce(0, +) + 1e-6)
        } else {
            Issue.record("losses missing")
        }
    }

    /// `reconfigure: false` keeps the document's statuses (1–2 open) whatever the loads.
    @Test func fixedTopologyKeepsTheStatuses() throws {
        let r = try clear(Self.loop(loads: [[-200, 600]], budget: #","reconfigure":false"#))
        #expect(r.status == .solved)
        expectClose(r.column("lines", "inService"), [1, 0, 1], 0)
        #expect(abs(r.objectiveValue("lossesKW") - 4.043) < 2e-3)
    }

    /// The operator's bus signal ν is the marginal loss cost of one more kW withdrawn: positive at
    /// the loaded buses, about lossPrice × ∂losses/∂load (checked by finite difference).
    @Test func busSignalIsTheMarginalLossCost() throws {
        let base = Self.loop(loads: [[500, 300]])
        let r = try clear(base)
        let prices = r.column("buses", "price")
        #expect(prices[1] > 0 && prices[2] > 0)
        let more = try clear(Self.loop(loads: [[501, 300]]))
        let dLoss = more.objectiveValue("lossesKW") - r.objectiveValue("lossesKW")
        #expect(abs(prices[1] - 0.3 * dLoss) < 2e-4)
    }

    @Test func twoTierIsNotImplementedYet() throws {
        let document = Self.loop(loads: [[500, 300]]).replacingOccurrences(of: #""algorithm":"centralized""#, with: #""algorithm":"two_tier""#)
        let out = Service.clear(document).json
        #expect(out.contains(#""code":"unsupported""#) && out.contains(#""path":"options.algorithm""#))
    }
}
