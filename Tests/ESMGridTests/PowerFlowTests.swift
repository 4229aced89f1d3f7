import Testing
@testable import ESMGrid

@Suite struct PowerFlowTests {
    @Test(arguments: ["ieee33bw", "ieee37", "ieee123"])
    func reproducesReference(_ name: String) throws {
        let feeder = try loadFeeder(name)
        let reference = try referencePowerFlow(name)
        let result = feeder.feeder.powerFlow()
        #expect(result.converged, "\(result.message)")
        #expect(result.maxMismatchKVA < 1e-6)
        var worstV = 0.0, worstA = 0.0
        #expect(reference.voltage.count == feeder.network.buses.count)
        for (i, bus) in feeder.network.buses.enumerated() {
            let ref = try #require(reference.voltage[bus.id])
            worstV = max(worstV, abs(result.vPu[i] - ref.0))
            worstA = max(worstA, abs(result.angleDeg[i] - ref.1))
        }
        print("\(name): \(result.iterations) sweeps, max |ΔV| \(worstV) pu, max Δangle \(worstA) deg, "
              + "loss \(result.totalLossKW) kW (ref \(reference.lossKW)), P0 \(result.substationPKW), Q0 \(result.substationQKVAr)")
        #expect(worstV <= 1e-8)
        #expect(worstA <= 1e-6)
        #expect(relativeError(result.totalLossKW, reference.lossKW) <= 1e-6)
        #expect(relativeError(result.totalLossKVAr, reference.lossKVAr) <= 1e-6)
        #expect(relativeError(result.substationPKW, reference.pSubstationKW) <= 1e-6)
        #expect(relativeError(result.substationQKVAr, reference.qSubstationKVAr) <= 1e-6)
        #expect(feeder.network.buses[result.vMinBus].id == reference.vminBus)
        #expect(abs(result.vMinPu - reference.vminPu) <= 1e-8)
    }
}

@Suite struct PowerFlowEdgeTests {
    /// Two buses: |V₂|⁴ + (2(rP + xQ) − |V₁|²)|V₂|² + |z|²|S|² = 0 (the larger root).
    @Test func twoBusClosedForm() throws {
        let buses = [Bus(id: "0", pLoadKW: [0], qLoadKVAr: [0], qCapKVAr: 0),
                     Bus(id: "1", pLoadKW: [800], qLoadKVAr: [600], qCapKVAr: 0)]
        let lines = [Line(id: "l", from: 0, to: 1, rOhm: 1.2, xOhm: 2.1, rateKVA: nil, closed: true, switchable: false)]
        let network = Network(name: nil, baseKV: 12.47, substation: 0, vSubstationPu: 1.03, vMinPu: 0.9, vMaxPu: 1.1,
                              model: nil, buses: buses, lines: lines, busIndex: ["0": 0, "1": 1])
        let tree = try RadialTree.build(busCount: 2, lines: lines, root: 0).get()
        let f = try Feeder(network: network, tree: tree)
        let result = f.powerFlow()
        let r = f.r[1], x = f.x[1], p = f.pLoad[1], q = f.qLoad[1], v1 = 1.03
        let b = 2 * (r * p + x * q) - v1 * v1, c = (r * r + x * x) * (p * p + q * q)
        let v2 = ((-b + (b * b - 4 * c).squareRoot()) / 2).squareRoot()
        #expect(result.converged)
        #expect(abs(result.vPu[1] - v2) < 1e-12)
        let loss = f.kW(r * (p * p + q * q) / (v2 * v2))
        #expect(abs(result.totalLossKW - loss) < 1e-9)
        #expect(abs(result.substationPKW - 800 - loss) < 1e-9)
    }

    /// Far beyond the feeder's capacity: reported as not converged, with finite numbers.
    @Test(arguments: [10.0, 1e3, 1e200])
    func overloadIsReportedNotTrapped(_ factor: Double) throws {
        let test = try loadFeeder("ieee33bw")
        let f = test.feeder
        let kW = f.pLoad.map { -$0 * f.baseKVA * factor }
        let result = f.powerFlow(injectionKW: kW, injectionKVAr: kW)
        #expect(!result.converged)
        #expect(!result.message.isEmpty)
        let numbers = result.vPu + result.angleDeg + result.pKW + result.qKVAr + result.lossKW + result.lossKVAr
            + [result.substationPKW, result.substationQKVAr, result.totalLossKW, result.maxMismatchKVA]
        #expect(numbers.allSatisfy { $0.isFinite })
    }

