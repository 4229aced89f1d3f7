#!/usr/bin/env python3
"""Two builds of libesmarket side by side on the built-in cases (and, with --conic, on the conic
benchmark's instances up to 10,000 prosumers): did a change move the mechanisms or the solver?

Times drift by 5-40 % between runs on a shared VM, so a before/after figure taken from two runs of
a benchmark says little; this interleaves the two libraries call by call on identical documents
and reports medians, iterations and statuses of each.

    git worktree add /tmp/esm-old <commit> && (cd /tmp/esm-old && swift build -c release --product esmarket)
    python3 bench/compare_builds.py /tmp/esm-old/.build/release/libesmarket.so .build/release/libesmarket.so
"""
import argparse
import importlib.util
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from esm_ctypes import call, load_library  # noqa: E402

# (label, mechanism, prosumers, seed, network model or None)
CASES = [
    ("energy_sharing", "energy_sharing", 12300, 7, None),
    ("two_layer", "two_layer", 11250, 7, None),
    ("social_optimum socp", "social_optimum", 12300, 7, "socp"),
    ("social_optimum lindistflow", "social_optimum", 12300, 7, "lindistflow"),
    ("two_layer_voltage", "two_layer_voltage", 12300, 1, None),
]


def documents(lib, conic):
    """(label, JSON bytes) of every case."""
    for label, mechanism, n, seed, model in CASES:
        spec = {"mechanism": mechanism, "feeder": "ieee123", "prosumers": n, "seed": seed}
        doc = json.loads(call(lib, "esm_generate_case", json.dumps(spec).encode())[0])
        if model:
            doc["network"]["model"] = model
            doc["network"]["vMinPu"] = 0.9
        yield label, json.dumps(doc).encode()
    if conic:
        spec = importlib.util.spec_from_file_location("esm_bench_conic", Path(__file__).resolve().parent / "conic.py")
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
        for name, build in bench.instances(quick=False):
            if name != "socp-3000" and not name.endswith("100000"):
                yield f"conic {name}", json.dumps(bench.esm_document(build())).encode()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--conic", action="store_true", help="also bench/conic.py's instances (not socp-3000, not 100,000)")
    args = parser.parse_args()
    libs = {"before": load_library(args.before), "after": load_library(args.after)}
    print(f"before = {args.before}\nafter  = {args.after}\nmedian of {args.repeat}, interleaved; times in ms")
    print(f"{'case':<28} | {'before solve':>12} {'total':>8} {'it':>4} | {'after solve':>12} {'total':>8} {'it':>4} | "
          f"{'solve ratio':>11}  status")
    for label, text in documents(libs["after"], args.conic):
        runs = {k: [] for k in libs}
        for _ in range(args.repeat):
            for k, lib in libs.items():
                reply, seconds = call(lib, "esm_clear", text)
                result = json.loads(reply)
                runs[k].append((result["stats"].get("solveSeconds", 0.0), seconds,
                                result["stats"].get("iterations"), result["status"]))
        row = {}
        for k, v in runs.items():
            row[k] = (statistics.median(x[0] for x in v) * 1e3, statistics.median(x[1] for x in v) * 1e3, v[0][2], v[0][3])
        b, a = row["before"], row["after"]
        status = b[3] if b[3] == a[3] else f"{b[3]} -> {a[3]}"
        print(f"{label:<28} | {b[0]:12.1f} {b[1]:8.1f} {b[2]!s:>4} | {a[0]:12.1f} {a[1]:8.1f} {a[2]!s:>4} | "
              f"{a[0] / b[0] if b[0] > 0 else float('nan'):11.2f}  {status}")


if __name__ == "__main__":
    main()
