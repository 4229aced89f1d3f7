import Testing
import ESMJSON
import ESMMarkets

/// `min −x₁ − 2x₂  s.t.  x₁ + x₂ ≤ rhs, x ≥ 0` as a conic document.
func smallLP(rhs: Double, extra: String = "") -> String {
    #"{"schema":"esmarket/1","mechanism":"conic","conic":{"q":[-1,-2],"A":{"m":3,"n":2,"colptr":[0,2,4],"rowval":[0,1,0,2],"nzval":[1,-1,1,-1]},"b":[\#(rhs),0,0],"cones":[{"type":"nonneg","dim":3}]\#(extra)}}"#
}

@Test func conicLPThroughTheDocument() throws {
    let r = try clear(smallLP(rhs: 1))
    #expect(r.status == .solved)
    guard case .numbers(let x)? = r.fields.first(where: { $0.0 == "x" })?.1,
          case .number(let objective)? = r.fields.first(where: { $0.0 == "objective" })?.1 else {
        Issue.record("x or objective missing")
        return
    }
    expectClose(x, [0, 1], 1e-7)
    expectClose([objective], [-2], 1e-7)
    let json = Service.clear(smallLP(rhs: 1)).json
    #expect(json.contains(#""status":"solved""#) && json.contains(#""y":["#))
}

@Test func conicInfeasibleAndUnboundedTwins() throws {
    #expect(try clear(smallLP(rhs: -1)).status == .primalInfeasible)
    let unbounded = #"{"schema":"esmarket/1","mechanism":"conic","conic":{"q":[-1],"A":{"m":1,"n":1,"colptr":[0,1],"rowval":[0],"nzval":[-1]},"b":[0],"cones":[{"type":"nonneg","dim":1}]}}"#
    #expect(try clear(unbounded).status == .dualInfeasible)
}

@Test func conicBinariesByBranchAndBound() throws {
    // max x₁ + 2x₂ (min −x₁ − 2x₂) with x₁ + x₂ ≤ 1.5, x binary: x = (0, 1), objective −2;
    // the relaxation would take (0.5, 1) at −2.5.
    let r = try clear(smallLP(rhs: 1.5, extra: #","integers":[0,1]"#))
    #expect(r.status == .solved)
    guard case .numbers(let x)? = r.fields.first(where: { $0.0 == "x" })?.1,
          case .number(let objective)? = r.fields.first(where: { $0.0 == "objective" })?.1 else {
        Issue.record("x or objective missing")
        return
    }
    expectClose(x, [0, 1], 1e-6)
    expectClose([objective], [-2], 1e-6)
    #expect(Service.clear(smallLP(rhs: 1.5, extra: #","integers":[0,1]"#)).json.contains(#""nodes":"#))
    // Infeasible twin: x₁ + x₂ ≤ −1 has no binary (nor any nonnegative) solution.
    #expect(try clear(smallLP(rhs: -1, extra: #","integers":[0,1]"#)).status == .primalInfeasible)
}