    /// Injections shorter than the bus list are read as far as they go; generation lowers the import.
    @Test func partialInjections() throws {
        let f = try loadFeeder("ieee37").feeder
        let base = f.powerFlow()
        let more = f.powerFlow(injectionKW: [0, 0, 0, 100])
        #expect(more.converged)
        #expect(more.substationPKW < base.substationPKW)
        #expect(abs(more.substationPKW - more.totalLossKW - (base.substationPKW - base.totalLossKW - 100)) < 1e-6)
    }
}

/// Shunt admittances (conductance `pShuntKW`, susceptance `qCapKVAr` of either sign) in the sweep
/// and in the SOC branch-flow model.
@Suite struct ShuntTests {
    /// Complex numbers, just enough for the closed forms below.
    struct C {
        var re: Double, im: Double
        init(_ re: Double, _ im: Double) { self.re = re; self.im = im }
        static func + (a: C, b: C) -> C { C(a.re + b.re, a.im + b.im) }
        static func * (a: C, b: C) -> C { C(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re) }
        static func / (a: C, b: C) -> C {
            let d = b.re * b.re + b.im * b.im
            return C((a.re * b.re + a.im * b.im) / d, (a.im * b.re - a.re * b.im) / d)
        }
        var abs2: Double { re * re + im * im }
    }

    func twoBus(pShuntKW: Double, qCapKVAr: Double) throws -> Feeder {
        let buses = [Bus(id: "0", pLoadKW: [0], qLoadKVAr: [0], qCapKVAr: 0),
                     Bus(id: "1", pLoadKW: [800], qLoadKVAr: [600], qCapKVAr: qCapKVAr, pShuntKW: pShuntKW)]
        let lines = [Line(id: "l", from: 0, to: 1, rOhm: 1.2, xOhm: 2.1, rateKVA: nil, closed: true, switchable: false)]
        let network = Network(name: nil, baseKV: 12.47, substation: 0, vSubstationPu: 1.03, vMinPu: 0.9, vMaxPu: 1.1,
                              model: nil, buses: buses, lines: lines, busIndex: ["0": 0, "1": 1])
        let tree = try RadialTree.build(busCount: 2, lines: lines, root: 0).get()
        return try Feeder(network: network, tree: tree)
    }

    /// Bus 1 draws S = P + jQ (constant power) and Y*·|V₁|² through the shunt Y = g + jb (g draws
    /// g|V|², b injects b|V|²). Seen from the constant-power load, source V₀ behind z with the
    /// shunt at the load end is a Thévenin source E = V₀/(1 + zY) behind z_th = z/(1 + zY). From
    /// E = V₁ + z_th·conj(S/V₁): E·conj(V₁) = u + z_th·conj(S) with u = |V₁|², and taking |·|²
    ///     u² + (2(r_th P + x_th Q) − |E|²) u + |z_th|²|S|² = 0,
    /// whose larger root is the operating point. Then the branch carries S + Y*u, so the series
    /// loss is r·|S + Y*u|²/u and the substation supplies P + g u + loss.
    @Test(arguments: [(40.0, -150.0), (40.0, 300.0), (0.0, -400.0), (120.0, 0.0)])
    func twoBusClosedForm(_ pShuntKW: Double, _ qCapKVAr: Double) throws {
        let f = try twoBus(pShuntKW: pShuntKW, qCapKVAr: qCapKVAr)
        // Swept to 1e-14 pu (the default 1e-11 pu leaves ~1e-8 kW on a 1000 kVA base).
        var settings = PowerFlowSettings()
        settings.tolerance = 1e-14
        let result = f.powerFlow(settings: settings)
        #expect(result.converged, "\(result.message)")
        let z = C(f.r[1], f.x[1]), y = C(f.gShunt[1], f.bCap[1])
        #expect(abs(f.gShunt[1] * f.baseKVA - pShuntKW) < 1e-12 && abs(f.bCap[1] * f.baseKVA - qCapKVAr) < 1e-12)
        let v0 = 1.03, p = f.pLoad[1], q = f.qLoad[1]
        let onePlusZY = C(1, 0) + z * y
        let e = C(v0, 0) / onePlusZY, zth = z / onePlusZY
        let b = 2 * (zth.re * p + zth.im * q) - e.abs2, c = zth.abs2 * (p * p + q * q)
        let u = (-b + (b * b - 4 * c).squareRoot()) / 2
        #expect(abs(result.vPu[1] - u.squareRoot()) < 1e-12, "\(result.vPu[1]) vs \(u.squareRoot())")
        let branchP = p + f.gShunt[1] * u, branchQ = q - f.bCap[1] * u
        let loss = f.kW(f.r[1] * (branchP * branchP + branchQ * branchQ) / u)
        #expect(abs(result.totalLossKW - loss) < 1e-9)
        #expect(abs(result.shuntLossKW - pShuntKW * u) < 1e-9)
        #expect(abs(result.substationPKW - (800 + pShuntKW * u + loss)) < 1e-9)
        #expect(abs(result.substationQKVAr - (600 - qCapKVAr * u + f.kW(f.x[1] * (branchP * branchP + branchQ * branchQ) / u))) < 1e-9)
        #expect(result.maxMismatchKVA < 1e-9)
    }

