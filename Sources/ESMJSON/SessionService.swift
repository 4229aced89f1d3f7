import CJSONC
import ESMGrid
import ESMMarkets

/// What `esm_session_*` drive (README "Sessions"): a session of any mechanism. Steps of a
/// `p2p_online` session clear its next slot; steps of any other mechanism's session take an
/// update document and clear the updated market.
public protocol ClearingSession: AnyObject {
    func step(_ text: UnsafeBufferPointer<UInt8>, control: SolveControl) -> Service.Reply
    /// A document `Sessions.open` resumes from, with bit-identical steps.
    func state() -> String
}

public enum Sessions {
    /// A session from a problem document of any mechanism, or from a `p2p_online` state document.
    public static func open(_ text: UnsafeBufferPointer<UInt8>) -> (ClearingSession?, Service.Reply?) {
        do {
            let document = try JSONDocument.parse(text)
            let session = try document.withRoot { root -> ClearingSession in
                guard root.type == json_type_object else { throw root.expected("an object") }
                let probe = try root.object(allowing: OnlineSessionBox.openingKeys)
                if probe.has("session") { return try OnlineSessionBox.resume(root) }
                let problem = try ProblemDecoder.decode(root)
                if problem.mechanism == .p2pOnline {
                    return try OnlineSessionBox.start(problem, configText: String(decoding: text, as: UTF8.self))
                }
                return MarketSession(document: document, root: root.raw, problem: problem)
            }
            return (session, nil)
        } catch let error as InputError {
            return (nil, Service.Reply(error))
        } catch {
            return (nil, Service.Reply(InputError(.internalError, path: nil, "unexpected error: \(error)")))
        }
    }

    public static func open(_ text: String) -> (ClearingSession?, Service.Reply?) {
        var copy = text
        return copy.withUTF8 { open($0) }
    }
}

/// An online session behind the C API (`esm_session_*`, README "Sessions"): the configuration's
/// text (kept for `state`), the `p2p_online` session value and nothing else. A step that fails
/// leaves it unchanged. Not synchronized: one thread at a time per session (include/esmarket.h).
public final class OnlineSessionBox: ClearingSession {
    private(set) var session: OnlineSession
    let configText: String

    init(session: OnlineSession, configText: String) {
        self.session = session
        self.configText = configText
    }

    /// A session from a configuration (a `p2p_online` problem document) or from a state document
    /// (`state()`'s output: `{"schema", "session": "p2p_online", "slot", "socKWh", "config"}`).
    public static func open(_ text: UnsafeBufferPointer<UInt8>) -> (OnlineSessionBox?, Service.Reply?) {
        do {
            let document = try JSONDocument.parse(text)
            let box = try document.withRoot { root -> OnlineSessionBox in
                guard root.type == json_type_object else { throw root.expected("an object") }
                let probe = try root.object(allowing: openingKeys)
                if probe.has("session") { return try resume(root) }
                let problem = try ProblemDecoder.decode(root)
                return try start(problem, configText: String(decoding: text, as: UTF8.self))
            }
            return (box, nil)
        } catch let error as InputError {
            return (nil, Service.Reply(error))
        } catch {
            return (nil, Service.Reply(InputError(.internalError, path: nil, "unexpected error: \(error)")))
        }
    }

    public static func open(_ text: String) -> (OnlineSessionBox?, Service.Reply?) {
        var copy = text
        return copy.withUTF8 { open($0) }
    }

    static let openingKeys: [StaticString] = ["schema", "mechanism", "network", "grid", "communities", "prosumers",
                                              "periods", "periodHours", "options", "conic", "session", "slot",
                                              "socKWh", "queueKWh", "config"]

    static func start(_ problem: Problem, configText: String) throws -> OnlineSessionBox {
        guard problem.mechanism == .p2pOnline else {
            throw InputError.unsupported("mechanism", "sessions run mechanism \"p2p_online\" in this version, not \"\(problem.mechanism.rawValue)\"")
        }
        if problem.algorithm != "centralized" {
            throw InputError.unsupported("options.algorithm", "sessions run p2p_online's \"centralized\" route in this version (the state document does not carry the ADMM route's warm start yet); \"admm\" runs through esm_clear")
        }
        return OnlineSessionBox(session: OnlineSession(try OnlineSetup(problem)), configText: configText)
    }

