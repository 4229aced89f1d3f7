"""Python end to end: prosumers in as a DataFrame, prosumer results out as a DataFrame.

    python3 bench/python_roundtrip.py [--prosumers 12300] [--repeats 7] [--mechanism two_layer_voltage]

On the generated ieee123 case, side by side in one run:
  rows     the problem as a dict with prosumers as a list of dicts -> esmarket.clear ->
           Result.table("prosumers") (the row form both ways);
  columns  the same prosumers as a pandas DataFrame (esmarket.clear(problem, prosumers=df), the
           column form in) with options.output "columns" -> Result.table("prosumers").
Both tables must be equal (checked each run). Medians of --repeats runs, milliseconds, with the
library's own share (stats.totalSeconds) beside the wall time.
"""
import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bindings" / "python"))
import esmarket  # noqa: E402
import pandas as pd  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prosumers", type=int, default=12300)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--mechanism", default="two_layer_voltage")
    args = parser.parse_args()
    problem = esmarket.generate_case(args.mechanism, feeder="ieee123", prosumers=args.prosumers, seed=7)
    flat = {}
    for key, value in esmarket.prosumer_columns(problem["prosumers"]).items():
        if isinstance(value, dict):
            for field, column in value.items():
                flat[f"{key}.{field}"] = column
        else:
            flat[key] = value
    frame = pd.DataFrame(flat)
    columns_problem = copy.deepcopy(problem)
    columns_problem.setdefault("options", {})["output"] = "columns"
    rows_ms, cols_ms, rows_lib, cols_lib = [], [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        a = esmarket.clear(problem)
        table_a = a.table("prosumers")
        rows_ms.append(1e3 * (time.perf_counter() - t0))
        rows_lib.append(1e3 * a.document["stats"]["totalSeconds"])
        t0 = time.perf_counter()
        b = esmarket.clear(columns_problem, prosumers=frame)
        table_b = b.table("prosumers")
        cols_ms.append(1e3 * (time.perf_counter() - t0))
        cols_lib.append(1e3 * b.document["stats"]["totalSeconds"])
        pd.testing.assert_frame_equal(table_a, table_b)
    print(f"{args.mechanism}, ieee123, {len(problem['prosumers'])} prosumers; ms, median of {args.repeats}")
    print(f"{'form':>8} | {'end to end':>10} {'(library':>9} {'python)':>8}")
    for name, wall, lib in (("rows", rows_ms, rows_lib), ("columns", cols_ms, cols_lib)):
        w, l = statistics.median(wall), statistics.median(lib)
        print(f"{name:>8} | {w:>10.1f} {l:>9.1f} {w - l:>8.1f}")


if __name__ == "__main__":
    main()
