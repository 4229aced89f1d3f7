import Testing
import ESMSolver
@testable import ESMGrid

/// Substation 0 → 1 (line "a"), 2 → 1 listed backwards ("b"), 1 → 3 a zero-impedance switch
/// ("sw"), 3 → 4 ("c", rated), and an open tie 4 – 2.
func handNetwork(rate: Double? = nil) -> Network {
    let buses = [
        Bus(id: "s", pLoadKW: [0], qLoadKVAr: [0], qCapKVAr: 0),
        Bus(id: "b1", pLoadKW: [300], qLoadKVAr: [100], qCapKVAr: 0),
        Bus(id: "b2", pLoadKW: [200], qLoadKVAr: [150], qCapKVAr: 50),
        Bus(id: "b3", pLoadKW: [0], qLoadKVAr: [0], qCapKVAr: 0),
        Bus(id: "b4", pLoadKW: [250], qLoadKVAr: [80], qCapKVAr: 0),
    ]
    let lines = [
        Line(id: "a", from: 0, to: 1, rOhm: 0.4, xOhm: 0.3, rateKVA: nil, closed: true, switchable: false),
        Line(id: "b", from: 2, to: 1, rOhm: 0.6, xOhm: 0.5, rateKVA: nil, closed: true, switchable: false),
        Line(id: "sw", from: 1, to: 3, rOhm: 0, xOhm: 0, rateKVA: nil, closed: true, switchable: true),
        Line(id: "c", from: 3, to: 4, rOhm: 0.5, xOhm: 0.2, rateKVA: rate, closed: true, switchable: false),
        Line(id: "tie", from: 4, to: 2, rOhm: 1, xOhm: 1, rateKVA: nil, closed: false, switchable: true),
    ]
    var index: [String: Int] = [:]
    for (i, b) in buses.enumerated() { index[b.id] = i }
    return Network(name: "hand", baseKV: 4.16, substation: 0, vSubstationPu: 1.02, vMinPu: 0.9, vMaxPu: 1.05,
                   model: nil, buses: buses, lines: lines, busIndex: index)
}

func handFeeder(rate: Double? = nil, scaleKVA: Double? = nil) throws -> Feeder {
    let network = handNetwork(rate: rate)
    let tree = try RadialTree.build(busCount: network.buses.count, lines: network.lines, root: 0).get()
    return try Feeder(network: network, tree: tree, scaleKVA: scaleKVA)
}

@Suite struct FeederTests {
    @Test func perUnitAndTopology() throws {
        let f = try handFeeder()
        #expect(f.baseKVA == 100)          // ~1000 kVA of demand → base 100 kVA
        let zBase = 4.16 * 4.16 * 1000 / f.baseKVA
        #expect(abs(f.r[1] - 0.4 / zBase) < 1e-15 && abs(f.x[2] - 0.5 / zBase) < 1e-15)
        #expect(f.zeroImpedance == [false, false, false, true, false])
        #expect(f.parentLineForward == [true, true, false, true, true])
        #expect(Array(f.children(of: 1)).sorted() == [2, 3])
        #expect(f.children(of: 4).isEmpty && f.children(of: 99).isEmpty)
        #expect(f.pathToSubstation(from: 4) == [4, 3, 1, 0])
        #expect(f.lineBranch == [1, 2, 3, 4, -1])
        #expect(f.subtreeSums([1, 2, 3, 4, 5]) == [15, 14, 3, 9, 5])
        #expect(abs(f.bCap[2] - 0.5) < 1e-15 && abs(f.pLoad[4] - 2.5) < 1e-15)
    }

