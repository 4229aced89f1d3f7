import CJSONC
import Testing
import ESMGrid
@testable import ESMJSON
@testable import ESMMarkets

// Inputs found by the fuzzer (Tests/fuzz) and what they broke, kept as regression tests.

/// Fuzz finding 1 (two_layer, bidding): the 33-bus case of the corpus with one prosumer's load
/// mutated to 1,620,500 kW. Its price sits near the buy price, where prosumers trade with the
/// grid and respond to the price with slope 1/a, steeper than the step size assumed (Σ 1/(c + a)):
/// the dual ascent oscillated, grew to infinity and reported `"imbalanceKW":-nan` in a progress
/// event (not JSON), then numerical_error, where direct and centralized clear the case.
let fuzzBiddingOverflow = #"""
{"schema":"esmarket/1","mechanism":"two_layer","network":{"builtin":"ieee33bw"},"grid":{"buyPrice":1.0,"sellPrice":0.3},"communities":[{"id":"c1","bus":"24","sensitivity":0.02},{"id":"c2","bus":"25","sensitivity":0.01},{"id":"c3","bus":"32","sensitivity":0.02}],"prosumers":[{"id":"p1","community":"c1","loadKW":3.5449,"flex":{"minKW":0,"maxKW":0.4125,"costA":0.0573,"costB":0.1649}},{"id":"p2","community":"c1","loadKW":4.5541,"flex":{"minKW":0,"maxKW":2.1317,"costA":0.1389,"costB":0.2473}},{"id":"p3","community":"c1","loadKW":2.344,"flex":{"minKW":0,"maxKW":2.1896,"costA":0.1212,"costB":0.244}},{"id":"p4","community":"c1","loadKW":1.4156,"flex":{"minKW":[0],"maxKW":0.5281,"costA":0,"costB":0.1918}},{"id":"p5","community":"c2","loadKW":4.7428,"flex":{"minKW":0,"maxKW":7.074,"costA":0.1088,"costB":0.3458}},{"id":"p6","community":"c2","loadKW":4.5606,"flex":{"minKW":0,"maxKW":2.2795,"costA":1.0690999999999999,"costB":0.2867}},{"id":"p7","community":"c2","loadKW":4.4877,"flex":{"minKW":0,"maxKW":7.3435,"costA":0.0621,"costB":0.2924}},{"id":"p9","community":"c3","loadKW":3.6784,"flex":{"minKW":0,"maxKW":1.05,"costA":0.0712,"costB":0.242}},{"id":"p10","community":"c3","loadKW":3.032,"flex":{"minKW":0,"maxKW":6.676,"costA":0.087,"costB":0.1472}},{"id":"p11","community":"c3","loadKW":3.2923,"flex":{"minKW":0,"maxKW":8.4499,"costA":0.1356,"costB":[0.1952]}},{"id":"p12","community":"c3","loadKW":1620500,"flex":{"minKW":0,"maxKW":6.4641,"costA":0.0517,"costB":0.2635}}],"options":{"algorithm":"bidding"}}
"""#

func withAlgorithm(_ document: String, _ algorithm: String) -> String {
    document.replacingOccurrences(of: #""algorithm":"bidding""#, with: #""algorithm":"\#(algorithm)""#)
}

/// Clears `document` with an observer that records every progress event.
func clearObserved(_ document: String) throws -> (MarketResult, [String]) {
    final class Events: @unchecked Sendable { var all: [String] = [] }
    let events = Events()
    let control = SolveControl(observer: { events.all.append($0); return false })
    let result = try clear(document, control: control)
    return (result, events.all)
}

func isJSONObject(_ text: String) -> Bool {
    guard let tokener = json_tokener_new() else { return false }
    defer { json_tokener_free(tokener) }
    json_tokener_set_flags(tokener, JSON_TOKENER_STRICT)
    let parsed = json_tokener_parse_ex(tokener, text, Int32(text.utf8.count))
    defer { if let parsed { json_object_put(parsed) } }
    return json_tokener_get_error(tokener) == json_tokener_success && parsed.map { json_object_get_type($0) == json_type_object } == true
}

@Test("fuzz finding 1: bidding near the buy price converges to the direct clearing, events stay JSON",
      arguments: [1_620_500.0, 100, 10])
func biddingNearTheBuyPriceConverges(_ load: Double) throws {
    let document = fuzzBiddingOverflow.replacingOccurrences(of: #""loadKW":1620500"#, with: #""loadKW":\#(load)"#)
    let (bidding, events) = try clearObserved(document.replacingOccurrences(of: #""algorithm":"bidding""#, with: #""algorithm":"bidding","log":"iterations""#))
    let direct = try clear(withAlgorithm(document, "direct"))
    #expect(direct.status == .solved)
    #expect(bidding.status == .solved, "\(bidding.message)")
    #expect(bidding.isFinite)
    #expect(events.count > 2)
    for event in events { #expect(isJSONObject(event), "progress event is not JSON: \(event)") }
    expectClose(bidding.column("communities", "price"), direct.column("communities", "price"), 1e-6)
    expectClose(bidding.column("prosumers", "flexKW"), direct.column("prosumers", "flexKW"), 1e-6)
}

/// The same defect on an unmutated generated case: bidding stopped at iteration_limit after
/// 100,000 iterations (price 0.9614 against direct's 0.9637).
@Test func biddingOnAGeneratedCaseNearTheBuyPrice() throws {
    let generated = try generateCase(#"{"mechanism":"two_layer","feeder":"ieee33bw","prosumers":300,"communities":6,"seed":5}"#)
    let document = String(generated.dropLast()) + #","options":{"algorithm":"bidding"}}"#
    let bidding = try clear(document)
    let direct = try clear(withAlgorithm(document, "direct"))
    #expect(bidding.status == .solved, "\(bidding.message)")
    #expect(bidding.iterations < 1000)
    expectClose(bidding.column("communities", "price"), direct.column("communities", "price"), 1e-6)
}

/// Fuzz finding 2 (social_optimum): a flex costA of 1e-315 (subnormal) made the bus aggregation's
/// supply curve infinitely steep (1/costA = inf) and the model build threw, which surfaced as
/// ESM_ERR_INTERNAL. Smaller but normal costA (1e-20, 1e-297) did not throw but were wrong: the
/// curve's piece intercepts (±costB/costA) cancelled in double precision and the "exact"
/// aggregated dispatch cost 0.136 more than the per-prosumer optimum.
let fuzzTinyCostA = #"""
{"schema":"esmarket/1","mechanism":"social_optimum","network":{"builtin":"ieee33bw","vMinPu":1e-300},"grid":{"buyPrice":1.0,"sellPrice":0.35,"substationPrice":null},"prosumers":[{"id":"p1","bus":"24","loadKW":0.495927,"qLoadKVAr":0.148778,"flex":{"minKW":0,"maxKW":0.131662,"costA":1e-315,"costB":0.447106}},{"id":"p2","bus":"25","loadKW":0.277048,"qLoadKVAr":0.083114,"pvKW":0.081064,"flex":{"minKW":0,"maxKW":0.372623,"costA":0.686638,"costB":0.349424}},{"id":"p3","bus":"32","loadKW":0.279526,"qLoadKVAr":0.083858,"pvKW":0.354989,"flex":{"minKW":null,"maxKW":0.110175,"costA":0.35,"costB":0.353645}},{"id":"p8","bus":"4","loadKW":0.494798,"pvKW":0.32184,"flex":{"minKW":0,"maxKW":0.342996,"costA":1.981883,"costB":0.253414}},{"id":"p5","bus":"8","loadKW":0.32632,"qLoadKVAr":0.097896,"pvKW":0.168382,"flex":{"minKW":0,"maxKW":0.314259,"costA":1.871277,"costB":0.202365}},{"id":"p6","bus":"30","loadKW":0.420071,"qLoadKVAr":0.126021},{"id":"p7","bus":"31","loadKW":5e-324,"pvKW":0.257799},{"id":"p9","bus":"14","loadKW":0.402891,"qLoadKVAr":0.120867,"pvKW":[0.178943],"flex":{"minKW":0,"maxKW":0.151591,"costA":1e-297,"costB":0.2702}},{"id":"p4","bus":"7","loadKW":0.560943,"qLoadKVAr":1.168283,"pvKW":0.091739},{"id":"p10","bus":"29","loadKW":0.491007,"qLoadKVAr":0.147302,"pvKW":0.35,"flex":{"minKW":0,"maxKW":0.33513,"costA":1.974414,"costB":0.20358}}]}
"""#

@Test func subnormalCostAIsNotAnInternalError() throws {
    let reply = Service.clear(fuzzTinyCostA)
    #expect(reply.error == nil, "\(reply.json.prefix(300))")
    #expect(reply.json.contains(#""status":"solved""#), "\(reply.json.prefix(300))")
    #expect(allNumbersFinite(reply.json))
}

@Test("fuzz finding 2: a vanishing costA clears like costA = 0", arguments: [1e-315, 1e-297, 1e-20])
func vanishingCostAClearsLikeZero(_ costA: Double) throws {
    func document(_ a: String) -> String {
        #"{"schema":"esmarket/1","mechanism":"social_optimum","network":{"builtin":"ieee33bw","vMinPu":0.9},"grid":{"buyPrice":1.0,"sellPrice":0.35},"prosumers":[{"id":"p1","bus":"24","loadKW":0.5,"flex":{"minKW":0,"maxKW":0.13,"costA":\#(a),"costB":0.4}},{"id":"p2","bus":"25","loadKW":0.3,"flex":{"minKW":0,"maxKW":0.3,"costA":0.7,"costB":0.3}}]}"#
    }
    let tiny = try clear(document("\(costA)"))
    let zero = try clear(document("0"))
    #expect(tiny.status == .solved && zero.status == .solved)
    #expect(tiny.isFinite)
    expectClose(tiny.column("prosumers", "flexKW"), zero.column("prosumers", "flexKW"), 1e-6)
    let a = tiny.objectiveValue("socialCost"), b = zero.objectiveValue("socialCost")
    #expect(abs(a - b) <= 1e-6 * abs(b), "socialCost \(a) vs \(b) at costA = 0")
}
