/// An error caused by the caller's input, reported with the JSON path of the offending field
/// (api.md §4). Every check reachable from the C API throws this instead of trapping.
public struct InputError: Error, Sendable, Equatable {
    public enum Code: String, Sendable {
        case invalidJSON = "invalid_json"
        case invalidInput = "invalid_input"
        case unsupported = "unsupported"
        case internalError = "internal"
    }

    public var code: Code
    /// JSON path such as `prosumers[3].flex.maxKW`; nil for `invalid_json`.
    public var path: String?
    public var message: String

    public init(_ code: Code, path: String?, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public static func invalid(_ path: String, _ message: String) -> InputError {
        InputError(.invalidInput, path: path, message)
    }

    public static func unsupported(_ path: String, _ message: String) -> InputError {
        InputError(.unsupported, path: path, message)
    }
}

/// Renders a number the way a person wrote it, for error messages ("maxKW (2) is below minKW (3)").
public func describeNumber(_ v: Double) -> String {
    if v.isFinite, v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    return "\(v)"
}