    @Test func builtinFeeders() throws {
        let f123 = try loadFeeder("ieee123")
        let f = f123.feeder
        #expect(f.baseKVA == 1000)
        // reg1–reg4 and Sw1–Sw6 are closed zero-impedance branches; Sw7, Sw8 are open.
        #expect(f.zeroImpedance.filter { $0 }.count == 10)
        for id in ["Sw7", "Sw8"] {
            let k = try #require(f123.network.lines.firstIndex { $0.id == id })
            #expect(f.lineBranch[k] == -1)
        }
        let bus83 = try #require(f123.network.busIndex["83"])
        #expect(abs(f.bCap[bus83] - 0.6) < 1e-15)
        let xfm = try #require(f123.network.lines.firstIndex { $0.id == "XFM1" })
        let bus610 = try #require(f123.network.busIndex["610"])
        #expect(f.lineBranch[xfm] == bus610 && f.rating[bus610] == 0.15)
        // Every bus but the root has a parent; the children lists cover them all once.
        #expect(f.childList.count == f.busCount - 1 && Set(f.childList).count == f.busCount - 1)
        for name in ["ieee33bw", "ieee37"] { #expect(try loadFeeder(name).feeder.baseKVA == 1000) }
    }

    @Test func treeOfAnotherNetworkIsRejected() throws {
        let network = handNetwork()
        let tree = try RadialTree.build(busCount: 3, lines: Array(network.lines.prefix(2)), root: 0).get()
        #expect(throws: Feeder.BuildError.treeDoesNotMatch) { try Feeder(network: network, tree: tree) }
        let full = try RadialTree.build(busCount: 5, lines: network.lines, root: 0).get()
        #expect(throws: Feeder.BuildError.badPeriod) { try Feeder(network: network, tree: full, period: -1) }
    }

    /// The power base is internal: a different base gives the same answers in kW and pu.
    @Test func baseDoesNotChangeResults() throws {
        let a = try handFeeder(), b = try handFeeder(scaleKVA: 1e6)
        #expect(a.baseKVA != b.baseKVA)
        let pa = a.powerFlow(), pb = b.powerFlow()
        for k in 0..<a.lineCount { #expect(abs(pa.pKW[k] - pb.pKW[k]) < 1e-7) }
        for i in 0..<a.busCount { #expect(abs(pa.vPu[i] - pb.vPu[i]) < 1e-10) }
        let (fa, _, sa) = try solveFlow(a, .socp, price: 0.2)
        let (fb, bb, sb) = try solveFlow(b, .socp, price: 0.2)
        #expect(sa.status == .solved && sb.status == .solved)
        // Each solve is within the solver's 1e-8 relative accuracy of the optimum (~154 here);
        // at a base of 1e6 kVA that is all the per-unit data allow (a 1e-11 request stalls), so
        // the two agree to twice that.
        #expect(abs(sa.objective - sb.objective) <= 2e-8 * abs(sa.objective))
        let pricesB = fb.activePrices(y: sb.y, model: bb)
        #expect(abs(pricesB[0] - 0.2) < 1e-7)
        #expect(abs(fa.solution(x: sa.x).substationPKW - fb.solution(x: sb.x).substationPKW) < 1e-4)
    }

    /// Lines listed against the flow, a zero-impedance switch and a capacitor: the relaxed model,
    /// the linear one and the exact power flow agree on signs and (SOC) values.
    @Test(arguments: NetworkModel.allCases)
    func orientationAndZeroImpedance(_ model: NetworkModel) throws {
        let f = try handFeeder()
        let ac = f.powerFlow()
        #expect(ac.converged)
        #expect(ac.pKW[1] < 0)                              // b is listed 2 → 1 but feeds 2
        #expect(ac.lossKW[2] == 0 && abs(ac.vPu[3] - ac.vPu[1]) < 1e-15)
        let (flow, _, s) = try solveFlow(f, model)
        #expect(s.status == .solved)
        let sol = flow.solution(x: s.x)
        let tol = model == .socp ? 1e-4 : 25.0             // kW (LinDistFlow ignores ~19 kW of losses)
        for k in 0..<4 {
            #expect(abs(sol.pKW[k] - ac.pKW[k]) < tol, "line \(k)")
            #expect(abs(sol.qKVAr[k] - ac.qKVAr[k]) < tol, "line \(k)")
        }
        #expect(sol.pKW[4] == 0 && sol.lossKW[2] == 0)
        #expect(flow.l[3] == -1 && flow.l[0] == -1)
        if model == .socp {
            for i in 0..<f.busCount { #expect(abs(sol.vPu[i] - ac.vPu[i]) < 1e-7) }
        }
    }

    /// A rated line: within the rating the flow is served, beyond it the model is infeasible.
    @Test(arguments: NetworkModel.allCases)
    func thermalLimit(_ model: NetworkModel) throws {
        let f = try handFeeder(rate: 300)                   // line c feeds 250 + j80 kVA
        let (flow, _, ok) = try solveFlow(f, model)
        #expect(ok.status == .solved)
        #expect(flow.thermalLimits != nil)
        var kW = [Double](repeating: 0, count: f.busCount)
        kW[4] = -100                                         // 350 kW at bus 4
        let (_, _, over) = try solveFlow(f, model, injections: .fixed(kW: kW))
        #expect(over.status == .primalInfeasible)
    }
}
