import CJSONC
import Testing
@testable import ESMJSON
#if canImport(Glibc)
import Glibc
#endif
import ESMGrid
import ESMMarkets

/// A valid energy_sharing document with `patch` spliced in place of the marked parts.
func sharingDocument(prosumers: String = #"[{"id":"p1","loadKW":2,"flex":{"maxKW":5,"costA":0.1,"costB":0.1}},{"id":"p2","loadKW":4}]"#,
                     grid: String = #"{"buyPrice":1.0,"sellPrice":0.2}"#,
                     communities: String = #"[{"id":"c1","sensitivity":0.1}]"#,
                     rest: String = "") -> String {
    #"{"schema":"esmarket/1","mechanism":"energy_sharing","grid":\#(grid),"communities":\#(communities),"prosumers":\#(prosumers)\#(rest)}"#
}

let feeder = #"{"baseKV":4.16,"substationBus":"0","buses":[{"id":"0"},{"id":"1","pLoadKW":10},{"id":"2"}],"lines":[{"id":"L1","from":"0","to":"1","rOhm":0.1,"xOhm":0.1},{"id":"L2","from":"1","to":"2","rOhm":0.1,"xOhm":0.1}]}"#

func twoLayerDocument(mechanism: String = "two_layer", network: String = feeder, communities: String = #"[{"id":"c1","bus":"1","sensitivity":0.1}]"#,
                      prosumers: String = #"[{"id":"p1","community":"c1","loadKW":2}]"#) -> String {
    #"{"schema":"esmarket/1","mechanism":"\#(mechanism)","network":\#(network),"grid":{"buyPrice":1,"sellPrice":0.2},"communities":\#(communities),"prosumers":\#(prosumers)}"#
}

func conicDocument(_ conic: String) -> String {
    #"{"schema":"esmarket/1","mechanism":"conic","conic":\#(conic)}"#
}

struct BadInput: CustomTestStringConvertible, Sendable {
    let name: String
    let document: String
    let code: InputError.Code
    let path: String?
    var testDescription: String { name }
}

