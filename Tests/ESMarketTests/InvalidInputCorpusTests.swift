import CJSONC
import Testing
@testable import ESMJSON
import ESMGrid

// The invalid-input corpus of issue 7, beyond DecodingTests' `badInputs` (no class of that table
// is repeated here). Each entry is one class of bad input: the reply must carry the error code and
// the JSON path the contract (api.md §4) prescribes, and no number in it may be NaN or infinite.
// Documents are built from DecodingTests' helpers (sharingDocument, twoLayerDocument, feeder,
// conicDocument) so that each differs from a valid document in the one way it names.

/// A copy of DecodingTests' 3-bus `feeder` with `old` replaced by `new` (exactly once).
func feederWith(_ old: String, _ new: String) -> String {
    precondition(feeder.components(separatedBy: old).count == 2, "\(old) must occur once in the feeder")
    return feeder.replacingOccurrences(of: old, with: new)
}

/// energy_sharing's valid document with `old` replaced by `new` (exactly once).
func sharingWith(_ old: String, _ new: String) -> String {
    let document = sharingDocument()
    precondition(document.components(separatedBy: old).count == 2, "\(old) must occur once")
    return document.replacingOccurrences(of: old, with: new)
}

let validConic = #"{"q":[1],"A":{"m":1,"n":1,"colptr":[0,1],"rowval":[0],"nzval":[1]},"b":[1],"cones":[{"type":"zero","dim":1}]}"#

func conicWith(_ old: String, _ new: String) -> String {
    precondition(validConic.components(separatedBy: old).count == 2, "\(old) must occur once")
    return conicDocument(validConic.replacingOccurrences(of: old, with: new))
}

/// A valid two-period p2p_gne document (two prosumers trading, one with a battery) with `old`
/// replaced by `new` (exactly once).
func gneWith(_ old: String, _ new: String) -> String {
    let document = #"{"schema":"esmarket/1","mechanism":"p2p_gne","periods":2,"network":\#(feeder),"grid":{"priceSlope":0.001},"prosumers":[{"id":"p1","bus":"1","loadKW":[1,2],"pvKW":[3,0],"peers":["p2"],"tradeCost":0.01},{"id":"p2","bus":"2","loadKW":2,"storage":{"capacityKWh":10,"socKWh":5,"chargeMaxKW":2,"dischargeMaxKW":2,"etaCharge":0.95}}],"options":{"algorithm":"centralized"}}"#
    precondition(document.components(separatedBy: old).count == 2, "\(old) must occur once")
    return document.replacingOccurrences(of: old, with: new)
}

func nested(_ open: String, _ depth: Int, _ middle: String, _ close: String) -> String {
    String(repeating: open, count: depth) + middle + String(repeating: close, count: depth)
}

