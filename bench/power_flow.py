#!/usr/bin/env python3
"""esmarket's `power_flow` (the backward/forward sweep behind the C API) on the built-in feeders.

    python3 bench/power_flow.py [--repeat 21] [--periods 1,96]

For each feeder and number of periods, the problem document is prepared once (the feeder's own
loads, every load scaled per period by a daily-like factor in 0.4 … 1.2) and cleared through
esm_clear (ctypes). Reported, medians of --repeat calls: the call end to end (JSON in, JSON out),
the library's own stats.solveSeconds (the sweeps) and parseSeconds, the sweeps of the slowest
period, per feeder-period time, and the status. esmarket only: the comparison with pandapower and
power-grid-model lives with the pandapower importer.
"""
import argparse
import json
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from esm_ctypes import call, load_library  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--periods", default="1,96")
    parser.add_argument("--feeders", default="ieee33bw,ieee37,ieee123")
    args = parser.parse_args(argv)
    lib = load_library()
    print(f"{'feeder':10} {'periods':>7} {'call ms':>9} {'solve ms':>9} {'parse ms':>9} {'µs/period':>10} {'sweeps':>6}  status")
    for feeder in args.feeders.split(","):
        for periods in (int(p) for p in args.periods.split(",")):
            text = periods_document(feeder, periods)
            calls, solves, parses = [], [], []
            reply = None
            for _ in range(args.repeat):
                raw, seconds = call(lib, "esm_clear", text)
                reply = json.loads(raw)
                calls.append(seconds)
                solves.append(reply["stats"]["solveSeconds"])
                parses.append(reply["stats"]["parseSeconds"])
            call_ms = statistics.median(calls) * 1e3
            print(f"{feeder:10} {periods:7d} {call_ms:9.3f} {statistics.median(solves) * 1e3:9.3f} "
                  f"{statistics.median(parses) * 1e3:9.3f} {call_ms * 1e3 / periods:10.1f} "
                  f"{reply['stats']['iterations']:6d}  {reply['status']}")


def periods_document(feeder: str, periods: int) -> bytes:
    """The feeder's own bus loads, scaled per period by a daily-like factor (0.4 … 1.2)."""
    doc = {"schema": "esmarket/1", "mechanism": "power_flow", "network": {"builtin": feeder}}
    if periods > 1:
        net = builtin_network(feeder)
        factors = [0.8 + 0.4 * math.sin(2 * math.pi * t / periods) for t in range(periods)]
        for bus in net["buses"]:
            p, q = bus.get("pLoadKW", 0.0), bus.get("qLoadKVAr", 0.0)
            bus["pLoadKW"] = [p * f for f in factors]
            bus["qLoadKVAr"] = [q * f for f in factors]
        doc = {"schema": "esmarket/1", "mechanism": "power_flow", "periods": periods, "network": net}
    return json.dumps(doc).encode()


def builtin_network(name: str) -> dict:
    """The built-in feeder's network document, read from the Swift sources (no library call)."""
    import re
    text = (Path(__file__).resolve().parents[1] / "Sources" / "ESMGrid" / "BuiltinFeeders.swift").read_text()
    for key, body in re.findall(r'case \.(\w+): return #"(.*?)"#', text):
        if key == name:
            return json.loads(body)
    raise SystemExit(f"no built-in feeder {name}")


if __name__ == "__main__":
    main()
