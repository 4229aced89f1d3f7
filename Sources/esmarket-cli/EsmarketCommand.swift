// The `esmarket` command-line tool: clear a problem file, generate a case, run the demo, or print
// the contract's JSON Schema.
import ArgumentParser
import esmarket

@main
struct EsmarketCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "esmarket",
        abstract: "Market clearing for energy sharing among prosumers in distribution grids.",
        discussion: """
        Documents are JSON (schema \(String(cString: esm_schema()))); errors print their code, JSON path and message on \
        standard error.

        Exit codes:
        \(ExitStatus.table)
        """,
        // The library's version (esm_version, Sources/esmarket/CAPI.swift): the one place it is written.
        version: String(cString: esm_version()),
        subcommands: [Clear.self, Generate.self, Demo.self, Schema.self]
    )
}
