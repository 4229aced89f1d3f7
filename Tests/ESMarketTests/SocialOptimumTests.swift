import Foundation
import Testing
import ESMGrid
import ESMJSON
import ESMSolver
@testable import ESMMarkets

@Test func zzDumpSocialOptimumConic() throws {
    guard let path = ProcessInfo.processInfo.environment["SO_DUMP"] else { return }
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let problem = try ProblemDecoder.decode(text)
    let network = problem.network!, tree = problem.tree!
    let feeder = try Feeder(network: network, tree: tree, period: 0,
                            scaleKVA: SocialOptimum.demandKVA(network: network, prosumers: problem.prosumers, period: 0))
    let setup = PeriodSetup(problem: problem, grid: problem.grid!, feeder: feeder, model: network.model ?? .socp, period: 0)
    let built = try setup.assemble().builder.build().problem
    func csc(_ m: SparseMatrixCSC) -> String {
        "{\"m\":\(m.m),\"n\":\(m.n),\"colptr\":\(m.colptr),\"rowval\":\(m.rowval),\"nzval\":\(m.nzval)}"
    }
    let cones = built.cones.map { c -> String in
        switch c {
        case .zero(let d): return "{\"type\":\"zero\",\"dim\":\(d)}"
        case .nonnegative(let d): return "{\"type\":\"nonneg\",\"dim\":\(d)}"
        case .secondOrder(let d): return "{\"type\":\"soc\",\"dim\":\(d)}"
        }
    }
    let out = "{\"P\":\(built.P.map(csc) ?? "null"),\"q\":\(built.q),\"A\":\(csc(built.A)),\"b\":\(built.b),\"cones\":[\(cones.joined(separator: ","))]}"
    try out.write(toFile: path + ".conic.json", atomically: true, encoding: .utf8)
}
