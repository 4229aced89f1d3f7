import ESMGrid
import ESMMarkets

/// Encodes results (api.md §3) and error documents (api.md §4).
public enum ResultEncoder {
    /// Wall-clock phases of one call, for `stats`.
    public struct Timing: Sendable {
        public var parseSeconds: Double
        public var solveSeconds: Double
        /// When the call started (monotonic clock), for `totalSeconds`.
        public var start: Double

        public init(parseSeconds: Double, solveSeconds: Double, start: Double) {
            self.parseSeconds = parseSeconds
            self.solveSeconds = solveSeconds
            self.start = start
        }
    }

    /// `columns`: every table as an object of columns (`options.output: "columns"`): `{"id":
    /// [...], "flexKW": [...]}`, a multi-period column holding one array per row.
    public static func encode(_ result: MarketResult, timing: Timing, columns: Bool = false) -> String {
        let rows = result.tables.reduce(0) { $0 + $1.table.ids.count * max(1, $1.table.columns.count) }
        var out = JSONWriter(capacity: 256 + rows * 24)
        out.raw("{")
        out.key("schema", first: true)
        out.string(ProblemDecoder.schema)
        out.key("mechanism")
        out.string(result.mechanism.rawValue)
        out.key("status")
        out.string(result.status.rawValue)
        out.key("message")
        out.string(result.message)
        if !result.diagnosis.isEmpty {
            out.key("diagnosis")
            out.raw("{")
            for (k, (name, value)) in result.diagnosis.enumerated() {
                out.key(name, first: k == 0)
                out.string(value)
            }
            out.raw("}")
        }
        for (name, value) in result.fields {
            out.key(name)
            write(value, to: &out)
        }
        if !result.objective.isEmpty {
            out.key("objective")
            write(.object(result.objective), to: &out)
        }
        for (name, table) in result.tables {
            out.key(name)
            if columns { writeColumns(table, to: &out) } else { write(table, to: &out) }
        }
        out.key("quality")
        write(.object(result.quality.map { ($0.0, .number($0.1)) }), to: &out)
        out.key("stats")
        out.raw("{")
        out.key("iterations", first: true)
        out.number(Double(result.iterations))
        out.key("algorithm")
        out.string(result.algorithm)
        out.key("parseSeconds")
        out.number(timing.parseSeconds)
        out.key("solveSeconds")
        out.number(timing.solveSeconds)
        out.key("totalSeconds")
        out.number(monotonicSeconds() - timing.start)
        out.raw("}}")
        return out.text
    }

    static func write(_ value: ResultValue, to out: inout JSONWriter) {
        switch value {
        case .number(let v): out.number(v)
        case .numbers(let vs): out.numbers(vs)
        case .text(let s): out.string(s)
        case .flag(let b): out.raw(b ? "true" : "false")
        case .null: out.raw("null")
        case .list(let items):
            out.raw("[")
            for (k, item) in items.enumerated() {
                if k > 0 { out.raw(",") }
                write(item, to: &out)
            }
            out.raw("]")
        case .object(let fields):
            out.raw("{")
            for (k, (name, item)) in fields.enumerated() {
                out.key(name, first: k == 0)
                write(item, to: &out)
            }
            out.raw("}")
        }
    }

    static func write(_ table: ResultTable, to out: inout JSONWriter) {
        let periods = max(table.periods, 1)
        out.raw("[")
        for (row, id) in table.ids.enumerated() {
            if row > 0 { out.raw(",") }
            out.raw("{")
            var first = true
            if let key = table.idKey {
                out.key(key, first: true)
                out.string(id)
                first = false
            }
            for (name, values) in table.textColumns {
                out.key(name, first: first)
                out.string(values[row])
                first = false
            }
            for (name, values) in table.flagColumns {
                out.key(name, first: first)
                out.raw(values[row] ? "true" : "false")
                first = false
            }
            for (name, values) in table.columns {
                out.key(name, first: first)
                first = false
                if periods == 1 {
                    out.number(values[row])
                } else {
                    out.numbers(values[(row * periods)..<((row + 1) * periods)])
                }
            }
            out.raw("}")
        }
        out.raw("]")
    }

    static func writeColumns(_ table: ResultTable, to out: inout JSONWriter) {
        let periods = max(table.periods, 1)
        let rows = table.ids.count
        out.raw("{")
        var first = true
        if let key = table.idKey {
            out.key(key, first: true)
            out.raw("[")
            for (row, id) in table.ids.enumerated() {
                if row > 0 { out.raw(",") }
                out.string(id)
            }
            out.raw("]")
            first = false
        }
        for (name, values) in table.textColumns {
            out.key(name, first: first)
            first = false
            out.raw("[")
            for row in 0..<min(rows, values.count) {
                if row > 0 { out.raw(",") }
                out.string(values[row])
            }
            out.raw("]")
        }
        for (name, values) in table.flagColumns {
            out.key(name, first: first)
            first = false
            out.raw("[")
            for row in 0..<min(rows, values.count) {
                if row > 0 { out.raw(",") }
                out.raw(values[row] ? "true" : "false")
            }
            out.raw("]")
        }
        for (name, values) in table.columns {
            out.key(name, first: first)
            first = false
            if periods == 1 {
                out.numbers(values[0..<min(rows, values.count)])
            } else {
                out.raw("[")
                for row in 0..<rows where (row + 1) * periods <= values.count {
                    if row > 0 { out.raw(",") }
                    out.numbers(values[(row * periods)..<((row + 1) * periods)])
                }
                out.raw("]")
            }
        }
        out.raw("}")
    }

    public static func encode(_ error: InputError) -> String {
        var out = JSONWriter()
        out.raw("{")
        out.key("schema", first: true)
        out.string(ProblemDecoder.schema)
        out.key("status")
        out.string("error")
        out.key("error")
        out.raw("{")
        out.key("code", first: true)
        out.string(error.code.rawValue)
        out.key("path")
        if let path = error.path { out.string(path) } else { out.raw("null") }
        out.key("message")
        out.string(error.message)
        out.raw("}}")
        return out.text
    }
}