    /// A seven-bus radial feeder with conductances, capacitors and reactors: the SOC branch-flow
    /// model at fixed injections, minimizing the import, is exact and its voltages are the
    /// sweep's; without the shunts the voltages differ by ~7e-4 pu.
    @Test func socpWithShuntsMatchesSweep() throws {
        let loads: [(Double, Double, Double, Double)] = [   // pLoadKW, qLoadKVAr, pShuntKW, qCapKVAr
            (0, 0, 0, 0), (300, 120, 15, -80), (0, 0, 25, 0), (250, 90, 0, 200), (400, 150, 10, -60),
            (120, 60, 0, 150), (200, 70, 30, -120)]
        let buses = loads.enumerated().map { i, l in
            Bus(id: "\(i)", pLoadKW: [l.0], qLoadKVAr: [l.1], qCapKVAr: l.3, pShuntKW: l.2)
        }
        let links = [(0, 1, 0.30, 0.25), (1, 2, 0.40, 0.35), (2, 3, 0.50, 0.30), (1, 4, 0.60, 0.45),
                     (4, 5, 0.35, 0.30), (4, 6, 0.45, 0.40)]
        let lines = links.enumerated().map { k, l in
            Line(id: "l\(k)", from: l.0, to: l.1, rOhm: l.2, xOhm: l.3, rateKVA: nil, closed: true, switchable: false)
        }
        var index = [String: Int]()
        for (i, bus) in buses.enumerated() { index[bus.id] = i }
        let network = Network(name: nil, baseKV: 12.66, substation: 0, vSubstationPu: 1.02, vMinPu: 0.8, vMaxPu: 1.2,
                              model: nil, buses: buses, lines: lines, busIndex: index)
        let tree = try RadialTree.build(busCount: buses.count, lines: lines, root: 0).get()
        let f = try Feeder(network: network, tree: tree)
        let ac = f.powerFlow()
        #expect(ac.converged)
        let (flow, _, solution) = try solveFlow(f, .socp)
        #expect(solution.status == .solved)
        let s = flow.solution(x: solution.x)
        var worst = 0.0
        for bus in 0..<f.busCount { worst = max(worst, abs(s.vPu[bus] - ac.vPu[bus])) }
        print("shunts socp: max |V − V_ac| \(worst) pu, gap \(s.maxRelaxationGapPu) pu², import \(s.substationPKW) vs \(ac.substationPKW) kW")
        #expect(worst <= 1e-6)
        #expect(s.maxRelaxationGapPu <= 1e-5)
        #expect(relativeError(s.substationPKW, ac.substationPKW) <= 1e-6)
        #expect(relativeError(s.substationQKVAr, ac.substationQKVAr) <= 1e-6)
        // The shunts matter here: the same feeder without them is visibly different.
        let bare = Network(name: nil, baseKV: 12.66, substation: 0, vSubstationPu: 1.02, vMinPu: 0.8, vMaxPu: 1.2, model: nil,
                           buses: buses.map { Bus(id: $0.id, pLoadKW: $0.pLoadKW, qLoadKVAr: $0.qLoadKVAr, qCapKVAr: 0) },
                           lines: lines, busIndex: index)
        let without = try Feeder(network: bare, tree: tree).powerFlow()
        var shift = 0.0
        for bus in 0..<f.busCount { shift = max(shift, abs(without.vPu[bus] - ac.vPu[bus])) }
        #expect(shift >= 5e-4, "shunts move the voltages by \(shift) pu only")
    }
}
