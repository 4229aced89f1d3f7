// `clear --summary` and `demo`: one readable table for the result document of any mechanism.
// It shows what the result has — it reads the document's sections and columns by their names
// (units are in the names, README "JSON contract"), not per mechanism — so a new result field
// appears without changes here. The problem document, when given, supplies the voltage limits
// and line ratings against which "binding" is judged.
import ESMGrid

struct Summary {
    static let labelWidth = 30
    /// A voltage this close to its limit (pu) is at the limit.
    static let voltageTolerance = 1e-5
    /// A shadow price larger than this (per kWh) is a binding constraint; prices are of order
    /// 0.01 … 1 per kWh, and the interior-point solver leaves duals of inactive limits near 1e-9.
    static let priceTolerance = 1e-6

    let result: JSONValue
    let problem: JSONValue?
    private(set) var text: [String] = []

    static func render(result: JSONValue, problem: JSONValue?) -> String {
        var summary = Summary(result: result, problem: problem)
        summary.build()
        return summary.text.joined(separator: "\n")
    }

    private mutating func build() {
        header()
        objective()
        prices()
        voltages()
        bindingLimits()
        prosumers()
        categories()
        section("upperLayer", title: "Upper layer (counts)")
        section("quality", title: "Quality (units in the names; others relative)", measured: true)
        others()
        timings()
    }

    /// Top-level members the sections above do not show (e.g. the conic solver's `objective`,
    /// `x`, `gap`, `nodes`; p2p_online's `lyapunov` table).
    static let shown: Set<String> = ["schema", "mechanism", "status", "message", "diagnosis", "stats", "quality",
                                     "upperLayer", "prosumers", "communities", "buses", "lines", "trades", "openLines",
                                     "switchOperations", "pricesUnique", "gridPrice", "gridDrawKW"]

    private mutating func others() {
        var rows: [(String, String)] = []
        for member in result.members where !Self.shown.contains(member.key) {
            if member.key == "objective", case .object = member.value { continue }
            switch member.value {
            case .array(let elements) where elements.contains(where: { if case .object = $0 { return true } else { return false } }):
                rows.append((member.key, "\(elements.count) rows: " + Self.columns(elements).joined(separator: ", ")))
            case .object(let members):
                rows.append((member.key, members.map { "\($0.key) \(Self.scalarText($0.value))" }.joined(separator: ", ")))
            default:
                rows.append((member.key, Self.withNote(Self.valueText(member.value, key: member.key, series: false), member.key)))
            }
        }
        guard !rows.isEmpty else { return }
        title("Other results")
        for (label, value) in rows { row(label, value) }
    }

    // MARK: lines

    private mutating func title(_ text: String) { self.text.append(text) }

    private mutating func row(_ label: String, _ value: String) {
        text.append("  " + padded(label, Self.labelWidth - 2) + " " + value)
    }

    // MARK: sections

    private mutating func header() {
        let mechanism = result["mechanism"]?.string ?? "?"
        title("esmarket result: \(mechanism)")
        row("status", result["status"]?.string ?? "?")
        if let message = result["message"]?.string, !message.isEmpty { row("message", message) }
        if let diagnosis = result["diagnosis"], !diagnosis.members.isEmpty {
            row("diagnosis", diagnosis.members.map { "\($0.key) \(Self.scalarText($0.value))" }.joined(separator: ", "))
        }
        if let stats = result["stats"] {
            var algorithm = stats["algorithm"]?.string ?? "default"
            if let iterations = stats["iterations"]?.number { algorithm += " (\(formatNumber(iterations)) iterations)" }
            row("algorithm", algorithm)
        }
        let sizes = ["prosumers", "communities", "buses", "lines", "trades"].compactMap { key -> String? in
            guard case .array(let rows) = result[key] ?? .null else { return nil }
            return "\(rows.count) \(key)"
        }
        if !sizes.isEmpty { row("size", sizes.joined(separator: ", ") + (periods > 1 ? ", \(periods) periods" : "")) }
        if let open = result["openLines"] {
            // One list of ids, or one list per period.
            let nested = open.elements.contains { if case .array = $0 { return true } else { return false } }
            let lists = (nested ? open.elements : [open]).map { period -> String in
                let ids = period.elements.compactMap(\.string)
                return ids.isEmpty ? "none" : ids.joined(separator: " ")
            }
            row("open lines", periods > 1 ? lists.enumerated().map { "period \($0.offset): \($0.element)" }.joined(separator: "; ") : lists.joined())
        }
        if let operations = result["switchOperations"]?.number { row("switch operations", formatNumber(operations)) }
        if let unique = result["pricesUnique"], case .bool(let flag) = unique { row("prices unique", "\(flag)") }
    }

