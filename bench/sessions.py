"""Repeated clearing: a full document per call against a session stepped with update documents.

    python3 bench/sessions.py [--prosumers 12300] [--repeats 7] [--mechanisms two_layer_voltage,...]

For each mechanism, on the generated ieee123 case, one run times through the C API (ctypes):
  full    esm_clear of the whole document (JSON text in, result text out);
  all     esm_session_step with every prosumer's loadKW and pvKW as columns (each ±10 %);
  1 %     esm_session_step changing loadKW of 1 % of the prosumers (rows by id);
and, for each, the library's own split (stats.parseSeconds: decoding, json-c's parse included;
stats.solveSeconds: clearing). Each update is also applied to the problem here and the
equivalent full document cleared with esm_clear ("full": the median over those same instances);
every step's status and objective must equal that fresh clear's, so the figures are of correct
answers. Medians of --repeats updates of each kind.
"""
import argparse
import ctypes
import json
import random
import statistics
import sys
import time

from esm_ctypes import ROOT, call, load_library

MECHANISMS = ["two_layer_voltage", "energy_sharing", "two_layer", "social_optimum"]


def session_functions(lib):
    lib.esm_session_new.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.esm_session_new.restype = ctypes.c_void_p
    lib.esm_session_step.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.esm_session_step.restype = ctypes.c_int
    lib.esm_session_free.argtypes = [ctypes.c_void_p]


def step(lib, session, update: bytes):
    out = ctypes.c_void_p()
    start = time.perf_counter()
    code = lib.esm_session_step(session, update, ctypes.byref(out))
    reply = ctypes.string_at(out.value)
    seconds = time.perf_counter() - start
    lib.esm_string_free(out)
    if code != 0:
        raise RuntimeError(reply.decode()[:500])
    return reply, seconds


def median_split(samples):
    """(median wall ms, median parse ms, median solve ms) of (reply, seconds) samples."""
    walls, parses, solves = [], [], []
    for reply, seconds in samples:
        stats = json.loads(reply).get("stats", {})
        walls.append(1e3 * seconds)
        parses.append(1e3 * stats.get("parseSeconds", 0))
        solves.append(1e3 * stats.get("solveSeconds", 0))
    return statistics.median(walls), statistics.median(parses), statistics.median(solves)


def objective(reply):
    document = json.loads(reply)
    return document["status"], document.get("objective", {})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prosumers", type=int, default=12300)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--mechanisms", default=",".join(MECHANISMS))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    lib = load_library()
    session_functions(lib)
    rng = random.Random(args.seed)
    print(f"{'mechanism':>18} {'prosumers':>9} | {'full doc ms':>11} {'(decode':>7} {'clear)':>7} | "
          f"{'step all ms':>11} {'(decode':>7} {'clear)':>7} {'x':>5} | {'step 1% ms':>10} {'(decode':>7} {'clear)':>7} {'x':>5}")
    for mechanism in args.mechanisms.split(","):
        spec = {"mechanism": mechanism, "feeder": "ieee123", "prosumers": args.prosumers, "seed": args.seed}
        text, _ = call(lib, "esm_generate_case", json.dumps(spec).encode())
        problem = json.loads(text)
        people = problem["prosumers"]
        ids = [p["id"] for p in people]
        session = lib.esm_session_new(text, None)
        if not session:
            print(f"{mechanism}: esm_session_new failed", file=sys.stderr)
            continue
        # Side by side on the same instances: each update is stepped, and the equivalent full
        # document (the update applied to the problem here) is cleared with esm_clear.
        full_all, all_samples, full_one, one_samples = [], [], [], []
        try:
            for r in range(args.repeats):
                loads = [round(p.get("loadKW", 0) * rng.uniform(0.9, 1.1), 4) for p in people]
                pv = [round(p.get("pvKW", 0) * rng.uniform(0.9, 1.1), 4) for p in people]
                for p, l, v in zip(people, loads, pv):
                    p["loadKW"], p["pvKW"] = l, v
                stepped = step(lib, session, json.dumps({"prosumers": {"loadKW": loads, "pvKW": pv}}).encode())
                fresh = call(lib, "esm_clear", json.dumps(problem).encode())
                if objective(fresh[0]) != objective(stepped[0]):
                    raise SystemExit(f"{mechanism}: a session step differs from the fresh clear")
                all_samples.append(stepped)
                full_all.append(fresh)

                chosen = rng.sample(range(len(people)), max(1, len(people) // 100))
                rows = []
                for k in chosen:
                    people[k]["loadKW"] = round(people[k].get("loadKW", 0) * rng.uniform(0.9, 1.1), 4)
                    rows.append({"id": ids[k], "loadKW": people[k]["loadKW"]})
                stepped = step(lib, session, json.dumps({"prosumers": rows}).encode())
                fresh = call(lib, "esm_clear", json.dumps(problem).encode())
                if objective(fresh[0]) != objective(stepped[0]):
                    raise SystemExit(f"{mechanism}: a session step differs from the fresh clear")
                one_samples.append(stepped)
                full_one.append(fresh)
        finally:
            lib.esm_session_free(session)
        full = full_all + full_one
        f, fp, fs = median_split(full)
        a, ap, as_ = median_split(all_samples)
        o, op, os_ = median_split(one_samples)
        print(f"{mechanism:>18} {len(people):>9} | {f:>11.1f} {fp:>7.1f} {fs:>7.1f} | "
              f"{a:>11.1f} {ap:>7.1f} {as_:>7.1f} {f / a:>5.2f} | {o:>10.1f} {op:>7.1f} {os_:>7.1f} {f / o:>5.2f}")


if __name__ == "__main__":
    main()
