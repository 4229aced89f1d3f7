import ESMGrid
import ESMMarkets

/// What the C API and the command-line tool call: JSON text in, JSON text out, never a trap.
public enum Service {
    public struct Reply: Sendable {
        /// nil when a result document was produced.
        public var error: InputError.Code?
        public var json: String

        public init(error: InputError.Code?, json: String) {
            self.error = error
            self.json = json
        }

        /// The error document of `failure`.
        public init(_ failure: InputError) {
            self.init(error: failure.code, json: ResultEncoder.encode(failure))
        }
    }

    /// Decodes, clears and encodes one problem document.
    public static func clear(_ text: UnsafeBufferPointer<UInt8>, control: SolveControl = SolveControl()) -> Reply {
        let start = monotonicSeconds()
        do {
            let problem = try ProblemDecoder.decode(text)
            let parsed = monotonicSeconds()
            var control = control
            if let limit = problem.options.timeLimitSeconds { control.deadline = start + limit }
            let result = try clearMarket(problem, control: control)
            let solved = monotonicSeconds()
            let timing = ResultEncoder.Timing(parseSeconds: parsed - start, solveSeconds: solved - parsed, start: start)
            return Reply(error: nil, json: ResultEncoder.encode(result, timing: timing, columns: problem.options.columnOutput))
        } catch let error as InputError {
            return Reply(error: error.code, json: ResultEncoder.encode(error))
        } catch {
            let internalError = InputError(.internalError, path: nil, "unexpected error: \(error)")
            return Reply(error: .internalError, json: ResultEncoder.encode(internalError))
        }
    }

    public static func clear(_ text: String, control: SolveControl = SolveControl()) -> Reply {
        var copy = text
        return copy.withUTF8 { clear($0, control: control) }
    }

    /// Generates a problem document from a case specification (see `CaseGenerator`).
    public static func generateCase(_ text: UnsafeBufferPointer<UInt8>) -> Reply {
        do {
            return Reply(error: nil, json: try CaseGenerator.generate(specification: text))
        } catch let error as InputError {
            return Reply(error: error.code, json: ResultEncoder.encode(error))
        } catch {
            let internalError = InputError(.internalError, path: nil, "unexpected error: \(error)")
            return Reply(error: .internalError, json: ResultEncoder.encode(internalError))
        }
    }

    public static func generateCase(_ text: String) -> Reply {
        var copy = text
        return copy.withUTF8 { generateCase($0) }
    }
}
