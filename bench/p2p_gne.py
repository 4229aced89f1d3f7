#!/usr/bin/env python3
"""Benchmark: p2p_gne centralized (the v-GNE as the minimizer of the potential) against the
independent CVXPY + Clarabel model of the same potential QP, side by side in one run.

Instances: Tests/python/gne_reference.py's random builder (until the p2p_gne case generator
exists) on the built-in ieee37 feeder, the paper's linear angle operator model, Nash, H = 24,
connectivity 0.6, N prosumers per row; --seeds instances per size.

For each instance it times, on the identical document:
  * esmarket: esm_clear on the JSON string through ctypes, end to end (parse + build + solve +
    report + encode), median of --repeat runs, with the library's stats.solveSeconds. Two
    variants: the default clearing (which also solves the standalone game without trades and
    re-solves every prosumer's priced best response, `verifyEquilibrium`), and
    verifyEquilibrium false (the potential QP and the standalone game);
  * CVXPY + Clarabel: gne_reference.reference (model build + solve) and Clarabel's own solve time.
Both at tolerance 1e-8 (esmarket's default; Clarabel's tol_gap_abs/rel and tol_feas).
Prints times, ratios (CVXPY total / esmarket end to end) and the relative difference of Φ.

    swift build -c release --product esmarket
    python3 bench/p2p_gne.py                          # N = 10 20 40 80, 2 seeds each
    python3 bench/p2p_gne.py --sizes 80 --seeds 5 --repeat 5
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "Tests" / "python"))
from esm_ctypes import call, load_library  # noqa: E402


def document(n, seed, periods):
    import gne_reference as ref
    return ref.random_document(1000 * n + seed, prosumers=n, periods=periods, feeder="ieee37", expand=True,
                               model="linear_angle", equilibrium="nash", connectivity=0.6, tolerance=None)


def esmarket_time(lib, doc, repeat):
    text = json.dumps(doc).encode()
    times, reply = [], None
    for _ in range(repeat):
        reply, seconds = call(lib, "esm_clear", text)
        times.append(seconds)
    out = json.loads(reply)
    return statistics.median(times), out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 40, 80])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--periods", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lib", default=None)
    args = parser.parse_args()
    import gne_reference as ref

    lib = load_library(args.lib)
    print(f"p2p_gne centralized vs CVXPY + Clarabel: ieee37 (expanded), linear_angle, Nash, H = {args.periods}, "
          f"connectivity 0.6, tolerance 1e-8; esmarket median of {args.repeat}")
    head = (f"{'N':>4} {'seed':>4} {'trades':>6} {'esm s':>8} {'solve s':>8} {'iters':>5} {'noverify s':>10} "
            f"{'cvxpy s':>8} {'clarabel s':>10} {'cvxpy/esm':>9} {'cvxpy/nv':>8} {'clar/nv':>7} {'|ΔΦ|/Φ':>8}")
    print(head)
    print("-" * len(head))
    for n in args.sizes:
        for seed in range(args.seeds):
            doc = document(n, seed, args.periods)
            full, out = esmarket_time(lib, doc, args.repeat)
            quick_doc = json.loads(json.dumps(doc))
            quick_doc["options"]["verifyEquilibrium"] = False
            quick, out_quick = esmarket_time(lib, quick_doc, args.repeat)
            expected = ref.reference(doc, tolerances=(1e-8,))
            clarabel = float("nan")
            if "solver_seconds" in expected:
                clarabel = expected["solver_seconds"]
            if out.get("status") != "solved" or expected["status"] != "optimal":
                print(f"{n:>4} {seed:>4}  esmarket {out.get('status')}, reference {expected['status']}")
                continue
            phi = out["objective"]["potential"]
            diff = abs(phi - expected["potential"]) / max(1.0, abs(expected["potential"]))
            stats = out["stats"]
            print(f"{n:>4} {seed:>4} {len(out.get('trades', [])):>6} {full:>8.4f} {stats['solveSeconds']:>8.4f} "
                  f"{stats['iterations']:>5} {quick:>10.4f} {expected['seconds']:>8.3f} {clarabel:>10.4f} "
                  f"{expected['seconds'] / full:>8.1f}x {expected['seconds'] / quick:>7.1f}x "
                  f"{clarabel / quick:>6.1f}x {diff:>8.1e}", flush=True)
    print("esm s: esm_clear end to end (default: + standalone game + priced best responses); solve s: its "
          "stats.solveSeconds;\nnoverify s: end to end with verifyEquilibrium false; cvxpy s: CVXPY model "
          "build + Clarabel solve; clarabel s: Clarabel's own solve time.")


if __name__ == "__main__":
    main()