    /// The number of periods: the document's `periods`, else the longest series in the result.
    private var periods: Int {
        if let count = problem?["periods"]?.number, let periods = Int(exactly: count.rounded()), periods >= 1 { return periods }
        var longest = 1
        for key in ["prosumers", "buses"] {
            for row in result[key]?.elements.prefix(1) ?? [] {
                for member in row.members { if case .array(let values) = member.value { longest = max(longest, values.count) } }
            }
        }
        return longest
    }

    private mutating func objective() {
        guard let objective = result["objective"], !objective.members.isEmpty else { return }
        let hours = problem?["periodHours"]?.number ?? 1
        let horizon = periods > 1 ? "\(periods) periods of \(formatNumber(hours)) h" : "one period of \(formatNumber(hours)) h"
        title("Objective (costs in currency units over \(horizon); power in kW)")
        for member in objective.members { row(member.key, Self.withNote(Self.valueText(member.value, key: member.key), member.key)) }
        for key in ["gridDrawKW"] { if let value = result[key] { row(key, Self.valueText(value, key: key)) } }
    }

    private mutating func prices() {
        var rows: [(String, String)] = []
        if let grid = result["gridPrice"] { rows.append(("gridPrice", Self.valueText(grid, key: "gridPrice"))) }
        for table in ["communities", "buses", "trades"] {
            let entries = result[table]?.elements ?? []
            for column in Self.columns(entries) where Self.isPrice(column) {
                if let range = Self.extremes(entries, column: column) {
                    rows.append(("\(table).\(column)", range.text(unit: "per kWh", place: table == "buses" ? "bus " : "")))
                }
            }
        }
        guard !rows.isEmpty else { return }
        title("Prices (currency per kWh; min … max, where)")
        for (label, value) in rows { row(label, value) }
    }

    /// vMinPu/vMaxPu of the problem's network (a built-in feeder's own unless the document sets them).
    private var voltageLimits: (low: Double, high: Double)? {
        guard let network = resolvedNetwork, let low = network["vMinPu"]?.number, let high = network["vMaxPu"]?.number else { return nil }
        return (low, high)
    }

    /// The problem's network with a built-in feeder's data under the document's own keys.
    private var resolvedNetwork: JSONValue? {
        guard let network = problem?["network"], case .object(let given) = network else { return nil }
        guard let name = network["builtin"]?.string, let feeder = BuiltinFeeder(rawValue: name),
              case .object(let builtin)? = JSONValue.parse(feeder.json) else { return network }
        let overridden = Set(given.map(\.key))
        return .object(builtin.filter { !overridden.contains($0.key) } + given)
    }

    private mutating func voltages() {
        let buses = result["buses"]?.elements ?? []
        let columns = Self.columns(buses).filter { $0.hasSuffix("Pu") }
        let quality = result["quality"]
        guard !columns.isEmpty || quality?["acVoltageMinPu"] != nil else { return }
        title("Voltages (pu)")
        if let limits = voltageLimits { row("limits", "\(formatNumber(limits.low)) … \(formatNumber(limits.high)) pu") }
        for column in columns {
            if let range = Self.extremes(buses, column: column) { row("buses.\(column)", range.text(unit: "pu", place: "bus ")) }
        }
        if let low = quality?["acVoltageMinPu"]?.number, let high = quality?["acVoltageMaxPu"]?.number {
            row("AC power flow", "\(formatNumber(low)) … \(formatNumber(high)) pu")
        }
    }

