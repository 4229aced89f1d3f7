/// `options.exportCurves`: each community's supply curve — its members' total export to the
/// community as a function of the sharing price on the retail band — written as the breakpoints
/// of the exact piecewise-linear curve the markets clear on (`exportCurveAtPrice`, or the sum of
/// price-taking curves). What a user plots to see why a community cleared where it did.
enum CommunityExportCurves {
    /// One entry per community and period: `{"community", "period", "price": [...], "exportKW": [...]}`,
    /// prices increasing from `sellPrice` to `buyPrice`, the curve linear between them.
    static func report(_ problem: Problem, grid: GridTariff, members: [[Int]], priceTaking: Bool) -> ResultValue {
        var entries: [ResultValue] = []
        for (i, community) in problem.communities.enumerated() where i < members.count {
            for t in 0..<problem.periods {
                let band = RetailBand(sell: grid.sellPrice[t], buy: grid.buyPrice[t])
                let participants = members[i].map { EnergySharing.participant(of: problem.prosumers[$0], period: t) }
                let market = CommunityMarket(participants: participants, sensitivity: community.sensitivity,
                                             band: band, clearing: .balanced, priceTaking: priceTaking)
                let curve = priceTaking
                    ? ResponseCurve.sum(participants.map { $0.priceTakingCurve(band: band) })
                    : market.exportCurveAtPrice()
                var prices = [band.sell]
                prices += curve.prices.filter { $0 > band.sell && $0 < band.buy }
                prices.append(band.buy)
                entries.append(.object([
                    ("community", .text(community.id)),
                    ("period", .number(Double(t))),
                    ("price", .numbers(prices)),
                    ("exportKW", .numbers(prices.map { finite(curve.value(at: $0)) })),
                ]))
            }
        }
        return .list(entries)
    }

    private static func finite(_ v: Double) -> Double { v.isFinite ? v : 0 }
}
