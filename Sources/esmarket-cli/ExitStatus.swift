// The tool's exit codes. The error classes take the numbers of the C API's return codes
// (esmarket.h), so a script reads them the same way; the others follow sysexits.h.
import ArgumentParser
import ESMGrid
import ESMJSON

enum ExitStatus: Int32, CaseIterable {
    case ok = 0
    case invalidJSON = 1
    case invalidInput = 2
    case unsupported = 3
    case internalError = 4
    /// A result document was written, but its status is not `solved`.
    case notSolved = 10
    /// Bad command line (swift-argument-parser's own code for it).
    case usage = 64
    /// A file could not be read or written.
    case io = 74

    init(_ code: InputError.Code) {
        switch code {
        case .invalidJSON: self = .invalidJSON
        case .invalidInput: self = .invalidInput
        case .unsupported: self = .unsupported
        case .internalError: self = .internalError
        }
    }

    var exitCode: ExitCode { ExitCode(rawValue) }

    var meaning: String {
        switch self {
        case .ok: return "success (clear: the result's status is \"solved\")"
        case .invalidJSON: return "invalid_json: the document is not valid JSON"
        case .invalidInput: return "invalid_input: a field is missing, unknown or out of range"
        case .unsupported: return "unsupported: a mechanism, algorithm or feature that is not implemented"
        case .internalError: return "internal: a bug in esmarket (please report it)"
        case .notSolved: return "the result was written but its status is not \"solved\" (infeasible, time_limit, ...)"
        case .usage: return "usage: unknown option, missing or malformed argument"
        case .io: return "a file could not be read or written (the message gives the system's reason)"
        }
    }

    /// The table printed by `esmarket --help` (README's "Command line" section repeats it).
    static var table: String {
        allCases.map { status in
            let code = String(status.rawValue)
            return String(repeating: " ", count: 3 - code.count) + code + "  " + status.meaning
        }.joined(separator: "\n")
    }
}

/// Prints `message` on standard error, prefixed with the tool's name.
func complain(_ message: String) {
    writeStandardError("esmarket: \(message)\n")
}

/// Prints the error document's code, path and message to stderr and exits with its class's code.
func failIfError(_ reply: Service.Reply, context: String = "") throws {
    guard let code = reply.error else { return }
    let error = JSONValue.parse(reply.json)?["error"]
    let path = error?["path"]?.string ?? "null"
    let message = error?["message"]?.string ?? reply.json
    complain("\(context)\(code.rawValue): \(message) (path: \(path))")
    throw ExitStatus(code).exitCode
}
