// `esmarket clear`: one problem document in, its result document out.
import ArgumentParser
import ESMJSON
import ESMMarkets

struct Clear: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Clear a problem document (JSON) and print the result.",
        discussion: """
        --algorithm, --time-limit, --threads and --tolerance set options.algorithm, \
        options.timeLimitSeconds, options.threads and options.tolerance of the document (a flag \
        replaces the document's value; the library checks it like any document value). Algorithms: \
        \(Mechanism.allCases.map { "\($0.rawValue): \($0.algorithms.joined(separator: ", "))" }.joined(separator: "; ")) \
        (the first is the default).
        With --summary the readable table goes to standard output and the result document only to --output.
        Exit code 10 means the result was written but its status is not "solved" (see esmarket --help).
        """)

    @Argument(help: "Problem document (JSON file, or - for standard input).")
    var problem: String

    @Option(name: .shortAndLong, help: "Write the result here instead of standard output.")
    var output: String?

    @Option(help: "options.algorithm: the mechanism's clearing route (see below).")
    var algorithm: String?

    @Option(name: .customLong("time-limit"), help: "options.timeLimitSeconds: wall-time limit in seconds.")
    var timeLimit: Double?

    @Option(help: "options.threads: worker threads (1 … 1024).")
    var threads: Int?

    @Option(help: "options.tolerance: solver tolerance, in (0, 1).")
    var tolerance: Double?

    @Flag(help: "Show the solve's progress events as a live line on standard error.")
    var progress = false

    @Flag(help: "Print a readable summary (status, costs, prices, voltages, binding limits, timings) instead of the JSON.")
    var summary = false

    @Flag(help: "Indent the result document.")
    var pretty = false

    @Option(help: "Replay a sequence of update documents (JSON Lines file, or - for standard input) through a session of the problem; prints each step's result as one line (README \"Sessions\").")
    var updates: String?

    @Flag(name: .customLong("print-problem"),
          help: "Print the problem document as the library would read it (the option flags written in) and stop without clearing.")
    var printProblem = false

    func validate() throws {
        if let timeLimit, !timeLimit.isFinite { throw ValidationError("--time-limit must be a finite number of seconds") }
        if let tolerance, !tolerance.isFinite { throw ValidationError("--tolerance must be a finite number") }
    }

    var overrides: OptionOverrides {
        var overrides = OptionOverrides()
        if let algorithm { overrides.set("algorithm", .string(algorithm)) }
        if let timeLimit { overrides.set("timeLimitSeconds", .number(timeLimit)) }
        if let threads { overrides.set("threads", .integer(threads)) }
        if let tolerance { overrides.set("tolerance", .number(tolerance)) }
        return overrides
    }

    func run() throws {
        let document = overrides.apply(to: try readInput(problem))
        if printProblem { return try writeOutput(pretty ? prettyJSON(document) : document, to: output) }
        var control = SolveControl()
        let line = progress ? ProgressLine() : nil
        if let line { control.observer = { line.observe($0) } }
        if let updates { return try replay(document, updates: updates, control: control, line: line) }
        // The entry point esm_clear_with_progress calls.
        let reply = Service.clear(document, control: control)
        line?.finish()
        try failIfError(reply)
        let result = JSONValue.parse(reply.json)
        if summary {
            if let output { try writeOutput(pretty ? prettyJSON(reply.json) : reply.json, to: output) }
            guard let result else { throw ExitStatus.internalError.exitCode }
            try writeOutput(Summary.render(result: result, problem: JSONValue.parse(document)), to: nil)
        } else {
            try writeOutput(pretty ? prettyJSON(reply.json) : reply.json, to: output)
        }
        if result?["status"]?.string != "solved" { throw ExitStatus.notSolved.exitCode }
    }

    /// `--updates`: a session of the problem stepped once per non-empty line; the results as JSON
    /// Lines, in order. A line that fails stops the replay with its line number (the results so
    /// far are written first).
    func replay(_ document: String, updates: String, control: SolveControl, line: ProgressLine?) throws {
        let (opened, failure) = Sessions.open(document)
        if let failure { try failIfError(failure) }
        guard let session = opened else { throw ExitStatus.internalError.exitCode }
        var results: [String] = []
        var allSolved = true
        var stopped: Service.Reply?
        var stoppedAt = 0
        for (k, text) in try readInput(updates).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var update = String(text)
            if update.allSatisfy(\.isWhitespace) { continue }
            let reply = update.withUTF8 { session.step($0, control: control) }
            if reply.error != nil { stopped = reply; stoppedAt = k + 1; break }
            results.append(pretty ? prettyJSON(reply.json) : reply.json)
            if JSONValue.parse(reply.json)?["status"]?.string != "solved" { allSolved = false }
        }
        line?.finish()
        if !results.isEmpty { try writeOutput(results.joined(separator: "\n"), to: output) }
        if let stopped { try failIfError(stopped, context: "updates line \(stoppedAt): ") }
        if !allSolved { throw ExitStatus.notSolved.exitCode }
    }
}
