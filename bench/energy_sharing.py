#!/usr/bin/env python3
"""Benchmark: energy_sharing on generated IEEE 123-bus community cases, side by side in one run.

For each size it times, on the identical problem:
  * esmarket exact (default): esm_clear on the JSON string, end to end (parse + solve + encode),
    median of several runs, with the library's own phase split from `stats`;
  * esmarket centralized: the same equilibrium as a QP solved by esmarket's interior-point solver;
  * CVXPY + Clarabel (when installed): the same QP (two_layer.md §3.4, balanced community) built
    and solved in CVXPY, model build included.
and prints times, ratios and the largest price / social-cost differences.

    swift build -c release --product esmarket
    python3 bench/energy_sharing.py                     # sizes 1000 12300 100000
    python3 bench/energy_sharing.py --sizes 12300 --repeat 9
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from esm_ctypes import call, load_library  # noqa: E402


def cvxpy_reference(problem):
    """The balanced community's potential QP in CVXPY + Clarabel: (seconds, price, social cost)."""
    import cvxpy as cp
    import numpy as np

    start = time.perf_counter()
    people = problem["prosumers"]
    a = problem["communities"][0]["sensitivity"]
    buy, sell = problem["grid"]["buyPrice"], problem["grid"]["sellPrice"]
    flex = [p.get("flex", {}) for p in people]
    c = np.array([f.get("costA", 0.0) for f in flex])
    b = np.array([f.get("costB", 0.0) for f in flex])
    lo = np.array([f.get("minKW", 0.0) for f in flex])
    hi = np.array([f.get("maxKW", 0.0) for f in flex])
    demand = np.array([p.get("loadKW", 0.0) - p.get("pvKW", 0.0) for p in people])
    n = len(people)
    p, x = cp.Variable(n), cp.Variable(n)
    u, v = cp.Variable(n, nonneg=True), cp.Variable(n, nonneg=True)
    clearing = cp.sum(x) == 0
    objective = 0.5 * cp.sum(cp.multiply(c, cp.square(p))) + b @ p + buy * cp.sum(u) - sell * cp.sum(v) \
        + 0.5 * a * cp.sum_squares(x)
    qp = cp.Problem(cp.Minimize(objective), [demand + x + v == p + u, p >= lo, p <= hi, clearing])
    qp.solve(solver=cp.CLARABEL)
    seconds = time.perf_counter() - start
    social = float(0.5 * c @ p.value**2 + b @ p.value + buy * u.value.sum() - sell * v.value.sum())
    # CVXPY's dual of Σx = 0 is the multiplier of the Lagrangian term +λ·Σx: the price is −λ.
    return seconds, float(-clearing.dual_value), social


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 12300, 100000])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-cvxpy", action="store_true")
    args = parser.parse_args()
    lib = load_library()
    try:
        import cvxpy  # noqa: F401
        have_cvxpy = not args.no_cvxpy
    except ImportError:
        have_cvxpy = False

    print(f"energy_sharing, IEEE 123-bus community case (seed {args.seed}); times in ms, median of {args.repeat}")
    header = f"{'prosumers':>9} | {'exact total':>11} {'parse':>7} {'solve':>7} {'encode':>7} | {'centralized':>11} {'iters':>5} " \
             f"{'|Δprice|':>8} | {'cvxpy+clarabel':>14} {'ratio':>7} {'|Δprice|':>8} {'rel Δcost':>9}"
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        spec = json.dumps({"mechanism": "energy_sharing", "feeder": "ieee123", "prosumers": n, "seed": args.seed})
        problem_text, _ = call(lib, "esm_generate_case", spec.encode())
        totals, stats = [], []
        for _ in range(args.repeat):
            reply, seconds = call(lib, "esm_clear", problem_text)
            totals.append(seconds)
            stats.append(json.loads(reply)["stats"])
        exact = json.loads(reply)
        k = totals.index(statistics.median(totals)) if args.repeat % 2 else 0
        parse, solve = stats[k]["parseSeconds"], stats[k]["solveSeconds"]
        total = statistics.median(totals)
        problem = json.loads(problem_text)
        problem["options"] = {"algorithm": "centralized"}
        central_reply, central_seconds = call(lib, "esm_clear", json.dumps(problem).encode())
        central = json.loads(central_reply)
        price = exact["communities"][0]["price"]
        cost = exact["objective"]["socialCost"]
        dcentral = abs(central["communities"][0]["price"] - price)
        cv, ratio, dprice, dcost = "-", "-", float("nan"), float("nan")
        if have_cvxpy:
            cv_seconds, cv_price, cv_cost = cvxpy_reference(problem)
            cv = f"{cv_seconds * 1e3:14.1f}"
            ratio = f"{cv_seconds / total:6.0f}x"
            dprice = abs(cv_price - price)
            dcost = abs(cv_cost - cost) / abs(cost)
        print(f"{n:>9} | {total * 1e3:11.1f} {parse * 1e3:7.1f} {solve * 1e3:7.1f} "
              f"{(total - parse - solve) * 1e3:7.1f} | {central_seconds * 1e3:11.1f} {central['stats']['iterations']:5d} "
              f"{dcentral:8.1e} | {cv:>14} {ratio:>7} {dprice:8.1e} {dcost:9.1e}")
        sys.stdout.flush()
    print("exact total = esm_clear wall time (JSON string in -> JSON string out); ratio = cvxpy / exact total;")
    print("|Δprice| of each reference against the exact method; CVXPY+Clarabel at its default tolerances.")


if __name__ == "__main__":
    main()
