import Foundation
import Testing
@testable import ESMGrid
import ESMJSON
import ESMMarkets

/// A built-in feeder decoded the way a user's document is, with its per-unit model.
struct TestFeeder {
    let network: Network
    let tree: RadialTree
    let feeder: Feeder
}

func loadFeeder(_ name: String, overrides: String = "") throws -> TestFeeder {
    let extra = overrides.isEmpty ? "" : ",\(overrides)"
    let text = #"{"schema":"esmarket/1","mechanism":"social_optimum","network":{"builtin":"\#(name)"\#(extra)},"grid":{"buyPrice":1,"sellPrice":0}}"#
    let problem = try ProblemDecoder.decode(text)
    let network = try #require(problem.network)
    let tree = try #require(problem.tree)
    return TestFeeder(network: network, tree: tree, feeder: try Feeder(network: network, tree: tree))
}

/// One feeder's entry of Tests/data/feeders/reference_powerflow.json.
struct ReferencePowerFlow {
    let lossKW: Double
    let lossKVAr: Double
    let pSubstationKW: Double
    let qSubstationKVAr: Double
    let vminPu: Double
    let vminBus: String
    /// Bus id → (|V| pu, angle degrees).
    let voltage: [String: (Double, Double)]
}

func referencePowerFlow(_ name: String) throws -> ReferencePowerFlow {
    // <repo>/Tests/ESMGridTests/<file> → <repo>/Tests/data/feeders/reference_powerflow.json
    let here = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    let repo = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let url = repo.appendingPathComponent("Tests/data/feeders/reference_powerflow.json")
    let data = try Data(contentsOf: url)
    let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let entry = try #require(root[name] as? [String: Any])
    let buses = try #require(entry["busVoltagePu"] as? [String: [Double]])
    var voltage: [String: (Double, Double)] = [:]
    for (id, pair) in buses where pair.count == 2 { voltage[id] = (pair[0], pair[1]) }
    return ReferencePowerFlow(
        lossKW: try #require(entry["lossKW"] as? Double), lossKVAr: try #require(entry["lossKVAr"] as? Double),
        pSubstationKW: try #require(entry["pSubstationKW"] as? Double),
        qSubstationKVAr: try #require(entry["qSubstationKVAr"] as? Double),
        vminPu: try #require(entry["vminPu"] as? Double), vminBus: try #require(entry["vminBus"] as? String),
        voltage: voltage)
}

func relativeError(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(abs(b), 1e-12) }