    static func resume(_ root: JSONNode) throws -> OnlineSessionBox {
        let object = try root.object(allowing: ["schema", "session", "slot", "socKWh", "queueKWh", "config"])
        let schemaName = try object.require("schema").string()
        guard schemaName == ProblemDecoder.schema else {
            throw InputError.invalid("schema", "schema \"\(schemaName)\" is not supported; this library reads \"\(ProblemDecoder.schema)\"")
        }
        _ = try object.require("session").oneOf(["p2p_online"])
        let slot = try object.require("slot").integer(min: 0, max: 1_000_000_000)
        let socNode = try object.require("socKWh")
        let soc = try socNode.array().map { try $0.number(min: 0, max: Limits.power) }
        let configText = try object.require("config").string()
        let problem: Problem
        do {
            problem = try ProblemDecoder.decode(configText)
        } catch let error as InputError {
            // The configuration is a string inside the state: name it.
            throw InputError(error.code, path: "config" + (error.path.map { $0.isEmpty ? "" : ": " + $0 } ?? ""), error.message)
        }
        let fresh = try start(problem, configText: configText)
        let session = try OnlineSession(fresh.session.setup, slot: slot, socKWh: soc)
        return OnlineSessionBox(session: session, configText: configText)
    }

    /// Clears the next slot from a period document `{"pvKW": [...], "loadKW": [...], "buyPrice",
    /// "sellPrice"}` (each optional: the configuration's value at this slot, the last period's past
    /// its horizon). The state advances only on a solved slot.
    public func step(_ text: UnsafeBufferPointer<UInt8>, control: SolveControl = SolveControl()) -> Service.Reply {
        let start = monotonicSeconds()
        do {
            let input = try JSONDocument.parse(text).withRoot { try decodePeriod($0) }
            let parsed = monotonicSeconds()
            var trial = session
            let slot = trial.slot
            let outcome = try trial.step(pvKW: input.pv, loadKW: input.load, buyPrice: input.buy, sellPrice: input.sell,
                                         control: control)
            var result = MarketResult(mechanism: .p2pOnline, status: ResultStatus(outcome.status).forMarket, algorithm: "centralized")
            result.iterations = outcome.iterations
            result.fields.append(("slot", .number(Double(slot))))
            if outcome.status.hasSolution {
                OnlineResult.fill(&result, setup: session.setup, outcomes: [outcome])
                session = trial
            } else {
                result.message = "slot \(slot): the solver ended with \(outcome.status.rawValue): \(outcome.message); the session is unchanged"
                result.diagnosis = [("period", "\(slot)")]
            }
            let solved = monotonicSeconds()
            let timing = ResultEncoder.Timing(parseSeconds: parsed - start, solveSeconds: solved - parsed, start: start)
            return Service.Reply(error: nil, json: ResultEncoder.encode(result, timing: timing))
        } catch let error as InputError {
            return Service.Reply(error)
        } catch {
            return Service.Reply(InputError(.internalError, path: nil, "unexpected error: \(error)"))
        }
    }

    public func step(_ text: String) -> Service.Reply {
        var copy = text
        return copy.withUTF8 { step($0) }
    }

    private func decodePeriod(_ root: JSONNode) throws -> (pv: [Double], load: [Double], buy: Double, sell: Double) {
        let object = try root.object(allowing: ["pvKW", "loadKW", "buyPrice", "sellPrice"])
        let problem = session.setup.problem
        let t = min(session.slot, problem.periods - 1)
        let people = problem.prosumers
        func powers(_ key: StaticString, _ fallback: (Prosumer) -> Double) throws -> [Double] {
            guard let node = object[key] else { return people.map(fallback) }
            let items = try node.array()
            guard items.count == people.count else {
                throw node.fail("expected \(people.count) values (one per prosumer, in the configuration's order), got \(items.count)")
            }
            return try items.map { try $0.number(min: 0, max: Limits.power) }
        }
        let pv = try powers("pvKW") { $0.pvKW[t] }
        let load = try powers("loadKW") { $0.loadKW[t] }
        let grid = problem.grid
        let buy = try object["buyPrice"]?.number(min: 0, max: Limits.price) ?? grid?.buyPrice[t] ?? 0
        let sell = try object["sellPrice"]?.number(min: 0, max: Limits.price) ?? grid?.sellPrice[t] ?? 0
        guard buy > sell else {
            throw InputError.invalid(object.has("buyPrice") ? "buyPrice" : "sellPrice",
                                     "buyPrice (\(describeNumber(buy))) must exceed sellPrice (\(describeNumber(sell)))")
        }
        return (pv, load, buy, sell)
    }

    /// The state document: enough to re-create this session with `open` (bit-identical steps).
    public func state() -> String {
        var out = JSONWriter(capacity: configText.utf8.count + 64 + 24 * session.socKWh.count)
        out.raw("{")
        out.key("schema", first: true)
        out.string(ProblemDecoder.schema)
        out.key("session")
        out.string("p2p_online")
        out.key("slot")
        out.number(Double(session.slot))
        out.key("socKWh")
        out.numbers(session.socKWh)
        out.key("queueKWh")
        out.numbers(session.queueKWh)
        out.key("config")
        out.string(configText)
        out.raw("}")
        return out.text
    }
}
