"""Real-time P2P trading with storage, one 15-minute slot at a time (mechanism p2p_online).

Generates a case on the IEEE 33-bus feeder (half the prosumers with a battery), opens a session
and hands it each slot's measurements (PV, load, prices) as a simulator would, then checks that
every slot was solved and every battery stayed within its bounds.

    PYTHONPATH=bindings/python python3 examples/python/online_session.py --prosumers 30 --days 30
"""
import argparse
import statistics
import sys
import time

import esmarket


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prosumers", type=int, default=30)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    slots = 96 * args.days
    case = esmarket.generate_case("p2p_online", prosumers=args.prosumers, periods=slots, seed=args.seed)
    people = case["prosumers"]
    bounds = {i: (p["storage"]["socMinKWh"], p["storage"]["socMaxKWh"]) for i, p in enumerate(people) if "storage" in p}
    buy, sell = case["grid"]["buyPrice"], case["grid"]["sellPrice"]

    latencies, cost, worst = [], 0.0, 0.0
    low, high = float("inf"), float("-inf")
    with esmarket.Session(case) as session:
        for t in range(slots):
            measurements = {"pvKW": [p["pvKW"][t] for p in people], "loadKW": [p["loadKW"][t] for p in people],
                            "buyPrice": buy[t], "sellPrice": sell}
            start = time.perf_counter()
            result = session.step(measurements)
            latencies.append(time.perf_counter() - start)
            if result.status != "solved":
                print(f"slot {t}: {result.status}: {result.message}")
                return 1
            cost += result.objective["totalCost"]
            for i, (lo, hi) in bounds.items():
                soc = result.prosumers[i]["socKWh"]
                low, high = min(low, soc), max(high, soc)
                worst = max(worst, lo - soc, soc - hi)
    latencies.sort()
    print(f"slots:             {slots} solved ({args.prosumers} prosumers, {len(bounds)} batteries)")
    print(f"state of charge:   {low:.3f} … {high:.3f} kWh, worst bound violation {max(worst, 0):.2e} kWh")
    print(f"total cost:        {cost:.2f}")
    print(f"step latency:      median {1000 * statistics.median(latencies):.2f} ms, "
          f"99th percentile {1000 * latencies[int(0.99 * (len(latencies) - 1))]:.2f} ms")
    return 0 if worst <= 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
