#!/usr/bin/env python3
"""Benchmark: esmarket's conic interior-point solver against Clarabel, side by side in one run.

Every instance is built once with numpy/scipy as `min ½xᵀPx + qᵀx s.t. Ax + s = b, s ∈ K` and
handed, as identical matrices, to
  * Clarabel through its own Python API (clarabel.DefaultSolver on scipy CSC matrices), timed
    from the solver's construction (setup: equilibration, symbolic factorization) to the end of
    solve(); and
  * esmarket through esm_clear on the prepared JSON string ({"mechanism": "conic", ...}), timed
    end to end (parse + solve + encode), with the library's own `stats.solveSeconds` reported
    separately so that the cost of the JSON round trip is visible.
Both at tolerance 1e-8 (Clarabel's defaults; esmarket "tolerance": 1e-8). Times are the median
of --repeat runs.

Families (fixed seeds):
  * socp-N:       random sparse SOCP with N variables, equality rows, nonnegative rows and second-
                  order cones of dimension 3..8, strictly feasible and bounded by construction;
  * FEEDER-K:     DistFlow branch-flow SOCP (SOC relaxation) of a built-in feeder with K prosumers,
                  each its own injection variable with its own bounds and quadratic cost, injected
                  at its (random) bus; P, Q, ℓ per line, v per bus, substation import P0, Q0;
                  P² + Q² ≤ vℓ written as the standard cone ‖(2P, 2Q, v − ℓ)‖ ≤ v + ℓ; voltage
                  limits; line ratings (where the feeder has them) as ‖(P, Q)‖ ≤ S.

    swift build -c release --product esmarket
    python3 bench/conic.py                    # the full table (about four minutes, most of it socp-3000)
    python3 bench/conic.py --quick            # the small instances only
"""
import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from esm_ctypes import call, load_library  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FEEDERS = ROOT.parent / "shared" / "data" / "feeders"
S_BASE_KVA = 1000.0  # per-unit power base of the DistFlow models


# ---------------------------------------------------------------------------------------------
# problems: dict(P=csc (symmetric, or its upper triangle) or None, q, A=csc, b, cones=[(type, dim)], integers=[])
# ---------------------------------------------------------------------------------------------
def csc_json(M):
    M = sp.csc_matrix(M)
    M.sum_duplicates()
    M.sort_indices()
    return {"m": int(M.shape[0]), "n": int(M.shape[1]), "colptr": M.indptr.tolist(),
            "rowval": M.indices.tolist(), "nzval": M.data.tolist()}


def esm_document(prob, tolerance=1e-8, max_iterations=None):
    conic = {"P": None if prob["P"] is None else csc_json(sp.triu(prob["P"], format="csc")),
             "q": np.asarray(prob["q"], float).tolist(), "A": csc_json(prob["A"]),
             "b": np.asarray(prob["b"], float).tolist(),
             "cones": [{"type": t, "dim": int(k)} for t, k in prob["cones"]]}
    if prob.get("integers"):
        conic["integers"] = [int(i) for i in prob["integers"]]
    options = {"tolerance": tolerance}
    if max_iterations is not None:
        options["maxIterations"] = max_iterations
    return {"schema": "esmarket/1", "mechanism": "conic", "conic": conic, "options": options}


def clarabel_cones(cones):
    import clarabel
    make = {"zero": clarabel.ZeroConeT, "nonneg": clarabel.NonnegativeConeT,
            "soc": clarabel.SecondOrderConeT}
    return [make[t](int(k)) for t, k in cones]


def clarabel_solve(prob, settings=None, method=None):
    """(solver, solution) of Clarabel on the problem (setup + solve); `method` sets its
    direct_solve_method ("auto": faer, supernodal and multithreaded in 0.11; "qdldl": simplicial)."""
    import clarabel
    if settings is None:
        settings = clarabel.DefaultSettings()
        settings.verbose = False
    if method is not None:
        settings.direct_solve_method = method
    n = prob["A"].shape[1]
    P = sp.csc_matrix((n, n)) if prob["P"] is None else sp.triu(prob["P"], format="csc")
    solver = clarabel.DefaultSolver(P, np.asarray(prob["q"], float), sp.csc_matrix(prob["A"]),
                                    np.asarray(prob["b"], float), clarabel_cones(prob["cones"]),
                                    settings)
    return solver, solver.solve()


