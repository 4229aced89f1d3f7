#!/usr/bin/env python3
"""Benchmark: peak memory (RSS) of clearing a large case through the C API.

For each mechanism, a first child process generates the case (esm_generate_case) and writes it
to a temporary file; a second child process loads the library, reads the file and clears it
(esm_clear), a third only loads the library and reads the file (the baseline: Python,
libesmarket and the input document), and a fourth parses the document with json-c alone (the
tree esmarket's decoder walks), to show how much of the peak that tree is. Each child's peak RSS is its rusage from os.wait4
(ru_maxrss, the kernel's high-water mark), so nothing of the parent or of the generation is
counted in the clearing's figure.

    swift build -c release --product esmarket
    python3 bench/memory.py                                  # 1,000,000 prosumers, energy_sharing and two_layer
    python3 bench/memory.py --prosumers 100000 --mechanism two_layer

Prints one line per mechanism: document size, peak RSS of the generation, of the baseline and
of the clearing, the clearing's increment over the baseline per prosumer, status and wall time.
Exits non-zero if a clearing fails or its peak exceeds --max-mb (default 4096).
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys, time
sys.path.insert(0, {here!r})
from esm_ctypes import call, load_library
lib = load_library()
mode, path = sys.argv[1], sys.argv[2]
if mode == "generate":
    spec = json.loads(sys.argv[3])
    reply, seconds = call(lib, "esm_generate_case", json.dumps(spec).encode())
    open(path, "wb").write(reply)
    print(json.dumps({{"seconds": seconds}}))
else:
    text = open(path, "rb").read()
    if mode == "clear":
        reply, seconds = call(lib, "esm_clear", text)
        doc = json.loads(reply)
        print(json.dumps({{"seconds": seconds, "status": doc["status"], "resultMB": len(reply) / 1e6,
                          "prosumers": len(doc.get("prosumers", []))}}))
    elif mode == "jsonc":
        import ctypes
        jc = ctypes.CDLL("libjson-c.so.5")
        jc.json_tokener_parse.restype = ctypes.c_void_p
        jc.json_tokener_parse.argtypes = [ctypes.c_char_p]
        print(json.dumps({{"seconds": 0, "parsed": bool(jc.json_tokener_parse(text))}}))
    else:
        print(json.dumps({{"seconds": 0}}))
"""


def run_child(*args):
    """(stdout JSON, peak RSS in MB) of one child process."""
    code = CHILD.format(here=str(HERE))
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    import json
    return json.loads(out), usage.ru_maxrss / 1024.0  # ru_maxrss is in KiB on Linux


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prosumers", type=int, default=1_000_000)
    ap.add_argument("--mechanism", action="append", choices=["energy_sharing", "two_layer", "social_optimum"])
    ap.add_argument("--feeder", default="ieee123")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-mb", type=float, default=4096)
    args = ap.parse_args()
    mechanisms = args.mechanism or ["energy_sharing", "two_layer"]
    import json
    print(f"peak RSS of esm_clear, {args.prosumers:,} prosumers, {args.feeder} feeder (seed {args.seed}); "
          f"each figure is one child process's ru_maxrss")
    print(f"{'mechanism':>15} | {'doc MB':>7} | {'generate MB':>11} | {'baseline MB':>11} | {'json-c MB':>9} | "
          f"{'clear MB':>9} | {'B/prosumer':>10} | {'status':>8} | {'clear s':>7}")
    print("-" * 112)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for mechanism in mechanisms:
            path = os.path.join(tmp, f"{mechanism}.json")
            spec = {"mechanism": mechanism, "prosumers": args.prosumers, "seed": args.seed, "feeder": args.feeder}
            _, generate_mb = run_child("generate", path, json.dumps(spec))
            size_mb = os.path.getsize(path) / 1e6
            _, baseline_mb = run_child("read", path)
            _, jsonc_mb = run_child("jsonc", path)
            info, clear_mb = run_child("clear", path)
            per = (clear_mb - baseline_mb) * 1024 * 1024 / args.prosumers
            print(f"{mechanism:>15} | {size_mb:7.1f} | {generate_mb:11.0f} | {baseline_mb:11.0f} | {jsonc_mb:9.0f} | {clear_mb:9.0f} | "
                  f"{per:10.0f} | {info['status']:>8} | {info['seconds']:7.2f}")
            if info["status"] not in ("solved", "solved_inaccurate") or info["prosumers"] != args.prosumers \
                    or clear_mb > args.max_mb:
                failed = True
            os.unlink(path)
    print("doc MB: the problem document; generate MB: peak of the child that generated it; baseline MB: peak of a "
          "child that loads the library and reads the document; json-c MB: peak of a child that also parses it with json-c alone; clear MB: peak of the child that also clears it "
          "(document, json-c tree, model, result string and its copy into Python); B/prosumer: (clear - baseline) "
          "per prosumer.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
