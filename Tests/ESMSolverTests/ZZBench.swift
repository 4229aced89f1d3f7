import Testing
import ESMSolver
import Foundation

func dumpJSON(_ p: ConicProblem, _ path: String) {
    func csc(_ a: SparseMatrixCSC) -> [String: Any] { ["m": a.m, "n": a.n, "colptr": a.colptr, "rowval": a.rowval, "nzval": a.nzval] }
    var cones: [[Any]] = []
    for c in p.cones {
        switch c { case .zero(let d): cones.append(["z", d]); case .nonnegative(let d): cones.append(["l", d]); case .secondOrder(let d): cones.append(["q", d]) }
    }
    let obj: [String: Any] = ["P": csc(p.P ?? .zeros(p.q.count, p.q.count)), "q": p.q, "A": csc(p.A), "b": p.b, "cones": cones]
    let data = try! JSONSerialization.data(withJSONObject: obj)
    try! data.write(to: URL(fileURLWithPath: path))
}

@Test func zzbench() throws {
    guard ProcessInfo.processInfo.environment["ESM_BENCH"] != nil else { return }
    let cases: [(String, ConicProblem)] = [
        ("feeder800", radialFeederSOCP(buses: 800, seed: 3)),
        ("feeder3000", radialFeederSOCP(buses: 3000, seed: 4)),
        ("random", randomConicProblem(n: 2000, zeroRows: 100, nonnegRows: 2000, socCount: 200, socDim: 4, density: 0.002, seed: 9)),
    ]
    for (name, p) in cases {
        dumpJSON(p, "/tmp/bench_\(name).json")
        let solver = try ConicSolver(problem: p)
        var best = Double.infinity
        var sol = solver.solve()
        for _ in 0..<5 { sol = solver.solve(); best = min(best, sol.solveSeconds) }
        print("BENCH \(name): n=\(p.q.count) m=\(p.b.count) status=\(sol.status) it=\(sol.iterations) best=\(best)s obj=\(sol.objective) nnzKKT=\(solver.kktNonzeros) nnzL=\(solver.factorNonzeros)")
    }
}
