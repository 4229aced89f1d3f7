import Testing
import ESMGrid
import ESMJSON
@testable import ESMMarkets

/// The exact breakpoint method against the equivalent convex QP solved by the project's
/// interior-point solver (energy_sharing.md: prices and objective to 1e-8 relative, quantities
/// to 1e-5 kW — an interior-point solution is only that accurate next to a kink).
@Test(arguments: [1, 10, 100, 1000, 10_000])
func exactEqualsCentralizedQP(n: Int) throws {
    for (seed, clearing) in [(UInt64(3), CommunityMarket.Clearing.balanced), (4, .intercept(0.5))] {
        let people = randomParticipants(n, seed: seed &+ UInt64(n))
        let band = RetailBand(sell: 0.2, buy: 0.8)
        let market = CommunityMarket(participants: people, sensitivity: 0.02, band: band, clearing: clearing)
        let exact = market.solve()
        let reference = try EnergySharingQP(market: market, tolerance: Options().tolerance, timeLimit: nil).solve()
        #expect(reference.status == .solved)
        let qp = reference.equilibrium
        #expect(abs(exact.price - qp.price) <= 1e-8 * abs(exact.price), "price \(exact.price) vs \(qp.price)")
        let cost = { (eq: CommunityMarket.Equilibrium) in
            zip(people, eq.decisions).reduce(0.0) { $0 + $1.0.physicalCost($1.1, band: band) }
        }
        #expect(abs(cost(exact) - cost(qp)) <= 1e-8 * max(1, abs(cost(exact))), "cost \(cost(exact)) vs \(cost(qp))")
        var worst = 0.0
        for (e, r) in zip(exact.decisions, qp.decisions) {
            worst = max(worst, abs(e.flexKW - r.flexKW), abs(e.sharedExportKW - r.sharedExportKW),
                        abs(e.gridBuyKW - r.gridBuyKW), abs(e.gridSellKW - r.gridSellKW))
        }
        #expect(worst <= 1e-5, "largest quantity difference \(worst) kW")
        // The residual is in kW for quantities (projection residual), so it shares their 1e-5 bound.
        #expect(market.equilibriumResidual(price: qp.price, decisions: qp.decisions) <= 1e-5)
    }
}

@Test func centralizedAlgorithmThroughTheDocument() throws {
    let exact = try clear(t1Document(intercept: 0.6, firstMax: 2.5))
    let centralized = try clear(t1Document(intercept: 0.6, firstMax: 2.5, algorithm: "centralized"))
    #expect(centralized.algorithm == "centralized")
    #expect(centralized.status == .solved)
    expectClose(centralized.column("communities", "price"), exact.column("communities", "price"), 1e-8)
    expectClose(centralized.column("prosumers", "flexKW"), exact.column("prosumers", "flexKW"), 1e-5)
    #expect(centralized.iterations > 0)
}
