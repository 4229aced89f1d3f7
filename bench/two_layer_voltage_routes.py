"""How often a community's cost is convex in its injection, on generated two_layer_voltage cases.

For each case: communities whose C(G) is convex (route `convex`), those that are not but whose
convex envelope is exact at the optimum (`envelope`, no binaries), and those that needed binaries
(`misocp`); response pieces, binaries, branch-and-bound nodes, the end-to-end time (JSON string in
→ JSON string out) and the result's quality figures.

    python3 bench/two_layer_voltage_routes.py
"""
import json
from collections import Counter

from esm_ctypes import call, load_library

CASES = [("ieee33bw", 100), ("ieee33bw", 1000), ("ieee37", 1000), ("ieee123", 1000), ("ieee123", 3000),
         ("ieee123", 12300)]
SEEDS = (1, 2, 3)


def main():
    lib = load_library()
    print(f"{'feeder':9} {'prosumers':>9} {'seed':>4} {'comm.':>5} {'convex':>6} {'envelope':>8} {'misocp':>6} "
          f"{'pieces':>6} {'binaries':>8} {'e2e ms':>7} {'embedding':>9} {'AC viol.':>8} {'V_min AC':>8}")
    totals = Counter()
    for feeder, prosumers in CASES:
        for seed in SEEDS:
            spec = {"mechanism": "two_layer_voltage", "feeder": feeder, "prosumers": prosumers, "seed": seed}
            problem, _ = call(lib, "esm_generate_case", json.dumps(spec).encode())
            reply, seconds = call(lib, "esm_clear", problem)
            result = json.loads(reply)
            routes = Counter(c["route"] for c in result["communities"])
            totals.update(routes)
            q, up = result["quality"], result["upperLayer"]
            print(f"{feeder:9} {prosumers:9d} {seed:4d} {len(result['communities']):5d} {routes['convex']:6d} "
                  f"{routes['envelope']:8d} {routes['misocp']:6d} {int(up['pieces']):6d} {int(up['binaries']):8d} "
                  f"{seconds * 1e3:7.1f} {q['embeddingErrorMax']:9.1e} {q['acVoltageViolationMaxPu']:8.1e} "
                  f"{q['acVoltageMinPu']:8.5f}  {result['status']}")
    n = sum(totals.values())
    print(f"\nall cases: {n} communities — convex {totals['convex']} ({100 * totals['convex'] / n:.1f} %), "
          f"envelope exact {totals['envelope']} ({100 * totals['envelope'] / n:.1f} %), "
          f"binaries needed {totals['misocp']} ({100 * totals['misocp'] / n:.1f} %)")


if __name__ == "__main__":
    main()
