import Foundation
import Testing
import ESMGrid
import ESMJSON
import ESMSolver
@testable import ESMMarkets

/// The shared P2P pieces (trading graph, storage dynamics) and `p2p_gne` on the spec's hand-worked
/// cases B1–B4 (p2p_gne.md §7), each number worked out in closed form there.
@Suite struct P2PGNETests {
    /// B1: prosumer 1 owns a unit costing 0.004 p² + 0.05 p (costA = 0.008 in our ½·costA·p²
    /// convention), prosumer 2 has 50 kW of demand; contract 0.08, fee 0.02 each side; passive load
    /// 200 kW; grid price 0.001 · total draw. `line` is the one line's JSON (B2 rates it).
    static func twoProsumers(line: String = #""rOhm":0,"xOhm":0.01"#, baseKV: Double = 4.8, passiveAt: String = "0",
                             options: String = #"{"algorithm":"centralized"}"#, peers2: String = "[]",
                             tradeMax: Double = 100) -> String {
        #"""
        {"schema":"esmarket/1","mechanism":"p2p_gne",
         "network":{"baseKV":\#(baseKV),"substationBus":"0","buses":[{"id":"0"},{"id":"1"}],
                    "lines":[{"id":"L1","from":"0","to":"1",\#(line)}]},
         "grid":{"priceSlope":0.001},
         "prosumers":[{"id":"p1","bus":"1","loadKW":0,"flex":{"minKW":0,"maxKW":50,"costA":0.008,"costB":0.05},
                       "peers":["p2"],"tradeCost":0.02,"contractPrice":0.08,"tradeMaxKW":\#(tradeMax)},
                      {"id":"p2","bus":"1","loadKW":50,"tradeCost":0.02,"contractPrice":0.08,"peers":\#(peers2)}],
         "options":\#(options)}
        """#.replacingOccurrences(of: #"{"id":"0"}"#, with: passiveAt == "0" ? #"{"id":"0","pLoadKW":200}"# : #"{"id":"0"}"#)
            .replacingOccurrences(of: #"{"id":"1"}"#, with: passiveAt == "1" ? #"{"id":"1","pLoadKW":200}"# : #"{"id":"1"}"#)
    }

    /// B1 (Nash): t = [d(2D + b) − c^di − 2c^ta]/(2Q + 2d) = 21 kW, μ = 0.158, grid price 0.229,
    /// J₁ = 1.554, J₂ = 8.741; B4: settling μ·t makes both better off than trading alone
    /// (J₁ = −1.764, J₂ = 12.059 against 0 and 12.5).
    @Test func b1NashTwoProsumers() throws {
        let r = try clear(Self.twoProsumers())
        #expect(r.status == .solved)
        expectClose(r.column("prosumers", "flexKW"), [21, 0], 1e-5)
        expectClose(r.column("prosumers", "gridBuyKW"), [0, 29], 1e-5)
        expectClose(r.column("prosumers", "tradeKW"), [-21, 21], 1e-5)
        expectClose(r.column("trades", "kW"), [21], 1e-5)
        expectClose(r.column("trades", "price"), [0.158], 1e-7)
        expectClose(r.column("prosumers", "cost"), [1.554, 8.741], 1e-6)
        expectClose(r.column("prosumers", "settledCost"), [-1.764, 12.059], 1e-6)
        expectClose(r.column("prosumers", "standaloneCost"), [0, 12.5], 1e-6)
        expectClose([r.fieldNumber("gridPrice")], [0.229], 1e-8)
        #expect(r.qualityValue("reciprocityResidualKW") < 1e-8)
        #expect(r.qualityValue("equilibriumResidual") < 1e-8)
        // The KKT reading of §7 B1: buyer's marginal 0.258 = c^tr + c^ta + μ, seller's 0.218 = c^tr − c^ta + μ.
        let mu = r.column("trades", "price")[0]
        #expect(abs(0.229 + 0.001 * 29 - (0.08 + 0.02 + mu)) < 1e-6)
        #expect(abs(2 * 0.004 * 21 + 0.05 - (0.08 - 0.02 + mu)) < 1e-6)
    }

    /// B1's Wardrop variant: t = 160/9, p^mg₂ = 32.2222, μ = 0.132222.
    @Test func b1Wardrop() throws {
        let r = try clear(Self.twoProsumers(options: #"{"algorithm":"centralized","equilibrium":"wardrop"}"#))
        #expect(r.status == .solved)
        expectClose(r.column("trades", "kW"), [160.0 / 9], 1e-5)
        expectClose(r.column("prosumers", "gridBuyKW"), [0, 50 - 160.0 / 9], 1e-5)
        expectClose(r.column("trades", "price"), [0.132222222], 1e-6)
        #expect(r.qualityValue("equilibriumResidual") < 1e-8)
    }

    /// B2: the line (B = 1000 kW/rad: x = 1 Ω at 1 kV, G = 0) rated 25 kVA binds: the unit covers
    /// 25 kW, the rest comes over the line; its shadow price 0.04, μ = 0.15, θ₂ = −0.025 rad.
    @Test func b2LineLimitBinds() throws {
        let r = try clear(Self.twoProsumers(line: #""rOhm":0,"xOhm":1,"rateKVA":25"#, baseKV: 1))
        #expect(r.status == .solved)
        expectClose(r.column("prosumers", "flexKW"), [25, 0], 1e-5)
        expectClose(r.column("prosumers", "gridBuyKW"), [0, 25], 1e-5)
        expectClose(r.column("trades", "kW"), [25], 1e-5)
        expectClose(r.column("trades", "price"), [0.15], 1e-7)
        expectClose(r.column("lines", "pKW"), [25], 1e-5)
        expectClose(r.column("lines", "ratingPrice"), [0.04], 1e-7)
        expectClose(r.column("buses", "angleDeg"), [0, -0.025 * 180 / Double.pi], 1e-5)
        expectClose(r.column("buses", "price"), [0, 0.04], 1e-7)
        // Without trading the 50 kW cannot come over a 25 kVA line: no standalone outcome.
        #expect(r.message.contains("standaloneCost is not reported"))
    }

    /// B3: storage arbitrage against a price that jumps from 0.01 to 0.21: charge 10/(0.95·0.94)
    /// in hour 1, discharge 10 kW in hour 2; cost 0.4494 (2.2 without storage).
    @Test func b3StorageArbitrage() throws {
        let document = #"""
        {"schema":"esmarket/1","mechanism":"p2p_gne","periods":2,
         "network":{"baseKV":4.8,"substationBus":"0","buses":[{"id":"0","pLoadKW":[0,200]},{"id":"1"}],
                    "lines":[{"id":"L1","from":"0","to":"1","rOhm":0,"xOhm":0.01}]},
         "grid":{"priceSlope":0.001},
         "prosumers":[{"id":"p1","bus":"1","loadKW":10,
           "storage":{"capacityKWh":100,"socKWh":0,"chargeMaxKW":20,"dischargeMaxKW":20,"etaCharge":0.95,"etaDischarge":0.94}}]}
        """#
        let r = try clear(document)
        #expect(r.status == .solved)
        let charge = 10 / (0.95 * 0.94)
        expectClose(r.column("prosumers", "chargeKW"), [charge, 0], 1e-5)
        expectClose(r.column("prosumers", "dischargeKW"), [0, 10], 1e-5)
        expectClose(r.column("prosumers", "socKWh"), [0.95 * charge, 0], 1e-5)
        expectClose(r.column("prosumers", "gridBuyKW"), [10 + charge, 0], 1e-5)
        #expect(abs(r.objectiveValue("socialCost") - 0.001 * (10 + charge) * (10 + charge)) < 1e-6)
        #expect(r.qualityValue("storageResidualKWh") < 1e-8)
    }

    /// A battery that must end above what it can reach is infeasible before any solve, naming it.
    @Test func unreachableFinalChargeIsNamed() throws {
        let document = #"""
        {"schema":"esmarket/1","mechanism":"p2p_gne","periods":2,
         "network":{"baseKV":4.8,"substationBus":"0","buses":[{"id":"0"},{"id":"1"}],
                    "lines":[{"id":"L1","from":"0","to":"1","rOhm":0,"xOhm":0.01}]},
         "grid":{"priceSlope":0.001},
         "prosumers":[{"id":"p1","bus":"1","loadKW":1,
           "storage":{"capacityKWh":100,"socKWh":0,"chargeMaxKW":5,"dischargeMaxKW":5,"socFinalMinKWh":20}}]}
        """#
        let r = try clear(document)
        #expect(r.status == .infeasible)
        #expect(r.diagnosis.contains { $0.0 == "constraint" && $0.1 == "socFinalMinKWh" })
        #expect(r.diagnosis.contains { $0.0 == "prosumer" && $0.1 == "p1" })
    }

    /// A peer listed by one side only is still a trade (its partner's default terms apply): the
    /// outcome is B1's whichever side lists it.
    @Test func oneSidedListingIsAnEdge() throws {
        let listedByBuyer = Self.twoProsumers().replacingOccurrences(of: #""peers":["p2"],"#, with: "")
            .replacingOccurrences(of: #""peers":[]"#, with: #""peers":["p1"]"#)
        let r = try clear(listedByBuyer)
        expectClose(r.column("trades", "kW"), [21], 1e-5)
        // Listed by both: the same single edge.
        let both = try clear(Self.twoProsumers(peers2: #"["p1"]"#))
        #expect(both.column("trades", "kW").count == 1)
        expectClose(both.column("trades", "price"), [0.158], 1e-7)
    }

    /// No trading graph at all: every prosumer on its own, costs equal standalone costs.
    @Test func noTradesIsTheStandaloneGame() throws {
        let r = try clear(Self.twoProsumers(tradeMax: 0))
        #expect(r.status == .solved)
        expectClose(r.column("trades", "kW"), [0], 1e-6)
        expectClose(r.column("prosumers", "cost"), [0, 12.5], 1e-6)
        expectClose(r.column("prosumers", "standaloneCost"), r.column("prosumers", "cost"), 1e-6)
    }

    /// LinDistFlow as the operator's network gives the same market where the network does not bind.
    @Test func linDistFlowOperator() throws {
        let document = Self.twoProsumers().replacingOccurrences(of: #""substationBus":"0","#,
                                                                with: #""substationBus":"0","model":"lindistflow","#)
        let r = try clear(document)
        #expect(r.status == .solved)
        expectClose(r.column("trades", "kW"), [21], 1e-5)
        expectClose(r.column("trades", "price"), [0.158], 1e-7)
        #expect(r.column("buses", "angleDeg").isEmpty)
    }

    @Test func socpOperatorIsRefused() throws {
        let document = Self.twoProsumers().replacingOccurrences(of: #""substationBus":"0","#,
                                                                with: #""substationBus":"0","model":"socp","#)
        #expect(throws: InputError.self) { try clear(document) }
        let out = Service.clear(document).json
        #expect(out.contains(#""code":"unsupported""#) && out.contains(#""path":"network.model""#))
    }

    // MARK: shared pieces on their own

    @Test func storageTrajectoryAndReach() {
        var s = Storage(capacityKWh: 10, socKWh: 5, socMinKWh: 1, socMaxKWh: 9, chargeMaxKW: 2, dischargeMaxKW: 3,
                        etaCharge: 0.9, etaDischarge: 0.8, costWear: 0)
        s.selfDischarge = 0.1
        let d = StorageDynamics(s, periodHours: 2)
        // ρ = 0.9² = 0.81: x₁ = 0.81·5 + 2·0.9·2 = 7.65; x₂ = 0.81·7.65 − 2·3/0.8 = −1.3035.
        let x = d.trajectory(chargeKW: [2, 0], dischargeKW: [0, 3])
        expectClose(x, [7.65, 0.81 * 7.65 - 7.5], 1e-12)
        #expect(d.infeasibility(periods: 5) == nil)
        s.socFinalMinKWh = 9
        s.chargeMaxKW = 0.5
        // At most 0.81·5 + 0.9 = 4.95, then 0.81·4.95 + 0.9 = 4.9095 < 9.
        let why = StorageDynamics(s, periodHours: 2).infeasibility(periods: 2)
        #expect(why?.period == 1 && why?.field == "socFinalMinKWh")
    }

    @Test func tradingGraphMergesBothListings() {
        func prosumer(_ id: String, peers: [Int], terms: [PeerTerms] = [], fee: Double = 0.01, max: Double? = nil) -> Prosumer {
            var p = Prosumer(id: id, bus: 0, community: nil, loadKW: Series(1), qLoadKVAr: Series(0), pvKW: Series(0),
                             flex: nil, storage: nil, peers: peers, tradeCost: fee, powerFactor: 1)
            p.peerTerms = terms.isEmpty ? peers.map { _ in PeerTerms() } : terms
            p.tradeMaxKW = max
            return p
        }
        let people = [prosumer("a", peers: [1, 2], terms: [PeerTerms(maxKW: 4, tradeCost: 0.5), PeerTerms()], max: 10),
                      prosumer("b", peers: [0], max: 6),
                      prosumer("c", peers: [])]
        let g = TradingGraph(prosumers: people)
        #expect(g.edges.count == 2)
        #expect(g.edges[0].a == 0 && g.edges[0].b == 1 && g.edges[0].maxKW == 4 && g.edges[0].feeA == 0.5 && g.edges[0].feeB == 0.01)
        #expect(g.edges[1].a == 0 && g.edges[1].b == 2 && g.edges[1].maxKW == 10)
        #expect(g.ends[2].map(\.partner) == [0] && g.ends[0].map(\.partner) == [1, 2])
        #expect(g.slots[1].a == 1 && g.slots[1].b == 0)
    }
}

extension MarketResult {
    func fieldNumber(_ name: String) -> Double {
        guard let value = fields.first(where: { $0.0 == name })?.1 else { return .nan }
        if case .number(let v) = value { return v }
        return .nan
    }
}

/// The proximal-point route (spec §4) against the hand-worked answers and the centralized route.
@Suite struct P2PGNEProximalPointTests {
    static func ppp(_ document: String, extra: String = "") -> String {
        document.replacingOccurrences(of: #""options":{"algorithm":"centralized"}"#,
                                      with: #""options":{"algorithm":"proximal_point"\#(extra)}"#)
    }

    /// B5: from zero, the iteration reaches B1's equilibrium (t = 21, μ = 0.158) well within
    /// 2,000 iterations, and the centralized check agrees.
    @Test func b5ConvergesToB1() throws {
        let r = try clear(Self.ppp(P2PGNETests.twoProsumers()))
        #expect(r.status == .solved)
        #expect(r.iterations < 2000)
        expectClose(r.column("trades", "kW"), [21], 1e-3)
        expectClose(r.column("trades", "price"), [0.158], 1e-5)
        expectClose(r.column("prosumers", "flexKW"), [21, 0], 1e-3)
        #expect(r.qualityValue("potentialGap") < 1e-6)
        #expect(r.qualityValue("distanceToCentralizedKW") < 1e-3)
        #expect(r.qualityValue("equilibriumResidual") < 1e-6)
    }

    /// B2 by the decomposed route: the operator's projection carries the binding rating, whose
    /// price comes out of its last projection's multipliers.
    @Test func b2ByProximalPoint() throws {
        let r = try clear(Self.ppp(P2PGNETests.twoProsumers(line: #""rOhm":0,"xOhm":1,"rateKVA":25"#, baseKV: 1)))
        #expect(r.status == .solved)
        expectClose(r.column("trades", "kW"), [25], 1e-3)
        expectClose(r.column("trades", "price"), [0.15], 1e-5)
        expectClose(r.column("lines", "ratingPrice"), [0.04], 1e-5)
        expectClose(r.column("buses", "price"), [0, 0.04], 1e-5)
    }

    @Test func iterationLimitAndProgress() throws {
        let limited = try clear(Self.ppp(P2PGNETests.twoProsumers(), extra: #","maxIterations":5"#))
        #expect(limited.status == .iterationLimit)
        #expect(limited.iterations == 5)
        var events = 0
        let control = SolveControl(observer: { _ in events += 1; return events >= 3 })
        let stopped = try clear(Self.ppp(P2PGNETests.twoProsumers(), extra: #","log":"iterations""#), control: control)
        #expect(stopped.status == .interrupted)
    }
}

/// Infeasible p2p_gne markets are named.
@Suite struct P2PGNEInfeasibilityTests {
    /// p1's 2 kW of PV surplus in period 0 can go only to p2, over a 1 kW trade: no sellPrice.
    @Test func surplusBeyondTradesIsNamed() throws {
        let r = try clear(gneWith(#""peers":["p2"]"#, #""peers":[{"id":"p2","maxKW":1}]"#))
        #expect(r.status == .infeasible)
        #expect(r.diagnosis.contains { $0 == ("constraint", "balance") } || r.diagnosis.contains { $0.0 == "constraint" && $0.1 == "balance" })
        #expect(r.diagnosis.contains { $0.0 == "prosumer" && $0.1 == "p1" } && r.diagnosis.contains { $0.0 == "period" && $0.1 == "0" })
        // With 2 kW the same surplus is traded away.
        let fine = try clear(gneWith(#""peers":["p2"]"#, #""peers":[{"id":"p2","maxKW":2}]"#))
        #expect(fine.status == .solved)
    }
}
