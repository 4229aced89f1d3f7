// `esmarket demo`: generate a case of one mechanism, clear it and print what happened, with units.
import ArgumentParser
import ESMJSON
import ESMMarkets

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate and clear a built-in case of one mechanism and summarize it (default: two_layer_voltage, IEEE 123-bus feeder, 12,300 prosumers).")

    /// Each mechanism's demo case: (feeder, prosumers, periods); nil keeps the generator's default.
    static let cases: [String: (feeder: String?, prosumers: Int?, periods: Int?)] = [
        "energy_sharing": ("ieee123", 12300, nil),
        "two_layer": ("ieee123", 11250, nil),
        "two_layer_voltage": ("ieee123", 12300, nil),
        "social_optimum": ("ieee123", 12300, nil),
        "p2p_gne": (nil, nil, nil),                  // 50 prosumers on ieee37, 24 hours
        "p2p_reconfiguration": (nil, 10, 4),         // ieee33bw; proving optimality grows fast with the horizon
        "p2p_online": (nil, nil, nil),               // 20 prosumers on ieee33bw, 96 slots of 15 minutes
    ]

    @Option(help: "Mechanism: \(Demo.cases.keys.sorted().joined(separator: ", ")).")
    var mechanism: String = "two_layer_voltage"

    @Option(help: "Number of prosumers (default: the mechanism's demo size).")
    var prosumers: Int?

    @Option(help: "Built-in feeder: ieee33bw, ieee37, ieee123 (default: the mechanism's).")
    var feeder: String?

    @Option(help: "Number of periods (p2p mechanisms).")
    var periods: Int?

    @Option(help: "Random seed.")
    var seed: Int = 7

    func validate() throws {
        guard Demo.cases[mechanism] != nil else {
            throw ValidationError("unknown mechanism \(mechanism); one of \(Demo.cases.keys.sorted().joined(separator: ", "))")
        }
    }

    func run() throws {
        let defaults = Demo.cases[mechanism] ?? (nil, nil, nil)
        let specification = CaseSpecification(mechanism: mechanism, seed: seed, feeder: feeder ?? defaults.feeder,
                                              prosumers: prosumers ?? defaults.prosumers, periods: periods ?? defaults.periods)
        let start = monotonicSeconds()
        let problem = Service.generateCase(specification.json)
        try failIfError(problem)
        let generated = monotonicSeconds()
        let reply = Service.clear(problem.json)
        try failIfError(reply)
        let cleared = monotonicSeconds()
        guard let result = JSONValue.parse(reply.json), let input = JSONValue.parse(problem.json) else {
            throw ExitStatus.internalError.exitCode
        }
        print(Demo.describe(input, mechanism: mechanism, seed: seed))
        print(Summary.render(result: result, problem: input))
        print("  " + padded("wall time", Summary.labelWidth - 2) + " generate \(formatFixed(generated - start, digits: 3)) s, clear \(formatFixed(cleared - generated, digits: 3)) s")
        if result["status"]?.string != "solved" { throw ExitStatus.notSolved.exitCode }
    }

    /// What the generated case is: feeder, sizes, tariff, limits.
    static func describe(_ problem: JSONValue, mechanism: String, seed: Int) -> String {
        var lines: [String] = []
        func row(_ label: String, _ value: String) { lines.append("  " + padded(label, Summary.labelWidth - 2) + " " + value) }
        let network = problem["network"]
        let feeder = network?["builtin"]?.string ?? network?["name"]?.string ?? (network == nil ? "no network" : "custom network")
        let people = problem["prosumers"]?.elements.count ?? 0
        let communities = problem["communities"]?.elements.count ?? 0
        let periods = (problem["periods"]?.number).flatMap { Int(exactly: $0.rounded()) } ?? 1
        lines.append("esmarket demo: \(mechanism) on a generated case (seed \(seed))")
        row("feeder", feeder)
        row("prosumers", "\(people)" + (communities > 0 ? " in \(communities) communities" : ""))
        if periods > 1 {
            let hours = problem["periodHours"]?.number ?? 1
            row("periods", "\(periods) of \(formatNumber(hours * 60)) min")
        }
        let grid = problem["grid"]
        let tariff: [(String, String)] = [
            ("buyPrice", "prosumers pay the grid per kWh imported"),
            ("sellPrice", "the grid pays prosumers per kWh exported"),
            ("substationPrice", "the operator pays per kWh at the substation"),
            ("priceSlope", "the import price rises by this per kW of total draw"),
        ]
        for (key, meaning) in tariff {
            guard let value = grid?[key] else { continue }
            let text = Summary.valueText(value, key: key == "priceSlope" ? "" : key)
            row("grid \(key)", "\(text)\(key == "priceSlope" ? " per kWh per kW" : "") (\(meaning))")
        }
        if let low = network?["vMinPu"]?.number {
            var text = "vMinPu \(formatNumber(low)) pu"
            if let high = network?["vMaxPu"]?.number { text += ", vMaxPu \(formatNumber(high)) pu" }
            if mechanism == "two_layer_voltage" {
                text += " (the generator puts the floor halfway between the lowest AC voltage without a floor and with local generation at its most valuable, so that it binds)"
            }
            row("voltage limits", text)
        }
        return lines.joined(separator: "\n")
    }
}
