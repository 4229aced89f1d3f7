#!/usr/bin/env python3
"""Writes the fuzzer's seed corpus (one file per document, named by its SHA-1) from the tests'
documents; nothing large is committed, the corpus is regenerated on every run.

Sources:
  * the JSON documents written literally in the Swift tests (raw strings #"{...}"# without
    interpolation) and the C API test's T1 is conftest's T1 below);
  * the Python tests' documents: conftest's T1 variants, test_conic_random's random LP / QP /
    SOCP with their infeasible and unbounded twins, its mixed-integer problems and DistFlow SOCPs
    (needs numpy and scipy, installed by `make test-deps`; skipped without them);
  * small cases of the case generator for every mechanism (p2p_online with its offline and admm
    routes, p2p_reconfiguration with and without the topology search): energy_sharing (each algorithm,
    priceTaking, 2 periods), two_layer (direct / bidding / centralized, congested), social_optimum
    (SOCP and LinDistFlow), two_layer_voltage (which may answer `unsupported`), and the
    generator's specifications themselves (the harness hands every input to esm_generate_case).

Usage: make_corpus.py OUTDIR [--lib path/to/libesmarket.so]   (default: .build/release)
"""
import argparse
import ctypes
import hashlib
import importlib.util
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAX_BYTES = 60000  # the harness's -max_len; larger documents would be cut


def load_library(path):
    lib = ctypes.CDLL(str(path))
    lib.esm_generate_case.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.esm_generate_case.restype = ctypes.c_int
    lib.esm_string_free.argtypes = [ctypes.c_void_p]

    def generate(spec):
        out = ctypes.c_void_p()
        rc = lib.esm_generate_case(json.dumps(spec).encode(), ctypes.byref(out))
        text = ctypes.string_at(out.value).decode() if out.value else None
        lib.esm_string_free(out)
        if rc != 0:
            raise RuntimeError(f"esm_generate_case({spec}) -> {rc}: {text}")
        return json.loads(text)
    return generate


def swift_literals():
    docs = []
    for path in sorted((REPO / "Tests").glob("ESM*Tests/*.swift")):
        for m in re.finditer(r'#"(\{.*?\})"#', path.read_text()):
            text = m.group(1)
            if "\\#(" in text:
                continue
            try:
                docs.append(json.loads(text))
            except ValueError:
                pass
    return docs


def python_documents():
    docs = []
    sys.path.insert(0, str(REPO / "Tests" / "python"))
    try:
        import conftest
        docs += [conftest.t1_problem(), conftest.t1_problem(intercept=None),
                 conftest.t1_problem(intercept=None, buy=0.55, sell=0.45), conftest.t1_problem(p1_max=1.0)]
    except Exception as e:  # pytest missing: the literals and generated cases still make a corpus
        print(f"make_corpus: conftest documents skipped ({e})", file=sys.stderr)
    try:
        spec = importlib.util.spec_from_file_location("esm_conic_random", REPO / "Tests/python/test_conic_random.py")
        cr = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cr)
        for kind in ("lp", "qp", "socp"):
            for seed in range(3):
                prob = cr.random_problem(kind, 100 * seed + 7, scaled=seed == 2)
                docs.append(cr.bench.esm_document(prob))
                docs.append(cr.bench.esm_document(cr.infeasible_twin(prob, seed)))
                docs.append(cr.bench.esm_document(cr.unbounded_twin(prob, seed)))
            for seed, variant in ((1, "feasible"), (2, "relaxation_infeasible"), (3, "integer_infeasible")):
                docs.append(cr.bench.esm_document(cr.mixed_integer_problem(kind, seed, variant)))
        for name in ("ieee33bw", "ieee37"):
            try:
                docs.append(cr.bench.esm_document(cr.distflow_problem(name, 5, "feasible")))
            except Exception:
                pass
    except Exception as e:
        print(f"make_corpus: test_conic_random documents skipped ({e})", file=sys.stderr)
    return docs


SPECS = [
    {"mechanism": "energy_sharing", "prosumers": 5, "seed": 1},
    {"mechanism": "energy_sharing", "prosumers": 30, "seed": 2, "feeder": "ieee33bw"},
    {"mechanism": "two_layer", "prosumers": 12, "communities": 3, "feeder": "ieee33bw", "seed": 3},
    {"mechanism": "two_layer", "prosumers": 40, "communities": 4, "feeder": "ieee37", "seed": 4},
    {"mechanism": "two_layer", "prosumers": 60, "communities": 5, "feeder": "ieee33bw", "seed": 5, "congestion": True},
    {"mechanism": "social_optimum", "prosumers": 10, "feeder": "ieee33bw", "seed": 6},
    {"mechanism": "social_optimum", "prosumers": 12, "feeder": "ieee37", "seed": 7},
    {"mechanism": "two_layer_voltage", "prosumers": 10, "feeder": "ieee33bw", "seed": 8},
    {"mechanism": "two_layer_voltage", "prosumers": 12, "communities": 3, "feeder": "ieee37", "seed": 9},
    {"mechanism": "p2p_gne", "prosumers": 6, "periods": 3, "feeder": "ieee33bw", "seed": 10},
    {"mechanism": "p2p_gne", "prosumers": 8, "periods": 2, "connectivity": 0.3, "seed": 11},
    {"mechanism": "p2p_online", "prosumers": 4, "periods": 3, "seed": 12},
    {"mechanism": "p2p_reconfiguration", "prosumers": 3, "periods": 1, "seed": 13},
    {"mechanism": "power_flow", "prosumers": 8, "feeder": "ieee33bw", "seed": 14},
]


