#!/usr/bin/env python3
"""Benchmark: social_optimum on the IEEE 123-bus feeder, esmarket vs CVXPY + Clarabel in one run.

For each size and network model it times, on the identical problem:
  * esmarket: esm_clear on the JSON string through ctypes, end to end (parse + build + solve +
    prices + AC verification + encode), median of several runs, with the library's own split
    (parse = decoding the document; solve = the whole mechanism: the exact bus aggregation's
    network solves, prices, AC check; iters = interior-point iterations over all those solves);
  * CVXPY + Clarabel: the independent reference model of Tests/python/test_social_optimum.py
    (SOC branch flow / LinDistFlow written from the equations), model build + solve, with
    Clarabel at the same tolerance esmarket's solver runs at (1e-9);
and prints the ratio and the differences in objective, voltages and bus prices.

The instances are esm_generate_case(mechanism="social_optimum", feeder="ieee123", ...) with two
changes, both printed in the header: vMinPu 0.9 (the generated 0.95 is below what the feeder
reaches even without prosumers: 0.945 pu), and, above 12,300 prosumers, every prosumer's kW
(load, reactive load, pv, flex bounds, costA inverse) scaled by 12,300 / n so that the feeder
carries the same total as at 12,300: 100,000 generated prosumers at full size are 20 MW of extra
load on a 3.5 MW feeder, which no voltage can carry (esmarket reports that as infeasible).

    swift build -c release --product esmarket
    python3 bench/social_optimum.py                         # sizes 1000 12300 100000, socp and lindistflow
    python3 bench/social_optimum.py --sizes 12300 --models socp --repeat 9
"""
import argparse
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FULL_SIZE = 12300

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "Tests" / "python"))   # the reference's own imports (feeder_documents)
from esm_ctypes import call, load_library  # noqa: E402


def reference_model():
    """The CVXPY + Clarabel model of the Python test suite (imported, not copied)."""
    spec = importlib.util.spec_from_file_location("social_optimum_reference",
                                                  ROOT / "Tests" / "python" / "test_social_optimum.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return lambda problem: module.reference(problem, tolerances=(1e-9,))


def instance(lib, n, model, seed, v_min):
    spec = json.dumps({"mechanism": "social_optimum", "feeder": "ieee123", "prosumers": n, "seed": seed})
    problem = json.loads(call(lib, "esm_generate_case", spec.encode())[0])
    problem["network"]["vMinPu"] = v_min
    problem["network"]["model"] = model
    scale = min(1.0, FULL_SIZE / n)
    if scale < 1:
        for p in problem["prosumers"]:
            for key in ("loadKW", "qLoadKVAr", "pvKW"):
                if key in p:
                    p[key] *= scale
            f = p.get("flex")
            if f:
                f["minKW"] *= scale
                f["maxKW"] *= scale
                f["costA"] /= scale     # the same marginal cost curve per kW of the bus aggregate
    return problem, scale


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 12300, 100000])
    parser.add_argument("--models", nargs="+", default=["socp", "lindistflow"], choices=["socp", "lindistflow"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--vmin", type=float, default=0.9)
    parser.add_argument("--no-cvxpy", action="store_true")
    args = parser.parse_args()
    lib = load_library()
    reference = None
    if not args.no_cvxpy:
        try:
            reference = reference_model()
        except ImportError as error:
            print(f"(CVXPY reference unavailable: {error})")

    print(f"social_optimum, IEEE 123-bus feeder (generated, seed {args.seed}, vMinPu {args.vmin}); "
          f"esmarket: median of {args.repeat}, times in ms")
    header = (f"{'model':>11} {'prosumers':>9} {'kW scale':>8} | {'esmarket':>9} {'parse':>7} {'solve':>7} {'iters':>5} | "
              f"{'cvxpy+clarabel':>14} {'ratio':>6} | {'rel Δobj':>8} {'max|ΔV| pu':>10} {'max|Δprice|':>11}")
    print(header)
    print("-" * len(header))
    for model in args.models:
        for n in args.sizes:
            problem, scale = instance(lib, n, model, args.seed, args.vmin)
            text = json.dumps(problem).encode()
            runs = []
            for _ in range(args.repeat):
                reply, seconds = call(lib, "esm_clear", text)
                runs.append((seconds, reply))
            runs.sort(key=lambda run: run[0])
            total, reply = runs[len(runs) // 2]          # the median run, with its own phase split
            result = json.loads(reply)
            stats = result["stats"]
            line = (f"{model:>11} {n:>9} {scale:>8.3f} | {total * 1e3:9.1f} {stats['parseSeconds'] * 1e3:7.1f} "
                    f"{stats['solveSeconds'] * 1e3:7.1f} {stats['iterations']:>5} | ")
            if result["status"] != "solved":
                print(line + f"esmarket: {result['status']} {result['message'][:80]}")
                continue
            if reference is None:
                print(line + f"{'-':>14} {'-':>6} |")
                continue
            ref = reference(problem)
            if ref["status"] != "optimal":
                print(line + f"{ref['seconds'] * 1e3:14.1f} {'-':>6} | cvxpy: {ref['status']}")
                continue
            cost = result["objective"]["socialCost"]
            dobj = abs(cost - ref["objective"]) / abs(ref["objective"])
            dv = max(abs(b["vPu"] - ref["v"][b["id"]]) for b in result["buses"])
            dprice = max(abs(b["price"] - ref["price"][b["id"]]) for b in result["buses"])
            print(line + f"{ref['seconds'] * 1e3:14.1f} {ref['seconds'] / total:5.1f}x | "
                  f"{dobj:8.1e} {dv:10.1e} {dprice:11.1e}")
            sys.stdout.flush()
    print("esmarket = esm_clear wall time (JSON string in -> JSON string out, AC power-flow check included for socp);")
    print("cvxpy+clarabel = model build + solve of the test suite's reference; ratio = cvxpy / esmarket.")


if __name__ == "__main__":
    main()