    private mutating func bindingLimits() {
        var found: [(String, String)] = []
        let buses = result["buses"]?.elements ?? []
        // Without a network table there is nothing that could bind (or no answer to judge).
        guard !buses.isEmpty || !(result["lines"]?.elements ?? []).isEmpty else { return }
        // Voltages at their limits, judged on the AC power flow when the result has it.
        let column = Self.columns(buses).contains("vAcPu") ? "vAcPu" : "vPu"
        if let limits = voltageLimits, Self.columns(buses).contains(column) {
            for (name, limit, atLimit) in [("vMinPu", limits.low, { (v: Double) in v <= limits.low + Self.voltageTolerance }),
                                           ("vMaxPu", limits.high, { (v: Double) in v >= limits.high - Self.voltageTolerance })] {
                let hits = Self.cells(buses, column: column).filter { atLimit($0.value) }
                guard !hits.isEmpty else { continue }
                let listed = hits.prefix(4).map { "bus \($0.where) (\(column) \(cFormat("%.6f", $0.value)))" }
                let more = hits.count > 4 ? " and \(hits.count - 4) more" : ""
                found.append(("\(name) \(formatNumber(limit)) pu", "binds at " + listed.joined(separator: ", ") + more))
            }
        }
        // Lines: a nonzero limit price, a flow at its kW limit, or apparent power at the rating.
        let lines = result["lines"]?.elements ?? []
        var ratings: [String: Double] = [:]
        for line in resolvedNetwork?["lines"]?.elements ?? [] {
            if let id = line["id"]?.string, let rate = line["rateKVA"]?.number { ratings[id] = rate }
        }
        var lineHits: [String] = []
        for line in lines {
            let id = line["id"]?.string ?? "?"
            let p = line["pKW"]?.numbers ?? [], q = line["qKVAr"]?.numbers ?? []
            var reasons: [String] = []
            for key in ["congestionPrice", "ratingPrice"] {
                let values = line[key]?.numbers ?? []
                if let worst = values.max(by: { abs($0) < abs($1) }), abs(worst) > Self.priceTolerance {
                    reasons.append("\(key) \(formatNumber(worst)) per kWh")
                }
            }
            if let limit = line["limitKW"]?.number, limit >= 0, let flow = p.map(abs).max(), flow >= limit * (1 - 1e-6) {
                reasons.append("|pKW| \(formatNumber(flow)) kW at limitKW \(formatNumber(limit)) kW")
            }
            if let rate = ratings[id] {
                let apparent = p.indices.map { (p[$0] * p[$0] + ($0 < q.count ? q[$0] * q[$0] : 0)).squareRoot() }.max() ?? 0
                if apparent >= rate * (1 - 1e-5) { reasons.append("\(formatNumber(apparent)) kVA at rateKVA \(formatNumber(rate)) kVA") }
            }
            if !reasons.isEmpty { lineHits.append(id); found.append(("line \(id)", reasons.joined(separator: "; "))) }
        }
        // Bus price parts that only a binding network limit makes nonzero.
        for key in ["priceCongestion", "priceVoltage", "networkAdder"] {
            let nonzero = Self.cells(buses, column: key).filter { abs($0.value) > Self.priceTolerance }
            guard let worst = nonzero.max(by: { abs($0.value) < abs($1.value) }) else { continue }
            let buses = Set(nonzero.map { $0.where.split(separator: " ").first.map(String.init) ?? $0.where })
            found.append(("buses.\(key)", "nonzero at \(buses.count) buses, largest \(formatNumber(worst.value)) per kWh at bus \(worst.where)"))
        }
        title("Binding limits")
        if found.isEmpty {
            row("none", "no voltage at its limit, no line at its rating, no nonzero limit price")
        } else {
            for (label, value) in found { row(label, value) }
        }
    }

