#!/usr/bin/env python3
"""Benchmark: two_layer_voltage on the IEEE 123-bus feeder, side by side in one run.

On the identical generated case (esm_generate_case mechanism "two_layer_voltage", feeder
"ieee123", 12,300 prosumers by default - two_layer_voltage.md §5.2 - and any size given on the
command line) it runs:
  * esmarket default route (non_iterative): esm_clear on the JSON string through ctypes, end to
    end (JSON string in -> JSON string out: parse + tables + upper problem + AC check + encode),
    median of --repeat runs, with the library's own split from `stats` (parse, solve);
  * esmarket "misocp" route (every community embedded with binaries), the same way;
  * the spec's MISOCP (§3.9) in CVXPY + SCIP, the independent reference of
    Tests/python/tlv_reference.py (one binary per best-response piece, perspective cones), with
    a time limit (--time-limit, default 120 s): its status, time (tables + model + solve +
    polish), objective and SCIP's remaining gap;
  * the same model with the binaries relaxed to [0, 1], in CVXPY + Clarabel;
and prints one table: time, ratio to esmarket default, social cost, the largest embedding error
(|G_i embedded - G_i of the exact L-ESM equilibrium at the returned pi_0i|, kW) and the lowest /
highest voltage of an AC power flow at the returned injections (esmarket: its own check,
`quality.acVoltageMinPu/MaxPu`; CVXPY: the reference's forward/backward sweep).

--scaling runs esmarket (both routes) on a series of sizes (default 1k, 3k, 12.3k, 100k, 1M
prosumers); the CVXPY models only up to --cvxpy-max prosumers (Clarabel) and --scip-max (SCIP),
beyond which they are not practical. An error document from esmarket is printed, not raised.

    python3 bench/two_layer_voltage.py                      # 12,300 prosumers
    python3 bench/two_layer_voltage.py 3000 12300 --time-limit 60
    python3 bench/two_layer_voltage.py --scaling            # 1k .. 1M
    python3 bench/two_layer_voltage.py --scaling 1000 10000 --no-cvxpy
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "Tests" / "python"))
from esm_ctypes import call, load_library  # noqa: E402

SCALING = [1000, 3000, 12300, 100000, 1000000]


def generate(lib, n, seed, feeder):
    spec = {"mechanism": "two_layer_voltage", "feeder": feeder, "prosumers": n, "seed": seed}
    text, _ = call(lib, "esm_generate_case", json.dumps(spec).encode())
    return text


def with_algorithm(text, algorithm, time_limit=None):
    if algorithm is None and time_limit is None:
        return text
    problem = json.loads(text)
    options = problem.setdefault("options", {})
    if algorithm is not None:
        options["algorithm"] = algorithm
    if time_limit is not None:
        options["timeLimitSeconds"] = time_limit
    return json.dumps(problem).encode()


def run_esmarket(lib, text, repeat):
    """(result document or None, median seconds, stats of the median run, error text)."""
    runs = []
    for _ in range(repeat):
        try:
            reply, seconds = call(lib, "esm_clear", text)
        except RuntimeError as error:           # esmarket answered an error document
            return None, None, {}, str(error)
        runs.append((seconds, reply))
        if seconds > 10:                        # a run at a time limit: one is enough
            break
    runs.sort(key=lambda run: run[0])
    seconds, reply = runs[len(runs) // 2]
    doc = json.loads(reply)
    return doc, statistics.median(s for s, _ in runs), doc.get("stats", {}), None


def esm_row(doc, seconds, stats, error):
    if error is not None:
        try:
            err = json.loads(error)["error"]
            error = f"{err.get('code')} at {err.get('path')}: {err.get('message')}"
        except (ValueError, KeyError, TypeError):
            pass
        return {"status": "error", "note": error[:160]}
    row = {"status": doc.get("status"), "seconds": seconds, "parse": stats.get("parseSeconds"),
           "solve": stats.get("solveSeconds")}
    if "socialCost" not in (doc.get("objective") or {}):
        row["note"] = (doc.get("message") or "")[:160]
        return row
    q = doc.get("quality", {})
    row.update(cost=doc["objective"]["socialCost"], embed=q.get("embeddingErrorMax"),
               vmin=q.get("acVoltageMinPu"), vmax=q.get("acVoltageMaxPu"))
    if row["vmin"] is None and doc.get("buses"):
        volts = [b["vAcPu"] for b in doc["buses"]]
        row["vmin"], row["vmax"] = min(volts), max(volts)
    ul = doc.get("upperLayer") or {}
    notes = [f"{ul.get('binaries', '?')} binaries, {ul.get('nodes', '?')} nodes"] if ul else []
    if q.get("optimalityGap"):
        notes.append(f"gap {q['optimalityGap']:.1e}")
    if doc.get("message"):
        notes.append(doc["message"][:100])
    row["note"] = ", ".join(notes)
    return row


def cvxpy_row(ref, market, solver, time_limit):
    start = time.perf_counter()
    try:
        sol = ref.solve_upper(market, solver, time_limit=time_limit,
                              tolerances=(1e-8,) if solver == "CLARABEL" else ref.CLARABEL_TOLS[2:])
    except Exception as error:  # noqa: BLE001 - report whatever the modelling layer raises
        return {"status": "error", "seconds": time.perf_counter() - start, "note": f"{type(error).__name__}: {error}"[:160]}
    seconds = time.perf_counter() - start
    row = {"status": sol["status"], "seconds": seconds}
    note = [f"{sol['binaries']} pieces"]
    if solver == "SCIP":
        if sol.get("mipGap") is not None:
            note.append(f"gap {sol['mipGap']:.1e}")
        if sol.get("scipStatus"):
            note.append(f"scip {sol['scipStatus']}")
    if "socialCost" not in sol:
        row["note"] = ", ".join(note + [str(sol.get("solver_status", ""))])
        return row
    if solver == "CLARABEL":
        note.append(f"{sol.get('fractional', 0)} L-ESMs fractional")
    ac = ref.ac_check(market, sol["G"])
    volts = ac["v"][[i for i in range(market.network.n) if i != market.network.root]]
    row.update(cost=sol["socialCost"], embed=sol["embeddingErrorMax"], vmin=float(volts.min()),
               vmax=float(volts.max()), note=", ".join(note))
    return row


def _row_in_child(queue, ref, market, solver, time_limit):
    queue.put(cvxpy_row(ref, market, solver, time_limit))


def cvxpy_row_bounded(ref, market, solver, time_limit, wall_limit):
    """cvxpy_row in a forked child, killed after wall_limit seconds: SCIP's own limit does not cover
    CVXPY's model translation, which alone can take many minutes at 12,300 prosumers."""
    import multiprocessing
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_row_in_child, args=(queue, ref, market, solver, time_limit))
    start = time.perf_counter()
    child.start()
    try:
        row = queue.get(timeout=wall_limit)
    except Exception:  # noqa: BLE001 - queue.Empty: the wall limit passed
        row = {"status": "killed", "seconds": time.perf_counter() - start,
               "note": f"no answer after {wall_limit:g} s wall (model translation + solve); killed"}
    child.join(5)
    if child.is_alive():
        child.kill()
        child.join()
    return row