def random_socp(n, rng, per_column=4):
    """A random sparse SOCP with n variables, strictly feasible and bounded by construction:
    x0, s0 ∈ int K, y0 ∈ int K*; b = Ax0 + s0 and q = −Px0 − Aᵀy0 (P = 0 here)."""
    m_eq = n // 4
    m_nn = n // 2
    soc = []
    total = 0
    while total < n:
        k = int(rng.integers(3, 9))
        soc.append(k)
        total += k
    m = m_eq + m_nn + total
    nnz = per_column * n
    rows = rng.integers(0, m, nnz)
    cols = np.repeat(np.arange(n), per_column)
    A = sp.csc_matrix((rng.standard_normal(nnz), (rows, cols)), shape=(m, n))
    cones = [("zero", m_eq), ("nonneg", m_nn)] + [("soc", k) for k in soc]
    x0 = rng.standard_normal(n)
    s0, y0 = interior_point_pair(cones, rng)
    return {"P": None, "q": -(A.T @ y0), "A": A, "b": A @ x0 + s0, "cones": cones, "integers": []}


def interior_point_pair(cones, rng):
    """s0 ∈ K and y0 ∈ K*, both strictly inside (zero cone: s = 0, y free)."""
    s, y = [], []
    for t, k in cones:
        if t == "zero":
            s.append(np.zeros(k))
            y.append(rng.standard_normal(k))
        elif t == "nonneg":
            s.append(rng.uniform(0.1, 1.0, k))
            y.append(rng.uniform(0.1, 1.0, k))
        else:
            for out in (s, y):
                u = rng.standard_normal(k - 1)
                out.append(np.r_[np.linalg.norm(u) + rng.uniform(0.1, 1.0), u])
    return np.concatenate(s), np.concatenate(y)


def load_feeder(name):
    with open(FEEDERS / f"{name}.json") as f:
        return json.load(f)