    private mutating func prosumers() {
        let people = result["prosumers"]?.elements ?? []
        guard !people.isEmpty else { return }
        let columns = Self.columns(people).filter { Self.unit(of: $0) == "kW" || Self.unit(of: $0) == "currency" }
        guard !columns.isEmpty else { return }
        title("Prosumers (sums over prosumers\(periods > 1 ? " and periods" : ""))")
        for column in columns {
            let total = people.reduce(0.0) { $0 + ($1[column]?.numbers.reduce(0, +) ?? 0) }
            let unit = Self.unit(of: column)
            row("Σ \(column)", "\(formatNumber(total)) \(unit == "kW" && periods > 1 ? "kW·periods" : unit)")
        }
    }

    /// Text columns of the communities (route, mode): how many of each.
    private mutating func categories() {
        let communities = result["communities"]?.elements ?? []
        var rows: [(String, String)] = []
        for column in Self.columns(communities) where column != "id" && column != "bus" {
            let values = communities.compactMap { $0[column]?.string }
            guard !values.isEmpty else { continue }
            var counts: [String: Int] = [:]
            for value in values { counts[value, default: 0] += 1 }
            rows.append(("communities.\(column)",
                         Self.withNote(counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "), column)))
        }
        guard !rows.isEmpty else { return }
        title("Communities")
        for (label, value) in rows { row(label, value) }
    }

    /// What the less obvious result fields mean (README "JSON contract"), shown after their value.
    static let notes: [String: String] = [
        "route": "how a community's cost of injection enters the upper problem: convex as it is, its convex envelope (exact at the optimum), or with binaries (misocp)",
        "pieces": "pieces of the communities' best-response tables",
        "binaries": "binary variables of the upper problem",
        "nodes": "branch-and-bound nodes",
        "withBinaries": "communities entered with binaries",
        "withoutBinaries": "communities entered as convex curves",
        "embeddingErrorMax": "tables embedded vs equilibria re-solved, relative",
        "relaxationGapMax": "SOC relaxation gap",
        "relaxationExact": "1: the AC power flow meets the relaxation",
        "acVoltageErrorMaxPu": "SOC relaxation vs AC power flow",
        "recoverySolves": "convex solves beyond the first",
        "equilibriumResidual": "0 at an equilibrium",
        "efficiencyGap": "(two-layer - optimum) / optimum",
    ]

    static func withNote(_ text: String, _ key: String) -> String {
        guard let note = notes[key] else { return text }
        return text + " (" + note + ")"
    }

    /// `measured`: residuals and errors keep their small values (1.8e-11 says how exact, not 0).
    private mutating func section(_ key: String, title heading: String, measured: Bool = false) {
        guard let members = result[key]?.members, !members.isEmpty else { return }
        title(heading)
        for member in members {
            if measured, let value = member.value.number {
                let unit = Self.unit(of: member.key)
                row(member.key, Self.withNote(cFormat("%.6g", value) + (unit.isEmpty ? "" : " " + unit), member.key))
            } else {
                row(member.key, Self.withNote(Self.valueText(member.value, key: member.key), member.key))
            }
        }
    }

    private mutating func timings() {
        guard let stats = result["stats"] else { return }
        let members = stats.members.filter { $0.key.hasSuffix("Seconds") }
        guard !members.isEmpty else { return }
        title("Timings (s)")
        for member in members { row(member.key, Self.valueText(member.value, key: member.key)) }
    }

    // MARK: helpers

    /// The unit a field's name carries (README "JSON contract": units are in the names).
    static func unit(of key: String) -> String {
        if key.hasSuffix("KWh") { return "kWh" }
        if key.hasSuffix("KW") { return "kW" }
        if key.hasSuffix("KVAr") { return "kVAr" }
        if key.hasSuffix("KVA") { return "kVA" }
        if key.hasSuffix("Pu") { return "pu" }
        if key.hasSuffix("Deg") { return "deg" }
        if key.hasSuffix("Seconds") { return "s" }
        if isPrice(key) { return "per kWh" }
        let lower = key.lowercased()
        if lower.hasSuffix("cost") || lower.hasSuffix("surplus") || lower == "potential" || lower == "payment"
            || lower == "tradepayment" { return "currency" }
        return ""
    }

    static func isPrice(_ key: String) -> Bool {
        key == "price" || key.hasPrefix("price") || key.hasSuffix("Price") || key == "networkAdder" || key == "intercept"
    }

    static func scalarText(_ value: JSONValue) -> String {
        switch value {
        case .number(let number): return formatNumber(number)
        case .string(let text): return text
        case .bool(let flag): return "\(flag)"
        case .null: return "null"
        default: return "…"
        }
    }

    /// A number with its unit, or a per-period series: its values, or its range and total.
    static func valueText(_ value: JSONValue, key: String, series: Bool = true) -> String {
        let unit = unit(of: key)
        let suffix = unit.isEmpty ? "" : " " + unit
        switch value {
        case .number(let number): return formatNumber(number) + suffix
        case .array(let elements):
            let values = elements.compactMap(\.number)
            guard values.count == elements.count, !values.isEmpty else { return "\(elements.count) values" }
            if values.count <= 6 { return "[" + values.map(formatNumber).joined(separator: ", ") + "]" + suffix + (series ? " per period" : "") }
            let low = values.indices.min { values[$0] < values[$1] } ?? 0
            let high = values.indices.max { values[$0] < values[$1] } ?? 0
            let name = series ? "period" : "index"
            var text = "min \(formatNumber(values[low]))\(suffix) (\(name) \(low)) … max \(formatNumber(values[high]))\(suffix) (\(name) \(high)), \(values.count) \(series ? "periods" : "values")"
            if unit == "currency" { text += ", total \(formatNumber(values.reduce(0, +)))\(suffix)" }
            return text
        default: return scalarText(value)
        }
    }

    /// Column names of a table in the order they first appear.
    static func columns(_ rows: [JSONValue]) -> [String] {
        var seen = Set<String>(), names: [String] = []
        for row in rows.prefix(50) { for member in row.members where seen.insert(member.key).inserted { names.append(member.key) } }
        return names
    }

    /// Every number of a column: its row's name (and the period when the cell is a series).
    static func cells(_ rows: [JSONValue], column: String) -> [(value: Double, where: String)] {
        var out: [(value: Double, where: String)] = []
        for row in rows {
            let name: String
            if let id = row["id"]?.string { name = id }
            else if let from = row["from"]?.string, let to = row["to"]?.string { name = "\(from)→\(to)" }
            else { name = "?" }
            switch row[column] {
            case .number(let value)?: out.append((value, name))
            case .array(let values)?:
                for (t, value) in values.enumerated() { if let number = value.number { out.append((number, "\(name) period \(t)")) } }
            default: break
            }
        }
        return out
    }

    struct Extremes {
        var low: (value: Double, where: String)
        var high: (value: Double, where: String)

        func text(unit: String, place: String) -> String {
            if formatNumber(low.value) == formatNumber(high.value) { return "all \(formatNumber(low.value)) \(unit)" }
            return "min \(formatNumber(low.value)) (\(place)\(low.where)) … max \(formatNumber(high.value)) (\(place)\(high.where)) \(unit)"
        }
    }

    static func extremes(_ rows: [JSONValue], column: String) -> Extremes? {
        let all = cells(rows, column: column)
        guard let low = all.min(by: { $0.value < $1.value }), let high = all.max(by: { $0.value < $1.value }) else { return nil }
        return Extremes(low: low, high: high)
    }
}
