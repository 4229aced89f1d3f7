import Testing
import ESMSolver
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Timing benchmarks, skipped unless ESM_BENCH is set:
//
//     ESM_BENCH=1 swift test -c release --filter solverBenchmarks
//
// prints, per case, the setup time (validation, equilibration, KKT pattern, ordering, symbolic
// factorization) and the best of 5 solve times. With ESM_BENCH_DUMP=/some/dir each case is also
// written as /some/dir/bench_<name>.json ({"P","q","A","b","cones"} with CSC matrices and cones as
// ["z"|"l"|"q", dim]) so that another solver can be timed on the same data, e.g. Clarabel from
// Python (pip install clarabel scipy):
//
//     import json, sys, numpy as np, scipy.sparse as sp, clarabel
//     d = json.load(open(sys.argv[1]))
//     M = lambda a: sp.csc_matrix((a["nzval"], a["rowval"], a["colptr"]), shape=(a["m"], a["n"]))
//     K = {"z": clarabel.ZeroConeT, "l": clarabel.NonnegativeConeT, "q": clarabel.SecondOrderConeT}
//     s = clarabel.DefaultSettings(); s.verbose = False
//     sol = clarabel.DefaultSolver(M(d["P"]), np.array(d["q"]), M(d["A"]), np.array(d["b"]),
//                                  [K[t](k) for t, k in d["cones"] if k > 0], s).solve()
//     print(sol.status, sol.iterations, sol.solve_time)

private func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}

private func json(_ p: ConicProblem) -> String {
    func vector<T>(_ v: [T]) -> String { "[" + v.map { "\($0)" }.joined(separator: ",") + "]" }
    func csc(_ a: SparseMatrixCSC) -> String {
        "{\"m\":\(a.m),\"n\":\(a.n),\"colptr\":\(vector(a.colptr)),\"rowval\":\(vector(a.rowval)),\"nzval\":\(vector(a.nzval))}"
    }
    let cones = p.cones.map { cone -> String in
        switch cone {
        case .zero(let d): return "[\"z\",\(d)]"
        case .nonnegative(let d): return "[\"l\",\(d)]"
        case .secondOrder(let d): return "[\"q\",\(d)]"
        }
    }
    return "{\"P\":\(csc(p.P ?? .zeros(p.q.count, p.q.count))),\"q\":\(vector(p.q)),\"A\":\(csc(p.A)),"
        + "\"b\":\(vector(p.b)),\"cones\":[\(cones.joined(separator: ","))]}"
}

@Test func solverBenchmarks() throws {
    guard environment("ESM_BENCH") != nil else { return }
    let cases: [(String, ConicProblem)] = [
        ("feeder800", radialFeederSOCP(buses: 800, seed: 3)),
        ("feeder3000", radialFeederSOCP(buses: 3000, seed: 4)),
        ("randomFill", randomConicProblem(n: 2000, zeroRows: 100, nonnegRows: 2000, socCount: 200, socDim: 4,
                                          density: 0.002, seed: 9)),
    ]
    for (name, p) in cases {
        if let dir = environment("ESM_BENCH_DUMP"), let f = fopen("\(dir)/bench_\(name).json", "w") {
            fputs(json(p), f)
            fclose(f)
        }
        let t0 = monotonicNow()
        let solver = try ConicSolver(problem: p)
        let setup = monotonicNow() - t0
        var sol = solver.solve()
        var best = sol.solveSeconds
        for _ in 0..<4 {
            sol = solver.solve()
            best = min(best, sol.solveSeconds)
        }
        print("benchmark \(name): n = \(p.q.count), m = \(p.b.count), nnz(KKT) = \(solver.kktNonzeros), "
              + "nnz(L) = \(solver.factorNonzeros), status = \(sol.status), iterations = \(sol.iterations), "
              + "setup = \(setup) s, solve (best of 5) = \(best) s")
    }
}

private func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
