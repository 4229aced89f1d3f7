import Testing
import ESMGrid
@testable import ESMMarkets

@Test func communityCurveEqualsTheSumOfResponses() {
    var random = TestRandom(state: 21)
    for n in [1, 5, 300] {
        let people = randomParticipants(n, seed: UInt64(n) &* 31)
        let band = RetailBand(sell: 0.2, buy: 0.9)
        let market = CommunityMarket(participants: people, sensitivity: 0.03, band: band, clearing: .balanced)
        let curve = market.exportCurveAtPrice()
        for _ in 0..<200 {
            let w = random.uniform(-2, 3)
            let direct = people.reduce(0.0) { $0 + $1.strategicResponse(price: w, impact: 0.03, band: band).sharedExportKW }
            #expect(abs(curve.value(at: w) - direct) <= 1e-9 * max(1, abs(direct)), "n \(n) w \(w)")
        }
        // The balanced community's price is the curve's zero.
        let root = try! #require(curve.preimage(of: 0))
        #expect(abs(0.5 * (root.lower + root.upper) - market.solve().price) < 1e-10)
    }
}

@Test func interceptCurveMatchesTheUnclearedMarket() {
    let people = randomParticipants(200, seed: 8)
    let band = RetailBand(sell: 0.2, buy: 0.9)
    let curve = CommunityMarket(participants: people, sensitivity: 0.05, band: band, clearing: .balanced).exportCurveAtIntercept()
    for intercept in stride(from: -1.0, through: 2.0, by: 0.137) {
        let eq = CommunityMarket(participants: people, sensitivity: 0.05, band: band, clearing: .intercept(intercept)).solve()
        #expect(abs(curve.value(at: intercept) - eq.exportKW) <= 1e-8 * max(1, abs(eq.exportKW)))
    }
}

@Test func clampAndPreimageOfAHandMadeCurve() {
    // y = 0 for π ≤ 0, y = 2π on [0, 1], y = 2 + (π − 1) beyond.
    let curve = ResponseCurve(anchorValue: 0, leftSlope: 0, rightSlope: 1, events: [(0, 2), (1, -1)])
    #expect(curve.value(at: -5) == 0 && curve.value(at: 0.5) == 1 && curve.value(at: 3) == 4)
    let clamped = curve.clamped(low: 0.5, high: 3)
    #expect(clamped.value(at: -1) == 0.5 && clamped.value(at: 0.25) == 0.5)
    #expect(clamped.value(at: 0.5) == 1 && clamped.value(at: 1.5) == 2.5 && clamped.value(at: 9) == 3)
    let flat = curve.preimage(of: 0)
    #expect(flat?.lower == -Double.infinity && flat?.upper == 0)
    let point = curve.preimage(of: 3)
    #expect(point?.lower == 2 && point?.upper == 2)
    #expect(curve.preimage(of: -1) == nil)
    let sum = ResponseCurve.sum([curve, clamped])
    for w in [-2.0, 0.1, 0.7, 1.2, 5] { #expect(abs(sum.value(at: w) - curve.value(at: w) - clamped.value(at: w)) < 1e-12) }
}