def fmt(x, spec, width):
    return f"{x:{width}{spec}}" if isinstance(x, (int, float)) else f"{'-':>{width}}"


HEADER = (f"{'run':<26} {'status':>12} {'time ms':>10} {'parse':>7} {'solve':>9} {'ratio':>8} | "
          f"{'social cost':>14} {'max embed kW':>12} {'min V':>8} {'max V':>8} | note")


def print_row(name, row, base_seconds):
    secs = row.get("seconds")
    ratio = f"{secs / base_seconds:7.1f}x" if secs and base_seconds else f"{'-':>8}"
    parse, solve = row.get("parse"), row.get("solve")
    print(f"{name:<26} {str(row.get('status')):>12} {fmt(secs * 1e3 if secs else None, '.1f', 10)} "
          f"{fmt(parse * 1e3 if parse is not None else None, '.1f', 7)} {fmt(solve * 1e3 if solve is not None else None, '.1f', 9)} "
          f"{ratio} | {fmt(row.get('cost'), '.6f', 14)} {fmt(row.get('embed'), '.1e', 12)} "
          f"{fmt(row.get('vmin'), '.5f', 8)} {fmt(row.get('vmax'), '.5f', 8)} | {row.get('note', '')}")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", type=int, nargs="*", default=[12300], help="prosumers (default 12300)")
    parser.add_argument("--feeder", default="ieee123")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=120.0,
                        help="time limit of CVXPY + SCIP and of esmarket's misocp route (options.timeLimitSeconds), s")
    parser.add_argument("--wall-limit", type=float, default=900.0,
                        help="wall-clock limit of each CVXPY run (translation + solve), s; the run is killed after it")
    parser.add_argument("--no-cvxpy", action="store_true")
    parser.add_argument("--scaling", type=int, nargs="*", default=None,
                        help="scaling series (esmarket; CVXPY up to --cvxpy-max / --scip-max)")
    parser.add_argument("--cvxpy-max", type=int, default=12300, help="largest size for CVXPY + Clarabel in --scaling")
    parser.add_argument("--scip-max", type=int, default=3000, help="largest size for CVXPY + SCIP in --scaling")
    args = parser.parse_args()
    lib = load_library()
    ref = None
    if not args.no_cvxpy:
        try:
            import tlv_reference as ref  # noqa: F811 (needs numpy; cvxpy, clarabel, pyscipopt when solving)
            import cvxpy  # noqa: F401
        except ImportError as error:
            print(f"(CVXPY reference unavailable: {error})")
            ref = None

    if args.scaling is None:
        for n in args.sizes:
            text = generate(lib, n, args.seed, args.feeder)
            problem = json.loads(text)
            print(f"\ntwo_layer_voltage, {args.feeder}, {n} prosumers in {len(problem['communities'])} communities "
                  f"(seed {args.seed}; JSON {len(text) / 1e6:.1f} MB); esmarket: median of {args.repeat}")
            print(HEADER)
            print("-" * len(HEADER))
            sys.stdout.flush()
            base = esm_row(*run_esmarket(lib, text, args.repeat))
            base_seconds = base.get("seconds")
            print_row("esmarket non_iterative", base, base_seconds)
            misocp = with_algorithm(text, "misocp", args.time_limit)
            print_row(f"esmarket misocp ({args.time_limit:g} s)", esm_row(*run_esmarket(lib, misocp, args.repeat)), base_seconds)
            if ref is not None:
                start = time.perf_counter()
                market = ref.Market.from_problem(problem)
                market.tables                                    # noqa: B018 - build them, timed
                setup = time.perf_counter() - start
                pieces = sum(t.K for t in market.tables)
                print(f"  (reference set-up, document -> tables: {setup * 1e3:.0f} ms, {pieces} pieces, "
                      f"S_base {market.network.s_base:g} kVA; included in the CVXPY times)")
                sys.stdout.flush()
                for solver, name in (("SCIP", f"cvxpy+scip ({args.time_limit:g} s)"), ("CLARABEL", "cvxpy+clarabel relaxed")):
                    row = cvxpy_row_bounded(ref, market, solver, args.time_limit if solver == "SCIP" else None,
                                            args.wall_limit)
                    if "seconds" in row:
                        row["seconds"] += setup
                    print_row(name, row, base_seconds)
        print("\ntime = JSON string in -> JSON string out for esmarket (ctypes, one process); for CVXPY: document ->"
              " best-response tables -> model -> solve (+ Clarabel polish of SCIP's pieces); ratio = time / esmarket"
              " non_iterative; max embed = |G embedded - G exact| at the returned pi_0; V = AC power flow at the"
              " returned injections (substation excluded).")
        return

    sizes = args.scaling or SCALING
    print(f"two_layer_voltage scaling, {args.feeder} (seed {args.seed}); esmarket end to end (JSON in -> JSON out), "
          f"median of 3 (1 above 100k)")
    header = (f"{'prosumers':>10} {'JSON MB':>8} | {'default ms':>10} {'parse':>8} {'solve':>8} {'status':>10} | "
              f"{'misocp ms':>10} {'status':>10} | {'clarabel ms':>11} {'scip ms':>10} {'scip status':>11} | {'social cost':>14} {'Δ misocp':>9}")
    print(header)
    print("-" * len(header))
    for n in sizes:
        text = generate(lib, n, args.seed, args.feeder)
        repeat = 3 if n <= 100000 else 1
        d = esm_row(*run_esmarket(lib, text, repeat))
        m = esm_row(*run_esmarket(lib, with_algorithm(text, "misocp", args.time_limit), repeat))
        cl, sc = {}, {}
        if ref is not None and n <= max(args.cvxpy_max, args.scip_max):
            problem = json.loads(text)
            start = time.perf_counter()
            market = ref.Market.from_problem(problem)
            market.tables                                        # noqa: B018
            setup = time.perf_counter() - start
            if n <= args.cvxpy_max:
                cl = cvxpy_row_bounded(ref, market, "CLARABEL", None, args.wall_limit)
                cl["seconds"] = cl.get("seconds", 0) + setup
            if n <= args.scip_max:
                sc = cvxpy_row_bounded(ref, market, "SCIP", args.time_limit, args.wall_limit)
                sc["seconds"] = sc.get("seconds", 0) + setup
        dcost = (abs(m["cost"] - d["cost"]) / abs(d["cost"])) if "cost" in m and "cost" in d else None
        ms = lambda row: row["seconds"] * 1e3 if row.get("seconds") else None  # noqa: E731
        print(f"{n:>10} {len(text) / 1e6:8.1f} | {fmt(ms(d), '.1f', 10)} {fmt(d.get('parse', 0) * 1e3 if d.get('parse') is not None else None, '.1f', 8)} "
              f"{fmt(d.get('solve', 0) * 1e3 if d.get('solve') is not None else None, '.1f', 8)} {str(d.get('status')):>10} | "
              f"{fmt(ms(m), '.1f', 10)} {str(m.get('status')):>10} | {fmt(ms(cl), '.0f', 11)} {fmt(ms(sc), '.0f', 10)} "
              f"{str(sc.get('status', '-')):>11} | {fmt(d.get('cost'), '.4f', 14)} {fmt(dcost, '.1e', 9)}")
        for label, row in (("default", d), ("misocp", m)):
            if row.get("status") == "error" or (row.get("status") not in ("solved", "solved_inaccurate") and row.get("note")):
                print(f"{'':>10}   esmarket {label}: {row.get('note')}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