def distflow(feeder, prosumers, rng, load_scale=1.0, injection_scale=1.0, unbounded=False):
    """DistFlow SOCP of a feeder with `prosumers` injection variables (one per prosumer).

    Variables, in order: P_l, Q_l, ℓ_l (lines), v_j (buses), P0, Q0 (substation import), p_k
    (prosumers). All in per unit on S_BASE_KVA. Cost: P0 (import at price 1) plus each
    prosumer's ½a p² + c p. Constraints (cones in this order): zero rows (P and Q balance per
    bus, voltage drop per line, v at the substation), nonnegative rows (voltage limits,
    prosumer bounds), one SOC of dimension 4 per line (rotated cone P² + Q² ≤ vℓ), one SOC of
    dimension 3 per rated line. `unbounded=True` adds one prosumer at the substation with no
    upper bound that is paid nothing, so exporting without limit lowers the cost without bound
    (a dual-infeasible twin)."""
    buses = [b["id"] for b in feeder["buses"]]
    index = {b: i for i, b in enumerate(buses)}
    lines = [l for l in feeder["lines"] if l["closed"]]
    root = index[feeder["substationBus"]]
    N, L = len(buses), len(lines)
    zbase = feeder["baseKV"] ** 2 / (S_BASE_KVA / 1000.0)
    frm = np.array([index[l["from"]] for l in lines])
    to = np.array([index[l["to"]] for l in lines])
    r = np.array([l["rOhm"] for l in lines]) / zbase
    x = np.array([l["xOhm"] for l in lines]) / zbase
    pload = np.array([b["pLoadKW"] for b in feeder["buses"]]) / S_BASE_KVA * load_scale
    qload = np.array([b["qLoadKVAr"] for b in feeder["buses"]]) / S_BASE_KVA * load_scale
    qcap = np.array([b.get("qCapKVAr", 0.0) for b in feeder["buses"]]) / S_BASE_KVA

    K = prosumers + (1 if unbounded else 0)
    at = rng.integers(0, N, prosumers)
    at = at[np.argsort(at, kind="stable")]  # neighbours in memory; any order is valid
    if unbounded:
        at = np.r_[at, root]
    # prosumer k: bounds [lo, hi] (pu), cost ½a p² + c p; total capacity about half the load
    cap = injection_scale * 0.5 * pload.sum() / max(prosumers, 1)
    hi = cap * rng.uniform(0.5, 1.5, K)
    lo = -hi * rng.uniform(0.0, 0.8, K)
    a = rng.uniform(0.5, 2.0, K) / hi
    c = rng.uniform(-0.5, 1.5, K)
    if unbounded:
        a[-1], c[-1] = 0.0, 0.0

    iP, iQ, il = np.arange(L), L + np.arange(L), 2 * L + np.arange(L)
    iv = 3 * L + np.arange(N)
    iP0, iQ0 = 3 * L + N, 3 * L + N + 1
    ip = 3 * L + N + 2 + np.arange(K)
    n = 3 * L + N + 2 + K

    R, C, V = [], [], []  # triplets of A

    def put(rows, cols, vals):
        rows, cols = np.broadcast_arrays(np.asarray(rows), np.asarray(cols))
        R.append(rows.ravel())
        C.append(cols.ravel())
        V.append(np.broadcast_to(np.asarray(vals, float), rows.shape).ravel())

    # zero rows 0..N-1: active balance at each bus: inflow − r ℓ − outflow + injections = load
    # (the substation's inflow is P0); rows N..2N-1 the same for reactive power (+ capacitor b·v)
    put(to, iP, 1.0)
    put(to, il, -r)
    put(frm, iP, -1.0)
    put(root, iP0, 1.0)
    put(at, ip, 1.0)
    put(N + to, iQ, 1.0)
    put(N + to, il, -x)
    put(N + frm, iQ, -1.0)
    put(N + root, iQ0, 1.0)
    has_cap = np.nonzero(qcap)[0]
    put(N + has_cap, iv[has_cap], qcap[has_cap])
    # rows 2N..2N+L-1: v_to − v_from + 2(rP + xQ) − (r² + x²) ℓ = 0; row 2N+L: v_root = v_sub²
    drop = 2 * N + np.arange(L)
    put(drop, iv[to], 1.0)
    put(drop, iv[frm], -1.0)
    put(drop, iP, 2 * r)
    put(drop, iQ, 2 * x)
    put(drop, il, -(r ** 2 + x ** 2))
    put(2 * N + L, iv[root], 1.0)
    m_zero = 2 * N + L + 1
    b_zero = np.r_[pload, qload, np.zeros(L), feeder["vSubstationPu"] ** 2]
    # nonnegative rows: v ≤ vmax², −v ≤ −vmin² (non-root buses), p ≤ hi, −p ≤ −lo
    others = np.array([j for j in range(N) if j != root])
    base = m_zero
    put(base + np.arange(len(others)), iv[others], 1.0)
    base += len(others)
    put(base + np.arange(len(others)), iv[others], -1.0)
    base += len(others)
    bounded = np.arange(K) if not unbounded else np.arange(K - 1)
    put(base + np.arange(len(bounded)), ip[bounded], 1.0)
    base += len(bounded)
    put(base + np.arange(K), ip, -1.0)
    base += K
    m_nonneg = base - m_zero
    b_nonneg = np.r_[np.full(len(others), feeder["vMaxPu"] ** 2),
                     np.full(len(others), -feeder["vMinPu"] ** 2), hi[bounded], -lo]
    # SOC per line: s = (v_from + ℓ, 2P, 2Q, v_from − ℓ) = −A x (b = 0)
    rows4 = base + 4 * np.arange(L)
    put(rows4, iv[frm], -1.0)
    put(rows4, il, -1.0)
    put(rows4 + 1, iP, -2.0)
    put(rows4 + 2, iQ, -2.0)
    put(rows4 + 3, iv[frm], -1.0)
    put(rows4 + 3, il, 1.0)
    base += 4 * L
    # line ratings: s = (S, P, Q)
    rated = [k for k, l in enumerate(lines) if l.get("rateKVA")]
    rate = np.array([lines[k]["rateKVA"] for k in rated]) / S_BASE_KVA
    rows3 = base + 3 * np.arange(len(rated))
    if rated:
        put(rows3 + 1, iP[rated], -1.0)
        put(rows3 + 2, iQ[rated], -1.0)
    base += 3 * len(rated)
    b_rate = np.zeros(3 * len(rated))
    b_rate[0::3] = rate
    m = base
    A = sp.csc_matrix((np.concatenate(V), (np.concatenate(R), np.concatenate(C))), shape=(m, n))
    b = np.r_[b_zero, b_nonneg, np.zeros(4 * L), b_rate]
    q = np.zeros(n)
    q[iP0] = 1.0
    q[ip] = c
    P = sp.csc_matrix((a, (ip, ip)), shape=(n, n))
    cones = [("zero", m_zero), ("nonneg", m_nonneg)] + [("soc", 4)] * L + [("soc", 3)] * len(rated)
    return {"P": P, "q": q, "A": A, "b": b, "cones": cones, "integers": []}