let corpus: [BadInput] = [
    // --- not JSON (invalid_json, path null) ---
    BadInput(name: "byte-order mark before the document", document: "\u{FEFF}" + sharingDocument(), code: .invalidJSON, path: nil),
    BadInput(name: "unquoted key", document: #"{schema:"esmarket/1"}"#, code: .invalidJSON, path: nil),
    BadInput(name: "trailing comma in an array", document: sharingDocument(prosumers: #"[{"id":"p1"},]"#), code: .invalidJSON, path: nil),
    BadInput(name: "number with a leading zero", document: sharingWith(#""loadKW":2,"#, #""loadKW":02,"#), code: .invalidJSON, path: nil),
    BadInput(name: "hexadecimal number", document: sharingWith(#""loadKW":2,"#, #""loadKW":0x2,"#), code: .invalidJSON, path: nil),
    BadInput(name: "number with a leading plus", document: sharingWith(#""loadKW":2,"#, #""loadKW":+2,"#), code: .invalidJSON, path: nil),
    BadInput(name: "unknown escape in a string", document: #"{"schema":"esm\x41rket/1"}"#, code: .invalidJSON, path: nil),
    BadInput(name: "two documents in one input", document: sharingDocument() + " " + sharingDocument(), code: .invalidJSON, path: nil),
    BadInput(name: "100,000 nested objects", document: nested(#"{"a":"#, 100_000, "1", "}"), code: .invalidJSON, path: nil),
    BadInput(name: "100,000 unclosed brackets", document: String(repeating: "[", count: 100_000), code: .invalidJSON, path: nil),
    BadInput(name: "513 levels: one past the nesting limit", document: sharingDocument(rest: #","extra":"# + nested("[", 512, "", "]")), code: .invalidJSON, path: nil),
    BadInput(name: "truncated UTF-8 sequence", document: "(bytes set in the test)", code: .invalidJSON, path: nil),

    // --- wrong types ---
    BadInput(name: "grid is an array", document: sharingDocument(grid: "[1,0.2]"), code: .invalidInput, path: "grid"),
    BadInput(name: "flex is a number", document: sharingDocument(prosumers: #"[{"id":"p1","flex":3}]"#), code: .invalidInput, path: "prosumers[0].flex"),
    BadInput(name: "network.lines is an object", document: twoLayerDocument(network: #"{"baseKV":4.16,"substationBus":"0","buses":[{"id":"0"},{"id":"1"}],"lines":{}}"#), code: .invalidInput, path: "network.lines"),
    BadInput(name: "communities is a string", document: sharingDocument(communities: #""c1""#), code: .invalidInput, path: "communities"),
    BadInput(name: "options is an array", document: sharingDocument(rest: #","options":[1]"#), code: .invalidInput, path: "options"),
    BadInput(name: "id is a boolean", document: sharingDocument(prosumers: #"[{"id":true}]"#), code: .invalidInput, path: "prosumers[0].id"),
    BadInput(name: "boolean field is a string", document: twoLayerDocument(network: feederWith(#""id":"L2","#, #""id":"L2","closed":"yes","#)), code: .invalidInput, path: "network.lines[1].closed"),
    BadInput(name: "number field is a boolean", document: sharingWith(#""loadKW":2,"#, #""loadKW":true,"#), code: .invalidInput, path: "prosumers[0].loadKW"),
    BadInput(name: "number field is an object", document: sharingWith(#""loadKW":2,"#, #""loadKW":{},"#), code: .invalidInput, path: "prosumers[0].loadKW"),
    BadInput(name: "integer field is fractional", document: sharingDocument(rest: #","periods":1.5"#), code: .invalidInput, path: "periods"),

    // --- missing required fields ---
    BadInput(name: "prosumer without id", document: sharingDocument(prosumers: #"[{"loadKW":1}]"#), code: .invalidInput, path: "prosumers[0].id"),
    BadInput(name: "line without from", document: twoLayerDocument(network: feederWith(#""from":"1","#, "")), code: .invalidInput, path: "network.lines[1].from"),
    BadInput(name: "bus without id", document: twoLayerDocument(network: feederWith(#"{"id":"2"}"#, "{}")), code: .invalidInput, path: "network.buses[2].id"),
    BadInput(name: "network without substationBus", document: twoLayerDocument(network: feederWith(#""substationBus":"0","#, "")), code: .invalidInput, path: "network.substationBus"),
    BadInput(name: "line without rOhm", document: twoLayerDocument(network: feederWith(#""to":"2","rOhm":0.1,"#, #""to":"2","#)), code: .invalidInput, path: "network.lines[1].rOhm"),
    BadInput(name: "conic without A", document: conicDocument(#"{"q":[1],"b":[1],"cones":[{"type":"zero","dim":1}]}"#), code: .invalidInput, path: "conic.A"),
    BadInput(name: "conic mechanism without conic", document: #"{"schema":"esmarket/1","mechanism":"conic"}"#, code: .invalidInput, path: "conic"),
    BadInput(name: "community without sensitivity", document: sharingDocument(communities: #"[{"id":"c1"}]"#), code: .invalidInput, path: "communities[0].sensitivity"),
    BadInput(name: "grid without buyPrice", document: sharingDocument(grid: #"{"sellPrice":0.1}"#), code: .invalidInput, path: "grid.buyPrice"),

    // --- negative or zero where positive is required ---
    BadInput(name: "baseKV zero", document: twoLayerDocument(network: feederWith(#""baseKV":4.16"#, #""baseKV":0"#)), code: .invalidInput, path: "network.baseKV"),
    BadInput(name: "rateKVA zero", document: twoLayerDocument(network: feederWith(#""id":"L1","#, #""id":"L1","rateKVA":0,"#)), code: .invalidInput, path: "network.lines[0].rateKVA"),
    BadInput(name: "negative costA", document: sharingWith(#""costA":0.1"#, #""costA":-0.1"#), code: .invalidInput, path: "prosumers[0].flex.costA"),
    BadInput(name: "timeLimitSeconds zero", document: sharingDocument(rest: #","options":{"timeLimitSeconds":0}"#), code: .invalidInput, path: "options.timeLimitSeconds"),
    BadInput(name: "maxIterations zero", document: sharingDocument(rest: #","options":{"maxIterations":0}"#), code: .invalidInput, path: "options.maxIterations"),
    BadInput(name: "vSubstationPu zero", document: twoLayerDocument(network: feederWith(#""baseKV":4.16,"#, #""baseKV":4.16,"vSubstationPu":0,"#)), code: .invalidInput, path: "network.vSubstationPu"),
    BadInput(name: "negative sensitivity", document: sharingDocument(communities: #"[{"id":"c1","sensitivity":-0.1}]"#), code: .invalidInput, path: "communities[0].sensitivity"),
    BadInput(name: "negative pvKW", document: sharingWith(#""loadKW":2,"#, #""loadKW":2,"pvKW":-1,"#), code: .invalidInput, path: "prosumers[0].pvKW"),
    BadInput(name: "negative sellPrice", document: sharingDocument(grid: #"{"buyPrice":1,"sellPrice":-0.1}"#), code: .invalidInput, path: "grid.sellPrice"),
    BadInput(name: "powerFactor above 1", document: sharingWith(#""loadKW":2,"#, #""loadKW":2,"powerFactor":1.5,"#), code: .invalidInput, path: "prosumers[0].powerFactor"),

    // --- ordered pairs in the wrong order: the second member is named ---
    BadInput(name: "vMinPu > vMaxPu in a full network", document: twoLayerDocument(network: feederWith(#""baseKV":4.16,"#, #""baseKV":4.16,"vMinPu":1.1,"vMaxPu":1.0,"#)), code: .invalidInput, path: "network.vMaxPu"),
    BadInput(name: "socMinKWh > socMaxKWh", document: sharingDocument(prosumers: #"[{"id":"p1","storage":{"capacityKWh":10,"socKWh":5,"socMinKWh":6,"socMaxKWh":4,"chargeMaxKW":1,"dischargeMaxKW":1}}]"#), code: .invalidInput, path: "prosumers[0].storage.socMaxKWh"),
    BadInput(name: "buyPrice < sellPrice", document: sharingDocument(grid: #"{"buyPrice":0.1,"sellPrice":0.2}"#), code: .invalidInput, path: "grid.buyPrice"),
    BadInput(name: "buyPrice <= sellPrice in one period of two", document: sharingDocument(grid: #"{"buyPrice":[1,0.1],"sellPrice":0.2}"#, rest: #","periods":2"#), code: .invalidInput, path: "grid.buyPrice[1]"),

    // --- numbers that overflow to infinity, anywhere ---
    BadInput(name: "-1e400 cost", document: sharingWith(#""costB":0.1"#, #""costB":-1e400"#), code: .invalidInput, path: "prosumers[0].flex.costB"),
    BadInput(name: "1e400 in a conic matrix", document: conicWith(#""nzval":[1]"#, #""nzval":[1e400]"#), code: .invalidInput, path: "conic.A.nzval[0]"),

    // --- the CSC arrays are read without a node per element: the element is still named ---
    BadInput(name: "a string in a conic matrix", document: conicWith(#""nzval":[1]"#, #""nzval":["1"]"#), code: .invalidInput, path: "conic.A.nzval[0]"),
    BadInput(name: "null in conic q", document: conicWith(#""q":[1]"#, #""q":[null]"#), code: .invalidInput, path: "conic.q[0]"),
    BadInput(name: "fractional conic row index", document: conicWith(#""rowval":[0]"#, #""rowval":[0.5]"#), code: .invalidInput, path: "conic.A.rowval[0]"),
    BadInput(name: "conic colptr entry past nnz", document: conicWith(#""colptr":[0,1]"#, #""colptr":[0,2]"#), code: .invalidInput, path: "conic.A.colptr[1]"),
    BadInput(name: "conic colptr not starting at 0", document: conicWith(#""colptr":[0,1]"#, #""colptr":[1,1]"#), code: .invalidInput, path: "conic.A.colptr[0]"),

    // --- duplicate ids, dangling references ---
    BadInput(name: "duplicate line id", document: twoLayerDocument(network: feederWith(#""id":"L2""#, #""id":"L1""#)), code: .invalidInput, path: "network.lines[1].id"),
    BadInput(name: "line to an unknown bus", document: twoLayerDocument(network: feederWith(#""to":"2""#, #""to":"9""#)), code: .invalidInput, path: "network.lines[1].to"),
    BadInput(name: "community at an unknown bus", document: twoLayerDocument(communities: #"[{"id":"c1","bus":"9","sensitivity":0.1}]"#), code: .invalidInput, path: "communities[0].bus"),
    BadInput(name: "unknown substation bus", document: twoLayerDocument(network: feederWith(#""substationBus":"0""#, #""substationBus":"9""#)), code: .invalidInput, path: "network.substationBus"),

    // --- network topology ---
    BadInput(name: "zero-impedance parallel line closing a loop", document: twoLayerDocument(network: feederWith(#""xOhm":0.1}]"#, #""xOhm":0.1},{"id":"L3","from":"1","to":"2","rOhm":0,"xOhm":0}]"#)), code: .invalidInput, path: "network.lines[2]"),
    BadInput(name: "every line open (all buses islanded)", document: twoLayerDocument(network: feeder.replacingOccurrences(of: #""xOhm":0.1}"#, with: #""xOhm":0.1,"closed":false}"#)), code: .invalidInput, path: "network.buses[1]"),
    BadInput(name: "network without buses", document: twoLayerDocument(network: #"{"baseKV":4.16,"substationBus":"0","buses":[],"lines":[]}"#), code: .invalidInput, path: "network.buses"),

    // --- empty and huge ---
    BadInput(name: "empty prosumer list in two_layer", document: twoLayerDocument(prosumers: "[]"), code: .invalidInput, path: "prosumers"),
    BadInput(name: "array of 1,000,000 values for 2 periods", document: sharingDocument(prosumers: #"[{"id":"p1","loadKW":["# + Array(repeating: "1", count: 1_000_000).joined(separator: ",") + "]}]", rest: #","periods":2"#), code: .invalidInput, path: "prosumers[0].loadKW"),
    BadInput(name: "conic q of 500,000 entries for 1 column", document: conicWith(#""q":[1]"#, #""q":["# + Array(repeating: "0", count: 500_000).joined(separator: ",") + "]"), code: .invalidInput, path: "conic.A.n"),
    BadInput(name: "id of 1,000,000 bytes", document: sharingDocument(prosumers: #"[{"id":""# + String(repeating: "p", count: 1_000_000) + #""}]"#), code: .invalidInput, path: "prosumers[0].id"),
    BadInput(name: "conic dimension 1e15", document: conicWith(#""m":1"#, #""m":1000000000000000"#), code: .invalidInput, path: "conic.A.m"),

    // --- conic structure ---
    BadInput(name: "conic integer index out of range", document: conicWith(#""cones":"#, #""integers":[5],"cones":"#), code: .invalidInput, path: "conic.integers[0]"),
    BadInput(name: "conic colptr decreasing", document: conicDocument(#"{"q":[1,1],"A":{"m":1,"n":2,"colptr":[0,1,0],"rowval":[0],"nzval":[1]},"b":[1],"cones":[{"type":"zero","dim":1}]}"#), code: .invalidInput, path: "conic.A.colptr[2]"),
    BadInput(name: "conic unknown cone type", document: conicWith(#""type":"zero""#, #""type":"psd""#), code: .invalidInput, path: "conic.cones[0].type"),
    BadInput(name: "conic negative dimension", document: conicDocument(#"{"q":[1],"A":{"m":-1,"n":1,"colptr":[0,0],"rowval":[],"nzval":[]},"b":[],"cones":[]}"#), code: .invalidInput, path: "conic.A.m"),
    BadInput(name: "conic repeated row in a column", document: conicDocument(#"{"q":[1],"A":{"m":2,"n":1,"colptr":[0,2],"rowval":[0,0],"nzval":[1,1]},"b":[1,1],"cones":[{"type":"zero","dim":2}]}"#), code: .invalidInput, path: "conic.A.rowval[1]"),

    // --- embedded NUL (\u0000 escapes: the C API takes NUL-terminated strings) ---
    BadInput(name: "NUL inside the mechanism name", document: #"{"schema":"esmarket/1","mechanism":"energy_sharing\u0000x"}"#, code: .invalidInput, path: "mechanism"),
    BadInput(name: "NUL inside the schema", document: #"{"schema":"esmarket/1\u0000","mechanism":"energy_sharing"}"#, code: .invalidInput, path: "schema"),
    BadInput(name: "NUL inside a bus reference", document: twoLayerDocument(communities: #"[{"id":"c1","bus":"1\u0000","sensitivity":0.1}]"#), code: .invalidInput, path: "communities[0].bus"),
    BadInput(name: "NUL inside a community reference", document: twoLayerDocument(prosumers: #"[{"id":"p1","community":"c1\u0000x","loadKW":2}]"#), code: .invalidInput, path: "prosumers[0].community"),
    // json-c cuts keys at a NUL: "loadKW\u0000x" used to be read as loadKW (fixed in JSONReader)
    BadInput(name: "NUL inside a known key", document: sharingWith(#""loadKW":2,"#, #""loadKW\u0000x":2,"#), code: .invalidInput, path: #"prosumers[0].loadKW\u0000x"#),
    BadInput(name: "NUL inside a network key", document: twoLayerDocument(network: feederWith(#""baseKV":4.16"#, #""baseKV\u0000":4.16"#)), code: .invalidInput, path: #"network.baseKV\u0000"#),

    // --- names ---
    BadInput(name: "unknown community mode", document: twoLayerDocument(communities: #"[{"id":"c1","bus":"1","sensitivity":0.1,"mode":"x"}]"#), code: .invalidInput, path: "communities[0].mode"),
    BadInput(name: "unknown network model", document: twoLayerDocument(mechanism: "social_optimum", network: feederWith(#""baseKV":4.16"#, #""baseKV":4.16,"model":"dc""#)), code: .invalidInput, path: "network.model"),
    // --- P2P fields (p2p_gne) ---
    BadInput(name: "peer entry with an unknown key", document: gneWith(#""peers":["p2"]"#, #""peers":[{"id":"p2","price":1}]"#), code: .invalidInput, path: "prosumers[0].peers[0].price"),
    BadInput(name: "peer entry without an id", document: gneWith(#""peers":["p2"]"#, #""peers":[{"maxKW":3}]"#), code: .invalidInput, path: "prosumers[0].peers[0].id"),
    BadInput(name: "peer entry with a negative limit", document: gneWith(#""peers":["p2"]"#, #""peers":[{"id":"p2","maxKW":-1}]"#), code: .invalidInput, path: "prosumers[0].peers[0].maxKW"),
    BadInput(name: "peer that does not exist (object form)", document: gneWith(#""peers":["p2"]"#, #""peers":[{"id":"p9"}]"#), code: .invalidInput, path: "prosumers[0].peers[0].id"),
    BadInput(name: "self-discharge of the whole charge", document: gneWith(#""etaCharge":0.95"#, #""etaCharge":0.95,"selfDischarge":1"#), code: .invalidInput, path: "prosumers[1].storage.selfDischarge"),
    BadInput(name: "final charge above the maximum", document: gneWith(#""etaCharge":0.95"#, #""etaCharge":0.95,"socFinalMinKWh":11"#), code: .invalidInput, path: "prosumers[1].storage.socFinalMinKWh"),
    BadInput(name: "period length of zero", document: gneWith(#""periods":2,"#, #""periods":2,"periodHours":0,"#), code: .invalidInput, path: "periodHours"),
    BadInput(name: "price slope series of the wrong length", document: gneWith(#""priceSlope":0.001"#, #""priceSlope":[0.001,0.001,0.001]"#), code: .invalidInput, path: "grid.priceSlope"),
    BadInput(name: "draw bounds in the wrong order", document: gneWith(#""priceSlope":0.001"#, #""priceSlope":0.001,"importMinKW":50,"importMaxKW":[60,40]"#), code: .invalidInput, path: "grid.importMaxKW[1]"),
    BadInput(name: "angle bound beyond 90 degrees", document: gneWith(#""baseKV":4.16"#, #""baseKV":4.16,"angleMaxDeg":120"#), code: .invalidInput, path: "network.angleMaxDeg"),
    BadInput(name: "unknown equilibrium", document: gneWith(#""algorithm":"centralized""#, #""algorithm":"centralized","equilibrium":"stackelberg""#), code: .invalidInput, path: "options.equilibrium"),
    BadInput(name: "p2p_gne with the SOC network", document: gneWith(#""baseKV":4.16"#, #""baseKV":4.16,"model":"socp""#), code: .unsupported, path: "network.model"),
    BadInput(name: "priceSlope outside p2p_gne", document: twoLayerDocument().replacingOccurrences(of: #""sellPrice":0.2}"#, with: #""sellPrice":0.2,"priceSlope":0.1}"#), code: .invalidInput, path: "grid.priceSlope"),
    BadInput(name: "linear_angle outside p2p_gne", document: twoLayerDocument(mechanism: "social_optimum", network: feederWith(#""baseKV":4.16"#, #""baseKV":4.16,"model":"linear_angle""#)), code: .invalidInput, path: "network.model"),
    BadInput(name: "equilibrium outside p2p_gne", document: sharingWith(#""communities""#, #""options":{"equilibrium":"nash"},"communities""#), code: .invalidInput, path: "options.equilibrium"),
    BadInput(name: "negative quadratic trade cost", document: gneWith(#""tradeCost":0.01"#, #""tradeCost":0.01,"tradeCostA":-1"#), code: .invalidInput, path: "prosumers[0].tradeCostA"),
    BadInput(name: "reconfigure outside p2p_reconfiguration", document: gneWith(#""algorithm":"centralized""#, #""algorithm":"centralized","reconfigure":false"#), code: .invalidInput, path: "options.reconfigure"),
    BadInput(name: "negative switching budget", document: gneWith(#""algorithm":"centralized""#, #""algorithm":"centralized""#).replacingOccurrences(of: #""mechanism":"p2p_gne""#, with: #""mechanism":"p2p_reconfiguration""#).replacingOccurrences(of: #""priceSlope":0.001"#, with: #""buyPrice":0.3,"sellPrice":0.1"#).replacingOccurrences(of: #""algorithm":"centralized""#, with: #""algorithm":"centralized","maxSwitchingOperations":-2"#), code: .invalidInput, path: "options.maxSwitchingOperations"),
    BadInput(name: "p2p_online over the SOC network", document: onlineWith(#""grid""#, #""network":{"baseKV":1,"substationBus":"0","model":"socp","buses":[{"id":"0"},{"id":"1"}],"lines":[{"id":"L","from":"0","to":"1","rOhm":0.1,"xOhm":0.1}]},"grid""#).replacingOccurrences(of: #""id":"p1","#, with: #""id":"p1","bus":"1","#), code: .unsupported, path: "network.model"),
    BadInput(name: "p2p_online V above V^max", document: onlineWith(#""socKWh":5"#, #""socKWh":5,"lyapunovV":30"#), code: .invalidInput, path: "prosumers[0].storage.lyapunovV"),
    BadInput(name: "p2p_online SoC shift outside its safe interval", document: onlineWith(#""socKWh":5"#, #""socKWh":5,"lyapunovV":20,"socShiftKWh":9.5"#), code: .invalidInput, path: "prosumers[0].storage.socShiftKWh"),
    BadInput(name: "p2p_online battery too small for any V", document: onlineWith(#""socMaxKWh":10"#, #""socMaxKWh":5"#), code: .invalidInput, path: "prosumers[0].storage"),
    BadInput(name: "p2p_online unknown unsafeParameters", document: onlineWith(#""algorithm":"centralized""#, #""algorithm":"centralized","unsafeParameters":"ignore""#), code: .invalidInput, path: "options.unsafeParameters"),
    BadInput(name: "p2p_online negative quadratic trade cost", document: onlineWith(#""id":"p1","#, #""id":"p1","tradeCostA":-1,"#), code: .invalidInput, path: "prosumers[0].tradeCostA"),
    BadInput(name: "p2p_online leaky battery", document: onlineWith(#""socKWh":5"#, #""socKWh":5,"selfDischarge":0.01"#), code: .unsupported, path: "prosumers[0].storage.selfDischarge"),
    BadInput(name: "p2p_online price ceiling below floor", document: onlineWith(#""priceFloor":0.05"#, #""priceFloor":0.3"#), code: .invalidInput, path: "options.priceCeiling"),
    BadInput(name: "lyapunovV outside p2p_online", document: twoLayerDocument(prosumers: #"[{"id":"p1","community":"c1","loadKW":2,"storage":{"capacityKWh":10,"socKWh":5,"chargeMaxKW":2,"dischargeMaxKW":2,"lyapunovV":3}}]"#), code: .invalidInput, path: "prosumers[0].storage.lyapunovV"),
    BadInput(name: "hardSocBounds outside p2p_online", document: sharingWith(#""communities""#, #""options":{"hardSocBounds":false},"communities""#), code: .invalidInput, path: "options.hardSocBounds"),
]

/// p2p_online's C2 prosumer (spec §7) with `old` replaced by `new`.
func onlineWith(_ old: String, _ new: String) -> String {
    #"""
    {"schema":"esmarket/1","mechanism":"p2p_online","grid":{"buyPrice":0.25,"sellPrice":0.05},
     "prosumers":[{"id":"p1","pvKW":5,"loadKW":2,
                   "storage":{"capacityKWh":10,"socMinKWh":1,"socMaxKWh":10,"chargeMaxKW":2,"dischargeMaxKW":2,"socKWh":5}}],
     "options":{"algorithm":"centralized","priceFloor":0.05,"priceCeiling":0.25}}
    """#.replacingOccurrences(of: old, with: new)
}

/// Whether every number in a JSON document is finite (api.md §3).
func allNumbersFinite(_ json: String) -> Bool {
    guard let root = json_tokener_parse(json) else { return false }
    defer { json_object_put(root) }
    func walk(_ o: OpaquePointer?) -> Bool {
        guard let o else { return true }
        switch json_object_get_type(o) {
        case json_type_double: return json_object_get_double(o).isFinite
        case json_type_array: return (0..<json_object_array_length(o)).allSatisfy { walk(json_object_array_get_idx(o, $0)) }
        case json_type_object:
            var it = json_object_iter_begin(o), end = json_object_iter_end(o)
            while json_object_iter_equal(&it, &end) == 0 {
                if !walk(json_object_iter_peek_value(&it)) { return false }
                json_object_iter_next(&it)
            }
            return true
        default: return true
        }
    }
    return walk(root)
}

@Test("invalid-input corpus: error code, JSON path, finite numbers", arguments: corpus)
func corpusInputIsRejected(_ bad: BadInput) throws {
    var bytes = Array(bad.document.utf8)
    if bad.name == "truncated UTF-8 sequence" { bytes = [0x7B, 0x22, 0xE2, 0x82, 0x22, 0x3A, 0x31, 0x7D] }  // {"\xE2\x82":1}
    let reply = bytes.withUnsafeBufferPointer { Service.clear($0) }
    #expect(reply.error == bad.code, "\(bad.name): \(reply.json.prefix(300))")
    #expect(reply.json.contains(#""code":"\#(bad.code.rawValue)""#), "\(reply.json.prefix(300))")
    let path = bad.path.map { #""path":"\#($0.replacingOccurrences(of: "\\", with: "\\\\"))""# } ?? #""path":null"#
    #expect(reply.json.contains(path), "\(bad.name): \(reply.json.prefix(300))")
    #expect(reply.json.contains(#""message":""#) && !reply.json.contains(#""message":"""#))
    #expect(allNumbersFinite(reply.json), "\(reply.json.prefix(300))")
}

@Test func corpusClassesAreDistinct() {
    // Each class once, and none repeats a class of DecodingTests' table.
    let names = corpus.map(\.name) + badInputs.map(\.name)
    #expect(Set(names).count == names.count)
    let documents = corpus.filter { !$0.document.hasPrefix("(bytes") }.map(\.document)
    #expect(Set(documents).count == documents.count)
    #expect(corpus.count >= 40)
}

/// The valid neighbours of some classes: the line between rejected and accepted is where the
/// contract puts it, and what is accepted clears to finite numbers.
@Test func validNeighboursOfTheCorpusClear() throws {
    let accepted: [(String, String)] = [
        ("511 levels inside extra", sharingDocument(rest: #","extra":"# + nested("[", 510, "", "]"))),
        ("NUL inside a key within extra", sharingDocument(rest: #","extra":{"a\u0000b":1}"#)),
        ("NUL-free key with an escape", sharingWith(#""loadKW":2,"#, #""load\u004BW":2,"#)),
        ("buyPrice just above sellPrice", sharingDocument(grid: #"{"buyPrice":0.2000001,"sellPrice":0.2}"#)),
        ("zero-impedance radial line (social_optimum)", twoLayerDocument(mechanism: "social_optimum", network: feederWith(#""id":"L2","from":"1","to":"2","rOhm":0.1,"xOhm":0.1"#, #""id":"L2","from":"1","to":"2","rOhm":0,"xOhm":0"#), communities: "[]", prosumers: #"[{"id":"p1","bus":"2","loadKW":2,"flex":{"maxKW":1,"costA":0.1,"costB":0.1}}]"#)),
        ("social_optimum without prosumers", twoLayerDocument(mechanism: "social_optimum", communities: "[]", prosumers: "[]")),
        ("p2p_gne as written", gneWith(#""periods":2,"#, #""periods":2,"#)),
        ("p2p_gne peer entry object", gneWith(#""peers":["p2"]"#, #""peers":[{"id":"p2","maxKW":5,"tradeCost":0,"contractPrice":0.05}]"#)),
        ("p2p_gne without any trade, selling to the grid", gneWith(#""peers":["p2"]"#, #""peers":[]"#).replacingOccurrences(of: #""priceSlope":0.001"#, with: #""priceSlope":0.001,"sellPrice":0.02"#)),
        ("p2p_gne peers listed both ways", gneWith(#""loadKW":2,"storage""#, #""loadKW":2,"peers":["p1"],"storage""#)),
        ("p2p_gne zero-impedance line", gneWith(#""id":"L2","from":"1","to":"2","rOhm":0.1,"xOhm":0.1"#, #""id":"L2","from":"1","to":"2","rOhm":0,"xOhm":0"#)),
        ("p2p_reconfiguration on the same feeder", gneWith(#""priceSlope":0.001"#, #""buyPrice":0.3,"sellPrice":0.1"#).replacingOccurrences(of: #""mechanism":"p2p_gne""#, with: #""mechanism":"p2p_reconfiguration""#)),
        ("p2p_gne on LinDistFlow, Wardrop, proximal point", gneWith(#""baseKV":4.16"#, #""baseKV":4.16,"model":"lindistflow""#).replacingOccurrences(of: #""algorithm":"centralized""#, with: #""algorithm":"proximal_point","equilibrium":"wardrop""#)),
    ]
    for (name, document) in accepted {
        let reply = Service.clear(document)
        #expect(reply.error == nil, "\(name): \(reply.json.prefix(300))")
        #expect(reply.json.contains(#""status":"solved""#), "\(name): \(reply.json.prefix(300))")
        #expect(allNumbersFinite(reply.json), "\(name): \(reply.json.prefix(300))")
    }
}
