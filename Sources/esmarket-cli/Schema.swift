// `esmarket schema NAME`: the contract's JSON Schema, compiled into the library
// (ESMJSON.ContractSchema), so a user without the repository can validate documents.
import ArgumentParser
import ESMJSON

struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the JSON Schema (draft 2020-12) of the problem or the result document.",
        discussion: "The text is schema/<name>.schema.json of the library's source, byte for byte.")

    @Argument(help: "Which schema: \(ContractSchema.names.joined(separator: ", ")).")
    var name: String

    @Option(name: .shortAndLong, help: "Write the schema here instead of standard output.")
    var output: String?

    func validate() throws {
        if ContractSchema.text(named: name) == nil {
            throw ValidationError("no schema \"\(name)\"; the schemas are \(ContractSchema.names.joined(separator: ", "))")
        }
    }

    func run() throws {
        guard let text = ContractSchema.text(named: name) else { throw ExitStatus.usage.exitCode }
        // writeOutput ends the text with a newline; the file already has its own.
        try writeOutput(text.hasSuffix("\n") ? String(text.dropLast()) : text, to: output)
    }
}