# ---------------------------------------------------------------------------------------------
# benchmark
# ---------------------------------------------------------------------------------------------
CLARABEL_CLASS = {"Solved": "solved", "AlmostSolved": "solved", "PrimalInfeasible": "primal_infeasible",
                  "AlmostPrimalInfeasible": "primal_infeasible", "DualInfeasible": "dual_infeasible",
                  "AlmostDualInfeasible": "dual_infeasible"}
ESM_CLASS = {"solved": "solved", "solved_inaccurate": "solved"}


def residual(prob, x, y, s):
    """max of ‖Ax + s − b‖∞/(1 + ‖b‖∞) and ‖Px + q + Aᵀy‖∞/(1 + ‖q‖∞)."""
    A, b, q = prob["A"], np.asarray(prob["b"]), np.asarray(prob["q"])
    x, y, s = (np.asarray(v, float) for v in (x, y, s))
    Px = np.zeros_like(x)
    if prob["P"] is not None:
        U = sp.triu(prob["P"], format="csc")
        Px = U @ x + sp.triu(U, k=1).T @ x
    rp = np.abs(A @ x + s - b).max() / (1 + np.abs(b).max())
    rd = np.abs(Px + q + A.T @ y).max() / (1 + np.abs(q).max())
    return max(rp, rd)


