"""A co-simulation loop: one day of quarter-hours on the headline case, through a session.

    python3 examples/python/cosimulation.py [--prosumers 12300] [--steps 96] [--seed 7]

A grid simulator that clears the market every quarter-hour keeps the feeder and the prosumers in
an esmarket.Session and hands it, each step, only what changed: every prosumer's load and PV for
that quarter-hour (columns in the session's order). The profiles here are a daily load shape with
morning and evening peaks and a PV bell between 6:00 and 18:00, each prosumer's own values scaled
with some noise. Prints each hour's market (status, community prices, lowest voltage, step time)
and a summary; at the end checks the last step against a fresh esmarket.clear of the session's
document (state()).
"""
import argparse
import math
import random
import statistics
import sys
import time

import esmarket


def load_shape(hour):
    """Relative load over the day: night base, a morning peak and the evening peak at 0.55 of
    the generated case's loads. That case is a noon-like snapshot whose 0.985 pu voltage floor
    binds with its PV; without PV the floor holds up to about 0.55 of its loads (0.6 answers
    infeasible: no upper-layer price keeps every voltage within its limits)."""
    return 0.3 + 0.1 * math.exp(-((hour - 8.0) / 1.5) ** 2) + 0.25 * math.exp(-((hour - 19.0) / 2.0) ** 2)


def pv_shape(hour):
    """Relative PV output: a bell between 6:00 and 18:00."""
    return max(0.0, math.sin(math.pi * (hour - 6.0) / 12.0)) if 6.0 < hour < 18.0 else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prosumers", type=int, default=12300)
    parser.add_argument("--steps", type=int, default=96, help="quarter-hours from midnight (96 = one day)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    problem = esmarket.generate_case("two_layer_voltage", feeder="ieee123", prosumers=args.prosumers, seed=args.seed)
    people = problem["prosumers"]
    base_load = [p.get("loadKW", 0.0) for p in people]
    base_pv = [p.get("pvKW", 0.0) for p in people]
    rng = random.Random(args.seed)

    times, library, solved, cleared, result = [], [], 0, 0, None
    started = time.perf_counter()
    with esmarket.Session(problem) as session:
        print(f"session: two_layer_voltage, ieee123, {len(people)} prosumers; one step per quarter-hour")
        print(f"{'time':>5}  {'status':<17} {'price min..max':>18}  {'v min pu':>8}  {'step ms':>7}  {'(library':>8}  {'decode':>6}  {'clear)':>6}")
        for k in range(args.steps):
            hour = (k * 0.25) % 24
            loads = [round(b * load_shape(hour) * rng.uniform(0.9, 1.0), 4) for b in base_load]
            pv = [round(b * pv_shape(hour) * rng.uniform(0.8, 1.0), 4) for b in base_pv]
            t0 = time.perf_counter()
            result = session.step({"prosumers": {"loadKW": loads, "pvKW": pv}})
            times.append(time.perf_counter() - t0)
            stats = result.document.get("stats", {})
            library.append(stats.get("totalSeconds", 0.0))
            solved += result.status == "solved"
            cleared += result.status in ("solved", "solved_inaccurate")
            if k % 4 == 0 or k == args.steps - 1:
                prices = [c["price"] for c in result.document.get("communities", [])]
                volts = [b["vPu"] for b in result.document.get("buses", []) if "vPu" in b]
                price = f"{min(prices):.4f}..{max(prices):.4f}" if prices else "-"
                vmin = f"{min(volts):.4f}" if volts else "-"
                print(f"{int(hour):02d}:{int(60 * (hour % 1)):02d}  {result.status:<17} {price:>18}  {vmin:>8}  {1e3 * times[-1]:>7.1f}"
                      f"  {1e3 * library[-1]:>8.1f}  {1e3 * stats.get('parseSeconds', 0):>6.1f}  {1e3 * stats.get('solveSeconds', 0):>6.1f}")
        document = session.state()
    total = time.perf_counter() - started
    ms = sorted(1e3 * t for t in times)
    print(f"steps: {len(times)}, solved: {solved}, solved_inaccurate: {cleared - solved}; step ms median {statistics.median(ms):.1f}, "
          f"95th percentile {ms[min(len(ms) - 1, int(0.95 * len(ms)))]:.1f} (in the library: median "
          f"{1e3 * statistics.median(library):.1f}; the rest is Python encoding the update and reading "
          f"the result); whole loop {total:.1f} s")
    fresh = esmarket.clear(document)
    same = fresh.status == result.status and fresh.document.get("objective") == result.document.get("objective")
    print(f"last step equals a fresh clear of the session's document: {'yes' if same else 'NO'}")
    return 0 if same and cleared == len(times) else 1


if __name__ == "__main__":
    sys.exit(main())
