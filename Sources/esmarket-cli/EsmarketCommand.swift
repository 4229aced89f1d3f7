// The `esmarket` command-line tool: clear a problem file, generate a case, or run the demo.
import ArgumentParser
import ESMJSON
import ESMMarkets
import Foundation

@main
struct EsmarketCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "esmarket",
        abstract: "Market clearing for energy sharing among prosumers in distribution grids.",
        subcommands: [Clear.self, Generate.self, Demo.self]
    )
}

/// Prints the error document's path and message to stderr and exits non-zero.
func failIfError(_ reply: Service.Reply) throws {
    guard reply.error != nil else { return }
    var path = "null", message = reply.json
    if let data = reply.json.data(using: .utf8),
       let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
       let error = object["error"] as? [String: Any] {
        path = (error["path"] as? String) ?? "null"
        message = "\(error["code"] ?? "error"): \(error["message"] ?? "")"
    }
    FileHandle.standardError.write(Data("esmarket: \(message) (path: \(path))\n".utf8))
    throw ExitCode(2)
}

func readInput(_ path: String) throws -> String {
    if path == "-" {
        return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        FileHandle.standardError.write(Data("esmarket: cannot read \(path)\n".utf8))
        throw ExitCode(1)
    }
    return String(decoding: data, as: UTF8.self)
}

func writeOutput(_ text: String, to path: String?) throws {
    guard let path else { return print(text) }
    guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
        FileHandle.standardError.write(Data("esmarket: cannot write \(path)\n".utf8))
        throw ExitCode(1)
    }
}

struct Clear: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Clear a problem document (JSON) and print the result.")

    @Argument(help: "Problem document (JSON file, or - for standard input).")
    var problem: String

    @Option(name: .shortAndLong, help: "Write the result here instead of standard output.")
    var output: String?

    func run() throws {
        let reply = Service.clear(try readInput(problem))
        try failIfError(reply)
        try writeOutput(reply.json, to: output)
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate a seeded problem document.")

    @Option(help: "Mechanism: energy_sharing, two_layer, two_layer_voltage, social_optimum, p2p_gne, p2p_online.")
    var mechanism: String = "energy_sharing"

    @Option(help: "Built-in feeder: ieee33bw, ieee37, ieee123.")
    var feeder: String?

    @Option(help: "Number of prosumers (default 1000; 50 for p2p_gne; 20 for p2p_online).")
    var prosumers: Int?

    @Option(help: "Number of communities (two-layer mechanisms).")
    var communities: Int?

    @Option(help: "Number of periods: hourly for p2p_gne (default 24), 15-minute slots for p2p_online (default 96).")
    var periods: Int?

    @Option(help: "Trading-graph density |E| / (N(N-1)/2) (p2p_gne, default 0.6).")
    var connectivity: Double?

    @Option(help: "Random seed.")
    var seed: Int = 1

    @Option(name: .shortAndLong, help: "Write the problem here instead of standard output.")
    var output: String?

    func run() throws {
        var spec = #"{"mechanism":"\#(mechanism)","seed":\#(seed)"#
        if let prosumers { spec += #","prosumers":\#(prosumers)"# }
        if let feeder { spec += #","feeder":"\#(feeder)""# }
        if let communities { spec += #","communities":\#(communities)"# }
        if let periods { spec += #","periods":\#(periods)"# }
        if let connectivity { spec += #","connectivity":\#(connectivity)"# }
        spec += "}"
        let reply = Service.generateCase(spec)
        try failIfError(reply)
        try writeOutput(reply.json, to: output)
    }
}

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate and clear a built-in case (IEEE 123-bus feeder, thousands of prosumers) and summarize it.")

    @Option(help: "Number of prosumers.")
    var prosumers: Int = 12300

    @Option(help: "Random seed.")
    var seed: Int = 7

    func run() throws {
        let spec = #"{"mechanism":"two_layer_voltage","feeder":"ieee123","prosumers":\#(prosumers),"seed":\#(seed)}"#
        let start = Date()
        let problem = Service.generateCase(spec)
        try failIfError(problem)
        let generated = Date()
        let reply = Service.clear(problem.json)
        try failIfError(reply)
        let cleared = Date()
        guard let object = try JSONSerialization.jsonObject(with: Data(reply.json.utf8)) as? [String: Any],
              let input = try JSONSerialization.jsonObject(with: Data(problem.json.utf8)) as? [String: Any] else {
            throw ExitCode(1)
        }
        let grid = input["grid"] as? [String: Any] ?? [:]
        let network = input["network"] as? [String: Any] ?? [:]
        let people = object["prosumers"] as? [[String: Any]] ?? []
        let communities = object["communities"] as? [[String: Any]] ?? []
        let objective = object["objective"] as? [String: Any] ?? [:]
        let stats = object["stats"] as? [String: Any] ?? [:]
        let quality = object["quality"] as? [String: Any] ?? [:]
        let upperLayer = object["upperLayer"] as? [String: Any] ?? [:]
        func values(_ key: String) -> [Double] { communities.compactMap { $0[key] as? Double } }
        func number(_ value: Any?) -> String { String(format: "%.6g", (value as? Double) ?? .nan) }
        var routes: [String: Int] = [:]
        for c in communities { routes[c["route"] as? String ?? "?", default: 0] += 1 }
        let upper = values("upperPrice"), local = values("price")
        print("""
        esmarket demo: two_layer_voltage, \(communities.count) communities of \(people.count) prosumers in all on the IEEE 123-bus feeder (seed \(seed))
          status               \(object["status"] ?? "?")
          upper prices         \(number(upper.min())) … \(number(upper.max())) per kWh (substation \(number(grid["substationPrice"])), retail \(number(grid["sellPrice"])) / \(number(grid["buyPrice"])))
          sharing prices       \(number(local.min())) … \(number(local.max())) per kWh
          routes               \(routes.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")); \(number(upperLayer["pieces"])) response pieces, \(number(upperLayer["binaries"])) binaries
          AC voltages          \(number(quality["acVoltageMinPu"])) … \(number(quality["acVoltageMaxPu"])) pu (limits \(number(network["vMinPu"])) … \(number(network["vMaxPu"])); worst violation \(number(quality["acVoltageViolationMaxPu"])) pu)
          social cost          \(number(objective["socialCost"])) (flex \(number(objective["flexCost"])), substation \(number(objective["gridCost"])), losses \(number(objective["lossesKW"])) kW)
          exactness            embedding error \(number(quality["embeddingErrorMax"])), SOC gap \(number(quality["relaxationGapMax"])), SOC vs AC \(number(quality["acVoltageErrorMaxPu"])) pu
          time                 generate \(String(format: "%.3f", generated.timeIntervalSince(start))) s, clear \(String(format: "%.3f", cleared.timeIntervalSince(generated))) s (parse \(number(stats["parseSeconds"])) s, solve \(number(stats["solveSeconds"])) s, total \(number(stats["totalSeconds"])) s)
        """)
    }
}
