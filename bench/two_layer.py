#!/usr/bin/env python3
"""Benchmark: two_layer on the IEEE 123-bus feeder, side by side in one run.

On the identical generated case (two_layer.md §5.4: 75 communities x 150 prosumers = 11,250,
seed 1, with and without the congested line) it times:
  * esmarket direct (default): esm_clear on the JSON string, end to end (parse + solve +
    encode), median of several runs, with the library's phase split from `stats`;
  * esmarket bidding: the paper's hierarchical bidding, end to end, and its iterations;
  * CVXPY + Clarabel (when installed) on the equivalent problem (EQ), model build included;
then prints a scaling series of direct (JSON in -> JSON out) up to a million prosumers.

    swift build -c release --product esmarket
    python3 bench/two_layer.py                      # main table + scaling 1k .. 1M
    python3 bench/two_layer.py --scaling 1000 10000 # smaller scaling series
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "Tests" / "python"))
from esm_ctypes import call, load_library  # noqa: E402


def timed(lib, text, repeat):
    totals, stats = [], []
    for _ in range(repeat):
        reply, seconds = call(lib, "esm_clear", text)
        totals.append(seconds)
        stats.append(json.loads(reply)["stats"])
    k = totals.index(sorted(totals)[len(totals) // 2])
    return json.loads(reply), statistics.median(totals), stats[k]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scaling", type=int, nargs="*", default=[1000, 11250, 100000, 1000000])
    parser.add_argument("--no-cvxpy", action="store_true")
    args = parser.parse_args()
    lib = load_library()
    try:
        import test_two_layer  # noqa: F401  (needs cvxpy)
        have_cvxpy = not args.no_cvxpy
    except Exception:  # cvxpy missing
        have_cvxpy = False

    print(f"two_layer, IEEE 123-bus feeder, 75 communities x 150 prosumers (seed {args.seed}); ms, median of {args.repeat}")
    header = (f"{'case':>10} | {'direct total':>12} {'parse':>6} {'solve':>6} {'encode':>6} | {'bidding':>8} {'iters':>6} | "
              f"{'cvxpy+clarabel':>14} {'ratio':>6} | {'|Δprice| bid':>12} {'|Δprice| cvx':>12} {'Δcost cvx':>9}")
    print(header)
    print("-" * len(header))
    for congestion in (False, True):
        spec = {"mechanism": "two_layer", "feeder": "ieee123", "prosumers": 11250, "seed": args.seed}
        if congestion:
            spec["congestion"] = True
        text, _ = call(lib, "esm_generate_case", json.dumps(spec).encode())
        direct, total, stats = timed(lib, text, args.repeat)
        problem = json.loads(text)
        problem["options"] = {"algorithm": "bidding"}
        bidding, bid_total, bid_stats = timed(lib, json.dumps(problem).encode(), max(1, args.repeat // 2))
        prices = [c["price"] for c in direct["communities"]]
        dbid = max(abs(a - b["price"]) for a, b in zip(prices, bidding["communities"]))
        cv_col, ratio, dcv, dcost = "-", "-", float("nan"), float("nan")
        if have_cvxpy:
            from test_two_layer import solve_eq_with_cvxpy
            problem.pop("options")
            if "builtin" in problem["network"]:
                shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "feeders" / "ieee123.json"
                network = json.loads(shared.read_text())
                network.pop("model", None)
                problem["network"] = network
            start = time.perf_counter()
            social, cv_prices, _ = solve_eq_with_cvxpy(problem)
            cv_seconds = time.perf_counter() - start
            cv_col, ratio = f"{cv_seconds * 1e3:14.0f}", f"{cv_seconds / total:5.0f}x"
            dcv = max(abs(a - b) for a, b in zip(prices, cv_prices))
            dcost = abs(social - direct["objective"]["socialCost"]) / abs(social)
        name = "congested" if congestion else "free"
        print(f"{name:>10} | {total * 1e3:12.1f} {stats['parseSeconds'] * 1e3:6.1f} {stats['solveSeconds'] * 1e3:6.1f} "
              f"{(total - stats['parseSeconds'] - stats['solveSeconds']) * 1e3:6.1f} | {bid_total * 1e3:8.1f} "
              f"{bid_stats['iterations']:6d} | {cv_col:>14} {ratio:>6} | {dbid:12.1e} {dcv:12.1e} {dcost:9.1e}")
        o = direct["objective"]
        print(f"{'':>10}   costs: no sharing {o['noSharingCost']:.1f} > LAM-only {o['lamOnlyCost']:.1f} > two-layer "
              f"{o['twoLayerCost']:.1f} >= social optimum {o['socialOptimumCost']:.1f} (gap {o['efficiencyGap'] * 100:.3f} %)")
        sys.stdout.flush()

    if args.scaling:
        print("\nscaling of direct, end to end (JSON string in -> JSON string out), 75 communities:")
        print(f"{'prosumers':>10} | {'JSON MB':>8} | {'total ms':>9} {'parse':>8} {'solve':>8} {'encode':>8} | {'µs/prosumer':>11}")
        for n in args.scaling:
            spec = {"mechanism": "two_layer", "feeder": "ieee123", "prosumers": n, "seed": args.seed}
            text, _ = call(lib, "esm_generate_case", json.dumps(spec).encode())
            repeat = 3 if n <= 100000 else 1
            _, total, stats = timed(lib, text, repeat)
            print(f"{n:>10} | {len(text) / 1e6:8.1f} | {total * 1e3:9.1f} {stats['parseSeconds'] * 1e3:8.1f} "
                  f"{stats['solveSeconds'] * 1e3:8.1f} {(total - stats['parseSeconds'] - stats['solveSeconds']) * 1e3:8.1f} | "
                  f"{total / n * 1e6:11.2f}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
