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

@Test func zzcross() throws {
    guard ProcessInfo.processInfo.environment["ESM_CROSS"] != nil else { return }
    var rng = TestRandom(seed: 77)
    var lines = [String]()
    for k in 0..<60 {
        let n = 5 + rng.int(30)
        var p = randomConicProblem(n: n, zeroRows: rng.int(3), nonnegRows: 3 + rng.int(30), socCount: rng.int(4),
                                   socDim: 2 + rng.int(4), density: 0.15, seed: UInt64(1000 + k))
        switch k % 4 {
        case 1: p.b = p.b.map { _ in rng.uniform(-1, 1) }           // maybe infeasible
        case 2: p.q = p.q.map { _ in rng.uniform(-1, 1) }; if k % 8 == 2 { p.P = nil }  // maybe unbounded
        case 3: p.P = nil
        default: break
        }
        dumpJSON(p, "/tmp/cross_\(k).json")
        let sol = solveConic(p)
        lines.append("\(k) \(sol.status.rawValue) \(sol.objective) \(sol.iterations)")
    }
    try lines.joined(separator: "\n").write(toFile: "/tmp/cross_esm.txt", atomically: true, encoding: .utf8)
}
