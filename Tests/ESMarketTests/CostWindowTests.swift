import Testing
import ESMGrid
@testable import ESMJSON
@testable import ESMMarkets

// CostWindow: chords of a convex cost away from a window of exact segments, and the certificate
// that lets two_layer_voltage solve with them instead of every segment.

/// C(G) = G²/2 on [0, 10] cut into ten unit segments (slopes 0, 1, ..., 9 at their left ends).
private func parabola() -> [CommunityBestResponse.CostSegment] {
    (0..<10).map { k in
        let g = Double(k)
        return .init(piece: k, injectionLow: g, injectionHigh: g + 1, costLow: 0.5 * g * g, slopeLow: g, curvature: 1)
    }
}

@Test func costWindowChordsAreAboveAndExactInside() {
    let full = parabola()
    let window = CostWindow(exact: 4..<6)
    let written = window.segments(full)
    // A chord per segment on each side here (fewer segments than chordsPerSide).
    #expect(written.count == 4 + 2 + 4)
    #expect(CommunityBestResponse.isConvex(written))
    for (a, b) in zip(written, written.dropFirst()) { #expect(abs(a.injectionHigh - b.injectionLow) <= 1e-15) }
    for g in stride(from: 0.0, through: 10.0, by: 0.0625) {
        let h = CommunityBestResponse.value(of: written, at: g), c = 0.5 * g * g
        #expect(h >= c - 1e-12)
        if g >= 4 && g <= 6 { #expect(abs(h - c) <= 1e-12) }
        if g == g.rounded() { #expect(abs(h - c) <= 1e-12) }   // chords meet C at segment ends
    }
    // A chord over [0, 1] of G²/2 has slope 1/2 (by hand).
    #expect(abs(written[0].slopeLow - 0.5) <= 1e-15 && written[0].curvature == 0)
}

@Test func costWindowCertificateAndGrowth() {
    let full = parabola()
    let window = CostWindow(exact: 4..<6)          // exact on [4, 6]
    #expect(window.certifies(5, in: full, margin: 0.1))
    #expect(!window.certifies(4.05, in: full, margin: 0.1))   // too close to the inner end at 4
    #expect(!window.certifies(7, in: full, margin: 0.1))
    let toDomainEnd = CostWindow(exact: 8..<10)      // its high end is the domain's
    #expect(toDomainEnd.certifies(10, in: full, margin: 0.1))
    #expect(!toDomainEnd.certifies(8, in: full, margin: 0.1))
    #expect(!CostWindow(exact: 5..<5).certifies(5.5, in: full, margin: 0.1))   // nothing exact yet

    // G = 7.5 lies in segment 7: radius 1 → segments 6..<9, hull with 4..<6 → 4..<9.
    #expect(window.grown(around: 7.5, in: full, radius: 1, reach: 0) == CostWindow(exact: 4..<9))
    // From an empty window: just the neighbourhood; the reach adds segments a radius misses.
    #expect(CostWindow(exact: 5..<5).grown(around: 2.5, in: full, radius: 0, reach: 0) == CostWindow(exact: 2..<3))
    #expect(CostWindow(exact: 5..<5).grown(around: 2.5, in: full, radius: 0, reach: 1.2) == CostWindow(exact: 1..<4))
    #expect(window.grown(around: 0, in: full, radius: 5, reach: 0) == CostWindow(exact: 0..<6))
    // Targeted by a price: C′ = G reaches 5.5 in segment 5 (slopes 5 → 6), at G = 5.5.
    #expect(CostWindow.aroundSlope(5.5, in: full, radius: 1, reach: 0) == CostWindow(exact: 4..<7))
    #expect(CostWindow.aroundSlope(-3, in: full, radius: 1, reach: 0) == CostWindow(exact: 0..<2))
    #expect(CostWindow.aroundSlope(50, in: full, radius: 1, reach: 0) == CostWindow(exact: 8..<10))
    // Short lists are exact from the start; long ones start with chords only.
    #expect(CostWindow(count: 10).isComplete(count: 10))
    #expect(CostWindow(count: 200).exact.isEmpty)
}

/// The windowed upper layer (chords, grown until certified) gives the solve with every segment
/// written, on communities long enough to be windowed (500 prosumers each), with the generated
/// binding voltage floor and without it.
@Test(arguments: [(UInt64(4), BuiltinFeeder.ieee33bw, Double?(0.8)), (UInt64(5), .ieee123, 0.8), (UInt64(6), .ieee33bw, nil)])
func windowedUpperLayerMatchesFullSegments(seed: UInt64, feeder: BuiltinFeeder, vMin: Double?) throws {
    let spec = CaseGenerator.Specification(mechanism: .twoLayerVoltage, prosumers: 2000, seed: seed, feeder: feeder, communities: 4)
    var problem = try ProblemDecoder.decode(try CaseGenerator.generate(spec))
    if let vMin { problem.network?.vMinPu = vMin }
    guard let network = problem.network, let tree = problem.tree, let grid = problem.grid else {
        Issue.record("generated case without a network")
        return
    }
    let feeder = try Feeder(network: network, tree: tree, period: 0,
                            scaleKVA: SocialOptimum.demandKVA(network: network, prosumers: problem.prosumers, period: 0))
    let setup = PeriodSetup(problem: problem, grid: grid, feeder: feeder, model: .socp, period: 0)
    let instance = TwoLayerVoltage.instance(problem, period: 0, grid: grid, members: TwoLayer.membersOfCommunities(problem))
    let written = instance.segments.enumerated().map { i, s in instance.convex[i] ? s : CommunityBestResponse.convexEnvelope(s) }
    #expect(written.filter { $0.count > CostWindow.shortList }.count >= 2, "\(written.map(\.count)): windows in use")
    var answers: [TwoLayerVoltage.Upper] = []
    for windowed in [true, false] {
        let upper = try TwoLayerVoltage.solveUpper(instance, setup: setup, allDisjunctive: false, options: problem.options,
                                                   control: SolveControl(), windowed: windowed)
        #expect(upper.solution.status == .solved, "windowed \(windowed): \(upper.solution.message)")
        answers.append(upper)
    }
    let (w, f) = (answers[0].solution.objective, answers[1].solution.objective)
    #expect(abs(w - f) <= 1e-8 * max(abs(f), 1), "objective windowed \(w) vs full \(f)")
    let scale = instance.sizeKW.max() ?? 1
    expectClose(answers[0].injectionKW.map { $0 / scale }, answers[1].injectionKW.map { $0 / scale }, 1e-5)
}
