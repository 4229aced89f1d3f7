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