def instances(quick):
    rng_sizes = [200, 1000] if quick else [200, 1000, 3000]
    for k, n in enumerate(rng_sizes):
        yield f"socp-{n}", (lambda n=n, k=k: random_socp(n, np.random.default_rng(100 + k)))
    counts = [100, 1000] if quick else [100, 1000, 10000, 100000]
    for name, label in (("ieee33bw", "ieee33"), ("ieee37", "ieee37"), ("ieee123", "ieee123")):
        feeder = load_feeder(name)
        for k, count in enumerate(counts):
            yield f"{label}-{count}", (lambda f=feeder, c=count, k=k:
                                       distflow(f, c, np.random.default_rng(200 + k)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=None, help="instances whose name starts with this (e.g. socp)")
    parser.add_argument("--clarabel-method", default=None,
                        help="Clarabel's direct_solve_method (default: its own, 'auto' = faer); "
                             "'qdldl' is the simplicial LDL of the same kind as esmarket's")
    args = parser.parse_args()
    import clarabel
    lib = load_library()
    probe = clarabel.DefaultSettings()
    method = args.clarabel_method or probe.direct_solve_method
    threads = getattr(probe, "max_threads", 0) or "all"

    print(f"conic: esmarket vs Clarabel {clarabel.__version__} (Python API, direct_solve_method "
          f"{method}, max_threads {threads}), tolerance 1e-8; times in ms, median of {args.repeat}")
    header = (f"{'instance':<15} {'n':>7} {'m':>7} {'nnz(A)':>8} | {'clarabel':>9} {'it':>3} | "
              f"{'esm solve':>9} {'esm e2e':>9} {'it':>3} | {'solve/cl':>8} {'e2e/cl':>7} | "
              f"{'rel Δobj':>8} {'res cl':>7} {'res esm':>7}  status")
    print(header)
    print("-" * len(header))
    solve_ratios, e2e_ratios, failures = [], [], []
    for name, build in instances(args.quick):
        if args.only and not name.startswith(args.only):
            continue
        prob = build()
        text = json.dumps(esm_document(prob), separators=(",", ":")).encode()
        cl_times, esm_times, esm_solve = [], [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            _, sol = clarabel_solve(prob, method=args.clarabel_method)
            cl_times.append(time.perf_counter() - start)
            reply, seconds = call(lib, "esm_clear", text)
            esm_times.append(seconds)
            doc = json.loads(reply)
            esm_solve.append(doc["stats"]["solveSeconds"])
        cl, e2e, solve = (statistics.median(v) for v in (cl_times, esm_times, esm_solve))
        cl_status = CLARABEL_CLASS.get(str(sol.status), str(sol.status))
        esm_status = ESM_CLASS.get(doc["status"], doc["status"])
        dobj = abs(doc["objective"] - sol.obj_val) / max(1.0, abs(sol.obj_val))
        ok = cl_status == esm_status == "solved" and dobj <= 1e-6
        if not ok:
            failures.append(name)
        res_cl = residual(prob, sol.x, sol.z, sol.s)
        res_esm = residual(prob, doc["x"], doc["y"], doc["s"])
        family = name.split("-")[0]
        solve_ratios.append((family, solve / cl))
        e2e_ratios.append((family, e2e / cl))
        A = prob["A"]
        print(f"{name:<15} {A.shape[1]:>7} {A.shape[0]:>7} {A.nnz:>8} | {cl * 1e3:9.1f} {sol.iterations:>3} | "
              f"{solve * 1e3:9.1f} {e2e * 1e3:9.1f} {doc['stats']['iterations']:>3} | "
              f"{solve / cl:8.2f} {e2e / cl:7.2f} | {dobj:8.1e} {res_cl:7.0e} {res_esm:7.0e}  "
              f"{doc['status']}{'' if ok else ' / clarabel ' + str(sol.status) + '  MISMATCH'}")
        sys.stdout.flush()

    def geomean(pairs, families=None):
        v = [r for f, r in pairs if families is None or f in families]
        return math.exp(sum(math.log(r) for r in v) / len(v)), len(v)

    print("-" * len(header))
    for label, families in (("random SOCP", {"socp"}), ("DistFlow", {"ieee33", "ieee37", "ieee123"}),
                            ("all", None)):
        if not any(families is None or f in families for f, _ in solve_ratios):
            continue
        (gs, count), (ge, _) = geomean(solve_ratios, families), geomean(e2e_ratios, families)
        print(f"geometric-mean ratio esmarket/Clarabel, {label} ({count} instances): "
              f"solve {gs:.2f}, end-to-end {ge:.2f}")
    print(f"failures (status or objective): {', '.join(failures) if failures else 'none'}")
    print("clarabel = DefaultSolver construction (setup) + solve(); esm solve = stats.solveSeconds; "
          "esm e2e = esm_clear wall time on the JSON string (parse + solve + encode); "
          "ratios < 1: esmarket faster;\nrel Δobj = |Δobjective| / max(1, |objective|); res = max(‖Ax + s − b‖∞/(1 + ‖b‖∞), "
          "‖Px + q + Aᵀy‖∞/(1 + ‖q‖∞)) of each solver's answer.")


if __name__ == "__main__":
    main()