let badInputs: [BadInput] = [
    BadInput(name: "empty input", document: "", code: .invalidJSON, path: nil),
    BadInput(name: "truncated", document: #"{"schema":"esmarket/1","mech"#, code: .invalidJSON, path: nil),
    BadInput(name: "NaN token", document: #"{"schema":"esmarket/1","x":NaN}"#, code: .invalidJSON, path: nil),
    BadInput(name: "Infinity token", document: #"{"a":-Infinity}"#, code: .invalidJSON, path: nil),
    BadInput(name: "comment", document: "{\"a\":1 /* no */}", code: .invalidJSON, path: nil),
    BadInput(name: "single quotes", document: "{'schema':'esmarket/1'}", code: .invalidJSON, path: nil),
    BadInput(name: "trailing garbage", document: #"{"a":1} x"#, code: .invalidJSON, path: nil),
    BadInput(name: "invalid UTF-8", document: "(bytes set in the test)", code: .invalidJSON, path: nil),
    BadInput(name: "overlong UTF-8", document: "(bytes set in the test)", code: .invalidJSON, path: nil),
    BadInput(name: "UTF-8 surrogate", document: "(bytes set in the test)", code: .invalidJSON, path: nil),
    BadInput(name: "UTF-8 above U+10FFFF", document: "(bytes set in the test)", code: .invalidJSON, path: nil),
    BadInput(name: "raw tab inside a string", document: "{\"schema\":\"esmarket/1\t\"}", code: .invalidJSON, path: nil),
    BadInput(name: "bare number document", document: "42", code: .invalidInput, path: ""),
    BadInput(name: "null document", document: "null", code: .invalidInput, path: ""),
    BadInput(name: "100,000 nested arrays", document: String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000), code: .invalidJSON, path: nil),
    BadInput(name: "root is an array", document: "[1,2]", code: .invalidInput, path: ""),
    BadInput(name: "missing schema", document: #"{"mechanism":"energy_sharing"}"#, code: .invalidInput, path: "schema"),
    BadInput(name: "wrong schema", document: #"{"schema":"esmarket/0","mechanism":"energy_sharing"}"#, code: .invalidInput, path: "schema"),
    BadInput(name: "missing mechanism", document: #"{"schema":"esmarket/1"}"#, code: .invalidInput, path: "mechanism"),
    BadInput(name: "unknown mechanism", document: #"{"schema":"esmarket/1","mechanism":"auction"}"#, code: .invalidInput, path: "mechanism"),
    BadInput(name: "unknown root key", document: sharingDocument(rest: #","foo":1"#), code: .invalidInput, path: "foo"),
    BadInput(name: "unknown flex key", document: sharingDocument(prosumers: #"[{"id":"p1","flex":{"maxKW":1,"foo":2}}]"#), code: .invalidInput, path: "prosumers[0].flex.foo"),
    BadInput(name: "minKW > maxKW", document: sharingDocument(prosumers: #"[{"id":"p1"},{"id":"p2","flex":{"minKW":3,"maxKW":2}}]"#), code: .invalidInput, path: "prosumers[1].flex.maxKW"),
    BadInput(name: "buyPrice <= sellPrice", document: sharingDocument(grid: #"{"buyPrice":0.2,"sellPrice":0.2}"#), code: .invalidInput, path: "grid.buyPrice"),
    BadInput(name: "1e400 overflows", document: sharingDocument(prosumers: #"[{"id":"p1","loadKW":1e400}]"#), code: .invalidInput, path: "prosumers[0].loadKW"),
    BadInput(name: "negative load", document: sharingDocument(prosumers: #"[{"id":"p1","loadKW":-1}]"#), code: .invalidInput, path: "prosumers[0].loadKW"),
    BadInput(name: "string for number", document: sharingDocument(prosumers: #"[{"id":"p1","loadKW":"3"}]"#), code: .invalidInput, path: "prosumers[0].loadKW"),
    BadInput(name: "NaN spelled as a string", document: sharingDocument(prosumers: #"[{"id":"p1","pvKW":"NaN"}]"#), code: .invalidInput, path: "prosumers[0].pvKW"),
    BadInput(name: "duplicate prosumer id", document: sharingDocument(prosumers: #"[{"id":"p1"},{"id":"p2"},{"id":"p1"}]"#), code: .invalidInput, path: "prosumers[2].id"),
    BadInput(name: "empty id", document: sharingDocument(prosumers: #"[{"id":""}]"#), code: .invalidInput, path: "prosumers[0].id"),
    BadInput(name: "NUL inside id", document: sharingDocument(prosumers: #"[{"id":"p\u00001"}]"#), code: .invalidInput, path: "prosumers[0].id"),
    BadInput(name: "dangling community", document: sharingDocument(prosumers: #"[{"id":"p1","community":"c9"}]"#), code: .invalidInput, path: "prosumers[0].community"),
    BadInput(name: "missing prosumers", document: #"{"schema":"esmarket/1","mechanism":"energy_sharing","grid":{"buyPrice":1,"sellPrice":0},"communities":[{"id":"c","sensitivity":1}]}"#, code: .invalidInput, path: "prosumers"),
    BadInput(name: "empty prosumer list", document: sharingDocument(prosumers: "[]"), code: .invalidInput, path: "prosumers"),
    BadInput(name: "missing grid", document: #"{"schema":"esmarket/1","mechanism":"energy_sharing","communities":[{"id":"c","sensitivity":1}],"prosumers":[{"id":"p"}]}"#, code: .invalidInput, path: "grid"),
    BadInput(name: "periods mismatch", document: sharingDocument(prosumers: #"[{"id":"p1","loadKW":[1,2,3]}]"#, rest: #","periods":2"#), code: .invalidInput, path: "prosumers[0].loadKW"),
    BadInput(name: "too many prosumer-periods", document: sharingDocument(prosumers: "[" + (0..<600).map { #"{"id":"p\#($0)"}"# }.joined(separator: ",") + "]", rest: #","periods":100000"#), code: .invalidInput, path: "periods"),
    BadInput(name: "periods zero", document: sharingDocument(rest: #","periods":0"#), code: .invalidInput, path: "periods"),
    BadInput(name: "unknown algorithm", document: sharingDocument(rest: #","options":{"algorithm":"magic"}"#), code: .invalidInput, path: "options.algorithm"),
    BadInput(name: "zero tolerance", document: sharingDocument(rest: #","options":{"tolerance":0}"#), code: .invalidInput, path: "options.tolerance"),
    BadInput(name: "upperPriceRange reversed", document: sharingDocument(rest: #","options":{"upperPriceRange":[0.5,0.1]}"#), code: .invalidInput, path: "options.upperPriceRange[1]"),
    BadInput(name: "two communities in energy_sharing", document: sharingDocument(communities: #"[{"id":"a","sensitivity":1},{"id":"b","sensitivity":1}]"#, rest: ""), code: .invalidInput, path: "prosumers[0].community"),
    BadInput(name: "sensitivity that overflows (fuzzing)", document: sharingDocument(communities: #"[{"id":"c1","sensitivity":1e300}]"#), code: .invalidInput, path: "communities[0].sensitivity"),
    BadInput(name: "vanishing sensitivity", document: sharingDocument(communities: #"[{"id":"c1","sensitivity":1e-300}]"#), code: .invalidInput, path: "communities[0].sensitivity"),
    BadInput(name: "load of 1e300 kW", document: sharingDocument(prosumers: #"[{"id":"p1","loadKW":1e300}]"#), code: .invalidInput, path: "prosumers[0].loadKW"),
    BadInput(name: "price of 1e300", document: sharingDocument(grid: #"{"buyPrice":1e300,"sellPrice":0.2}"#), code: .invalidInput, path: "grid.buyPrice"),
    BadInput(name: "zero sensitivity", document: sharingDocument(communities: #"[{"id":"c1","sensitivity":0}]"#), code: .invalidInput, path: "communities[0].sensitivity"),
    BadInput(name: "duplicate community id", document: sharingDocument(communities: #"[{"id":"c1","sensitivity":1},{"id":"c1","sensitivity":1}]"#), code: .invalidInput, path: "communities[1].id"),
    BadInput(name: "powerFactor zero", document: sharingDocument(prosumers: #"[{"id":"p1","powerFactor":0}]"#), code: .invalidInput, path: "prosumers[0].powerFactor"),
    BadInput(name: "storage soc above max", document: sharingDocument(prosumers: #"[{"id":"p1","storage":{"capacityKWh":10,"socKWh":11,"chargeMaxKW":1,"dischargeMaxKW":1}}]"#), code: .invalidInput, path: "prosumers[0].storage.socKWh"),
    BadInput(name: "storage not modelled in energy_sharing", document: sharingDocument(prosumers: #"[{"id":"p1","storage":{"capacityKWh":10,"socKWh":5,"chargeMaxKW":1,"dischargeMaxKW":1}}]"#), code: .unsupported, path: "prosumers[0].storage"),
    BadInput(name: "own peer", document: sharingDocument(prosumers: #"[{"id":"p1","peers":["p1"]}]"#), code: .invalidInput, path: "prosumers[0].peers[0]"),
    BadInput(name: "dangling peer", document: sharingDocument(prosumers: #"[{"id":"p1","peers":["zz"]}]"#), code: .invalidInput, path: "prosumers[0].peers[0]"),
    BadInput(name: "missing network", document: #"{"schema":"esmarket/1","mechanism":"two_layer","grid":{"buyPrice":1,"sellPrice":0}}"#, code: .invalidInput, path: "network"),
    BadInput(name: "dangling prosumer bus", document: twoLayerDocument(prosumers: #"[{"id":"p1","community":"c1","bus":"9"}]"#), code: .invalidInput, path: "prosumers[0].bus"),
    BadInput(name: "missing community in two_layer", document: twoLayerDocument(prosumers: #"[{"id":"p1","bus":"1"}]"#), code: .invalidInput, path: "prosumers[0].community"),
    BadInput(name: "community without bus", document: twoLayerDocument(communities: #"[{"id":"c1","sensitivity":0.1}]"#), code: .invalidInput, path: "communities[0].bus"),
    BadInput(name: "intercept outside energy_sharing", document: twoLayerDocument(communities: #"[{"id":"c1","bus":"1","sensitivity":0.1,"intercept":0.5}]"#), code: .invalidInput, path: "communities[0].intercept"),
    BadInput(name: "loop of closed lines", document: twoLayerDocument(network: #"{"baseKV":4.16,"substationBus":"0","buses":[{"id":"0"},{"id":"1"},{"id":"2"}],"lines":[{"id":"a","from":"0","to":"1","rOhm":1,"xOhm":1},{"id":"b","from":"1","to":"2","rOhm":1,"xOhm":1},{"id":"c","from":"2","to":"0","rOhm":0,"xOhm":0}]}"#), code: .invalidInput, path: "network.lines[2]"),
    BadInput(name: "island", document: twoLayerDocument(network: #"{"baseKV":4.16,"substationBus":"0","buses":[{"id":"0"},{"id":"1"},{"id":"2"}],"lines":[{"id":"a","from":"0","to":"1","rOhm":1,"xOhm":1},{"id":"b","from":"1","to":"2","rOhm":1,"xOhm":1,"closed":false}]}"#), code: .invalidInput, path: "network.buses[2]"),
    BadInput(name: "line to itself", document: twoLayerDocument(network: #"{"baseKV":4.16,"substationBus":"0","buses":[{"id":"0"},{"id":"1"}],"lines":[{"id":"a","from":"0","to":"1","rOhm":1,"xOhm":1},{"id":"b","from":"1","to":"1","rOhm":1,"xOhm":1}]}"#), code: .invalidInput, path: "network.lines[1]"),
    BadInput(name: "line from unknown bus", document: twoLayerDocument(network: #"{"baseKV":4.16,"substationBus":"0","buses":[{"id":"0"},{"id":"1"}],"lines":[{"id":"a","from":"7","to":"1","rOhm":1,"xOhm":1}]}"#), code: .invalidInput, path: "network.lines[0].from"),
    BadInput(name: "duplicate bus id", document: twoLayerDocument(network: #"{"baseKV":4.16,"substationBus":"0","buses":[{"id":"0"},{"id":"0"}],"lines":[]}"#), code: .invalidInput, path: "network.buses[1].id"),
    BadInput(name: "negative resistance", document: twoLayerDocument(network: #"{"baseKV":4.16,"substationBus":"0","buses":[{"id":"0"},{"id":"1"}],"lines":[{"id":"a","from":"0","to":"1","rOhm":-1,"xOhm":1}]}"#), code: .invalidInput, path: "network.lines[0].rOhm"),
    BadInput(name: "unknown builtin feeder", document: twoLayerDocument(network: #"{"builtin":"ieee999"}"#), code: .invalidInput, path: "network.builtin"),
    BadInput(name: "builtin override vMinPu above vMaxPu", document: twoLayerDocument(network: #"{"builtin":"ieee33bw","vMinPu":1.06}"#, communities: #"[{"id":"c1","bus":"5","sensitivity":0.1}]"#), code: .invalidInput, path: "network.vMaxPu"),
    BadInput(name: "two_layer_voltage prosumer without community", document: twoLayerDocument(mechanism: "two_layer_voltage", prosumers: #"[{"id":"p1","loadKW":2}]"#), code: .invalidInput, path: "prosumers[0].community"),
    BadInput(name: "two_layer_voltage storage", document: twoLayerDocument(mechanism: "two_layer_voltage", prosumers: #"[{"id":"p1","community":"c1","loadKW":2,"storage":{"capacityKWh":10,"socKWh":5,"socMinKWh":1,"socMaxKWh":9,"chargeMaxKW":3,"dischargeMaxKW":3}}]"#), code: .unsupported, path: "prosumers[0].storage"),
    BadInput(name: "conic cone sizes", document: conicDocument(#"{"q":[1],"A":{"m":1,"n":1,"colptr":[0,1],"rowval":[0],"nzval":[1]},"b":[1],"cones":[{"type":"nonneg","dim":2}]}"#), code: .invalidInput, path: "conic.cones"),
    BadInput(name: "conic P below diagonal", document: conicDocument(#"{"P":{"m":2,"n":2,"colptr":[0,2,2],"rowval":[0,1],"nzval":[1,1]},"q":[1,1],"A":{"m":1,"n":2,"colptr":[0,1,1],"rowval":[0],"nzval":[1]},"b":[1],"cones":[{"type":"zero","dim":1}]}"#), code: .invalidInput, path: "conic.P.rowval[1]"),
    BadInput(name: "conic row out of range", document: conicDocument(#"{"q":[1],"A":{"m":1,"n":1,"colptr":[0,1],"rowval":[3],"nzval":[1]},"b":[1],"cones":[{"type":"zero","dim":1}]}"#), code: .invalidInput, path: "conic.A.rowval[0]"),
    BadInput(name: "conic colptr length", document: conicDocument(#"{"q":[1],"A":{"m":1,"n":1,"colptr":[0],"rowval":[],"nzval":[]},"b":[1],"cones":[{"type":"zero","dim":1}]}"#), code: .invalidInput, path: "conic.A.colptr"),
    BadInput(name: "conic b length", document: conicDocument(#"{"q":[1],"A":{"m":1,"n":1,"colptr":[0,1],"rowval":[0],"nzval":[1]},"b":[1,2],"cones":[{"type":"zero","dim":1}]}"#), code: .invalidInput, path: "conic.b"),
    BadInput(name: "conic empty soc", document: conicDocument(#"{"q":[1],"A":{"m":1,"n":1,"colptr":[0,1],"rowval":[0],"nzval":[1]},"b":[1],"cones":[{"type":"soc","dim":0}]}"#), code: .invalidInput, path: "conic.cones[0].dim"),
]

@Test("bad input gives the right error code and path", arguments: badInputs)
func badInputIsRejected(_ bad: BadInput) throws {
    var bytes = Array(bad.document.utf8)
    switch bad.name {
    case "invalid UTF-8": bytes = [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D]  // {"\xC3(":1}
    case "overlong UTF-8": bytes = [0x7B, 0x22, 0xC0, 0xAF, 0x22, 0x3A, 0x31, 0x7D]
    case "UTF-8 surrogate": bytes = [0x7B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x3A, 0x31, 0x7D]
    case "UTF-8 above U+10FFFF": bytes = [0x7B, 0x22, 0xF4, 0x90, 0x80, 0x80, 0x22, 0x3A, 0x31, 0x7D]
    default: break
    }
    let reply = bytes.withUnsafeBufferPointer { Service.clear($0) }
    #expect(reply.error == bad.code, "\(bad.name): \(reply.json)")
    #expect(reply.json.contains(#""code":"\#(bad.code.rawValue)""#), "\(reply.json)")
    let path = bad.path.map { #""path":"\#($0)""# } ?? #""path":null"#
    #expect(reply.json.contains(path), "\(bad.name): \(reply.json)")
    #expect(reply.json.contains(#""message":""#) && !reply.json.contains(#""message":"""#))
}

@Test func errorMessageNamesTheValues() throws {
    let reply = Service.clear(sharingDocument(prosumers: #"[{"id":"p1","flex":{"minKW":3,"maxKW":2}}]"#))
    #expect(reply.json.contains("maxKW (2) is below minKW (3)"))
    #expect(reply.json.contains("\"path\":\"prosumers[0].flex.maxKW\""))
    let syntax = Service.clear(#"{"a":1,}"#)
    #expect(syntax.json.contains("byte"))
    #expect(syntax.json.contains("\"path\":null"))
}

@Test func extraIsFreeForTheCaller() throws {
    let reply = Service.clear(sharingDocument(prosumers: #"[{"id":"p1","extra":{"anything":[1,{"x":null}]}}]"#, rest: #","extra":{"note":"mine"}"#))
    #expect(reply.error == nil, "\(reply.json)")
}

@Test func builtinFeedersDecodeAsTrees() throws {
    for feeder in BuiltinFeeder.allCases {
        let problem = try ProblemDecoder.decode(#"{"schema":"esmarket/1","mechanism":"social_optimum","network":{"builtin":"\#(feeder.rawValue)","vMinPu":0.97},"grid":{"buyPrice":1,"sellPrice":0}}"#)
        let network = try #require(problem.network)
        let tree = try #require(problem.tree)
        #expect(network.vMinPu == 0.97)
        #expect(tree.order.count == network.buses.count)
        #expect(network.lines.filter(\.closed).count == network.buses.count - 1)
    }
}

@Test func embeddedFeedersMatchTheFeederData() throws {
    // The embedded copies must be regenerated (Tests/tools/embed_feeders.py) when the feeder
    // files in Tests/data/feeders change; this fails if they drift.
    let suffix = "/Tests/ESMarketTests/DecodingTests.swift"
    let here = "\(#filePath)"
    guard here.hasSuffix(suffix) else { return }
    let shared = String(here.dropLast(suffix.count)) + "/Tests/data/feeders"
    for feeder in BuiltinFeeder.allCases {
        let file = try #require(fopen("\(shared)/\(feeder.rawValue).json", "r"), "\(shared)/\(feeder.rawValue).json")
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        fclose(file)
        let fromFile = try bytes.withUnsafeBufferPointer { try JSONDocument.parse($0) }
        var text = feeder.json
        let embedded = try text.withUTF8 { try JSONDocument.parse($0) }
        let same = fromFile.withRoot { a in embedded.withRoot { b in json_object_equal(a.raw, b.raw) != 0 } }
        #expect(same, "\(feeder.rawValue) differs from Tests/data/feeders")
    }
}

@Test func caseGeneratorIsReproducible() throws {
    let spec = #"{"mechanism":"energy_sharing","feeder":"ieee123","prosumers":500,"seed":3}"#
    let first = Service.generateCase(spec), second = Service.generateCase(spec)
    #expect(first.error == nil, "\(first.json)")
    #expect(first.json == second.json)
    #expect(Service.generateCase(#"{"mechanism":"energy_sharing","feeder":"ieee123","prosumers":500,"seed":4}"#).json != first.json)
    let problem = try ProblemDecoder.decode(first.json)
    #expect(problem.prosumers.count == 500)
    #expect(problem.communities.count == 1)
    for mechanism in ["two_layer", "two_layer_voltage", "social_optimum"] {
        let reply = Service.generateCase(#"{"mechanism":"\#(mechanism)","prosumers":1230,"seed":1}"#)
        #expect(reply.error == nil, "\(reply.json)")
        let decoded = try ProblemDecoder.decode(reply.json)
        #expect(decoded.prosumers.count == 1230)
        #expect(decoded.prosumers.allSatisfy { $0.bus != nil })
    }
    let bad = Service.generateCase(#"{"mechanism":"energy_sharing","prosumers":0}"#)
    #expect(bad.error == .invalidInput)
    #expect(bad.json.contains("\"path\":\"prosumers\""))
}

@Test func apportionIsProportionalAndExact() {
    let counts = CaseGenerator.apportion(10, weights: [1, 1, 2])
    #expect(counts.reduce(0, +) == 10)
    #expect(counts == [3, 2, 5] || counts == [2, 3, 5])
}
