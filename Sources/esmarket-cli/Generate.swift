// `esmarket generate`: a seeded problem document from the library's case generator
// (esm_generate_case); every key of its specification is an option here.
import ArgumentParser
import ESMJSON

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a seeded problem document (byte-identical for the same options).",
        discussion: "The options are the keys of esm_generate_case's specification (README \"Case generator\"); the library checks them and names the key it refuses.")

    @Option(help: "Mechanism: energy_sharing, two_layer, two_layer_voltage, social_optimum, p2p_gne, p2p_reconfiguration, p2p_online, power_flow (social_optimum's prosumers without their market).")
    var mechanism: String = "energy_sharing"

    @Option(help: "Built-in feeder: ieee33bw, ieee37, ieee123 (default ieee123; ieee37 for p2p_gne; ieee33bw for p2p_reconfiguration and p2p_online; none for energy_sharing).")
    var feeder: String?

    @Option(help: "Number of prosumers (default 1000; 50 for p2p_gne; 20 for p2p_reconfiguration and p2p_online).")
    var prosumers: Int?

    @Option(help: "Number of communities (two_layer, two_layer_voltage; 1 for energy_sharing).")
    var communities: Int?

    @Option(help: "The communities' price sensitivity, per kWh per kW (> 0; default 0.02, 0.005 for two_layer_voltage).")
    var sensitivity: Double?

    @Flag(help: "two_layer: halve the rating of the line that carries the most sharing flow, so that it binds.")
    var congestion = false

    @Option(help: "Number of periods: hourly for p2p_gne and p2p_reconfiguration (default 24), 15-minute slots for p2p_online (default 96).")
    var periods: Int?

    @Option(help: "Trading-graph density |E| / (N(N-1)/2) in [0, 1] (p2p_gne default 0.6, p2p_reconfiguration 0.3).")
    var connectivity: Double?

    @Option(help: "Random seed.")
    var seed: Int = 1

    @Option(name: .shortAndLong, help: "Write the problem here instead of standard output.")
    var output: String?

    @Flag(help: "Indent the problem document.")
    var pretty = false

    func validate() throws {
        if let sensitivity, !sensitivity.isFinite { throw ValidationError("--sensitivity must be a finite number") }
        if let connectivity, !connectivity.isFinite { throw ValidationError("--connectivity must be a finite number") }
    }

    var specification: CaseSpecification {
        CaseSpecification(mechanism: mechanism, seed: seed, feeder: feeder, prosumers: prosumers, communities: communities,
                          sensitivity: sensitivity, congestion: congestion, periods: periods, connectivity: connectivity)
    }

    func run() throws {
        let reply = Service.generateCase(specification.json)
        try failIfError(reply)
        try writeOutput(pretty ? prettyJSON(reply.json) : reply.json, to: output)
    }
}

/// The specification esm_generate_case reads (README "Case generator"); nil leaves a key out.
struct CaseSpecification {
    var mechanism: String
    var seed: Int
    var feeder: String? = nil
    var prosumers: Int? = nil
    var communities: Int? = nil
    var sensitivity: Double? = nil
    var congestion = false
    var periods: Int? = nil
    var connectivity: Double? = nil

    var json: String {
        var members: [(key: String, value: JSONScalar)] = [("mechanism", .string(mechanism)), ("seed", .integer(seed))]
        if let feeder { members.append(("feeder", .string(feeder))) }
        if let prosumers { members.append(("prosumers", .integer(prosumers))) }
        if let communities { members.append(("communities", .integer(communities))) }
        if let sensitivity { members.append(("sensitivity", .number(sensitivity))) }
        if congestion { members.append(("congestion", .bool(true))) }
        if let periods { members.append(("periods", .integer(periods))) }
        if let connectivity { members.append(("connectivity", .number(connectivity))) }
        // An empty document if json-c cannot allocate: the library then names what is missing.
        return JSONTree.object(members)?.text() ?? "{}"
    }
}