def columns_of(rows):
    """prosumers as rows -> the column form (None where a prosumer has no value)."""
    keys = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    table = {}
    for key in keys:
        if key in ("flex", "storage"):
            fields = []
            for row in rows:
                fields += [f for f in (row.get(key) or {}) if f not in fields]
            table[key] = {f: [(row.get(key) or {}).get(f) for row in rows] for f in fields}
        else:
            table[key] = [row.get(key) for row in rows]
    return table


def generated_documents(generate):
    docs = []
    for spec in SPECS:
        doc = generate(spec)
        docs.append(doc)
        mech = spec["mechanism"]
        if mech == "energy_sharing":
            docs.append(dict(doc, options={"algorithm": "centralized"}))
            docs.append(dict(doc, options={"priceTaking": True}))
            two = dict(doc, periods=2)
            two["prosumers"] = [dict(p, loadKW=[p.get("loadKW", 0), 2 * p.get("loadKW", 0)]) for p in doc["prosumers"]]
            docs.append(two)
        elif mech == "two_layer":
            docs.append(dict(doc, options={"algorithm": "bidding", "exportCurves": True}))
            docs.append(dict(doc, options={"algorithm": "centralized"}))
        elif mech == "p2p_gne":
            docs.append(dict(doc, options={"algorithm": "proximal_point", "maxIterations": 50}))
            docs.append(dict(doc, options={"equilibrium": "wardrop"}))
            docs.append(dict(doc, network=dict(doc["network"], model="lindistflow")))
        elif mech == "p2p_online":
            docs.append(dict(doc, options={"algorithm": "offline"}))
            docs.append(dict(doc, options={"algorithm": "admm", "maxIterations": 200}))
        elif mech == "p2p_reconfiguration":
            docs.append(dict(doc, options=dict(doc.get("options") or {}, reconfigure=False)))
        elif mech == "power_flow":
            # shunt conductance, a reactor, negative (generating) bus loads over two periods
            net = {"baseKV": 12.66, "substationBus": "0", "vSubstationPu": 1.02, "buses": [
                {"id": "0"}, {"id": "1", "pLoadKW": [40, -20], "qLoadKVAr": 10, "pShuntKW": 3, "qCapKVAr": -15},
                {"id": "2", "pLoadKW": 25, "qCapKVAr": 30}],
                "lines": [{"id": "a", "from": "0", "to": "1", "rOhm": 0.3, "xOhm": 0.2},
                          {"id": "b", "from": "1", "to": "2", "rOhm": 0.4, "xOhm": 0.3, "rateKVA": 50}]}
            docs.append({"schema": "esmarket/1", "mechanism": "power_flow", "network": net, "periods": 2,
                         "options": {"output": "columns"}})
        if mech in ("energy_sharing", "social_optimum", "p2p_gne") and isinstance(doc.get("prosumers"), list):
            # the column form of the prosumers, and column output (README "Columns")
            docs.append(dict(doc, prosumers=columns_of(doc["prosumers"]), options={"output": "columns"}))
        if mech == "social_optimum":
            net = dict(doc["network"], model="lindistflow")
            docs.append(dict(doc, network=net))
            docs.append(dict(doc, network=dict(doc["network"], vMinPu=0.99)))  # infeasible
    return docs + SPECS + SESSION_UPDATES


# Update documents for the harness's session (its three prosumers a, b, c; README "Sessions").
SESSION_UPDATES = [
    {},
    {"prosumers": {"loadKW": [3, 1.5, 2.5], "pvKW": [0, 5, None]}},
    {"prosumers": {"id": ["b"], "flex": {"maxKW": [4]}, "storage": {"socKWh": [2]}}},
    {"prosumers": [{"id": "a", "loadKW": 2.2, "flex": {"costB": 0.07}}, {"id": "c", "pvKW": 1}]},
    {"grid": {"buyPrice": 0.4}, "options": {"tolerance": 1e-7}},
    {"prosumers": [{"id": "c", "storage": {"socKWh": 1}}]},
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--lib", default=str(REPO / ".build/release/libesmarket.so"))
    args = ap.parse_args()
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    docs = swift_literals() + python_documents() + generated_documents(load_library(args.lib))
    written = 0
    for doc in docs:
        data = json.dumps(doc, separators=(",", ":")).encode()
        if len(data) > MAX_BYTES:
            continue
        (out / hashlib.sha1(data).hexdigest()).write_bytes(data)
        written += 1
    print(f"make_corpus: {written} seed documents in {out}")


if __name__ == "__main__":
    main()
