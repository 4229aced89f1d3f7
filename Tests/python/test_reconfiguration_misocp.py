"""esmarket's branch-and-bound on radial-network MISOCPs against CVXPY + SCIP (issue 14).

The network reconfiguration model of p2p_reconfiguration spec §3.2–3.3 (SOC branch flow with
big-M switch terms, perspective cones, a single-commodity-flow spanning tree per period, a
switching budget; objective: series losses in kW) is built by bench/reconfiguration.py, which
is independent of the Swift formulation, and the same conic data go to esmarket (mechanism
`conic`, binaries by its branch-and-bound) and to SCIP through CVXPY. Asserted: the same status
class; solved: objectives equal to 1e-6 relative (|Δ| ≤ 1e-6·max(1, |objective|)), binaries
integral, the closed lines of every period a spanning tree (union–find), Ax − b ∈ −K,
esmarket's bestBound ≤ objective and its gap consistent.

Instances (seeded): the spec's A1 (three-bus loop, open 1–2, 3.431 kW) and A2 (two periods,
budget 0 → 7.474 kW, budget 2 → 5.449 kW) on 1000 kVA; 12 random meshed feeders (5–8 buses,
1–3 loops, one period); 6 two-period ones with a switching budget of 0, 1 or 2; 3 whose voltage
floor no radial topology meets (infeasible).
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cvxpy")
pytest.importorskip("pyscipopt")

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("esm_bench_reconfiguration", REPO / "bench" / "reconfiguration.py")
rc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rc)
_spec2 = importlib.util.spec_from_file_location("esm_bench_conic", REPO / "bench" / "conic.py")
conic = importlib.util.module_from_spec(_spec2)
_spec2.loader.exec_module(conic)

OBJ_RTOL = 1e-6
ESM_CLASS = {"solved": "solved", "solved_inaccurate": "solved", "primal_infeasible": "primal_infeasible",
             "dual_infeasible": "dual_infeasible"}


def loop3(p1, p2):
    lines = [dict(id=str(k), f=a, t=b, r=1.0, x=2.0, closed=True, switchable=True)
             for k, (a, b) in enumerate([(0, 1), (1, 2), (0, 2)])]
    return dict(baseKV=10.0, root=0, v0=1.0, vmin=0.8, vmax=1.2, lines=lines,
                p=[[0.0], [x * 1000 for x in p1], [x * 1000 for x in p2]], q=[[0.0], [0.0], [0.0]],
                ids=["0", "1", "2"])


def random_mesh(seed, periods=1, vmin=0.9):
    """A random tree of 5–8 buses plus 1–3 tie lines; one tree line without a switch on odd seeds."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 9))
    edges = [(int(rng.integers(0, j)), j) for j in range(1, n)]
    present = {tuple(sorted(e)) for e in edges}
    ties = 0
    while ties < int(rng.integers(1, 4)):
        a, b = sorted(int(v) for v in rng.choice(n, 2, replace=False))
        if (a, b) in present:
            continue
        present.add((a, b))
        edges.append((a, b))
        ties += 1
    lines = [dict(id=str(k + 1), f=a, t=b, r=float(rng.uniform(0.3, 1.5)), x=float(rng.uniform(0.2, 1.2)),
                  closed=k < n - 1, switchable=True) for k, (a, b) in enumerate(edges)]
    if seed % 2 == 1:
        lines[0]["switchable"] = False
    p = [[0.0] * periods] + [[float(rng.uniform(20, 400)) for _ in range(periods)] for _ in range(1, n)]
    q = [[0.0] * periods] + [[0.5 * v * float(rng.uniform(0.2, 1.0)) for v in row] for row in p[1:]]
    return dict(baseKV=12.66, root=0, v0=1.0, vmin=vmin, vmax=1.1, lines=lines, p=p, q=q,
                ids=[str(i) for i in range(n)])


CASES = ([("A1", loop3([0.5], [0.3]), 1, None, "solved"),
          ("A2-budget0", loop3([0.5, -0.2], [0.3, 0.6]), 2, 0, "solved"),
          ("A2-budget2", loop3([0.5, -0.2], [0.3, 0.6]), 2, 2, "solved")]
         + [(f"mesh-{s}", random_mesh(s), 1, None, "solved") for s in range(100, 112)]
         + [(f"mesh2-{s}-b{s % 3}", random_mesh(s, periods=2), 2, s % 3, "solved") for s in range(200, 206)]
         + [(f"infeasible-{s}", random_mesh(s, vmin=0.9995), 1, None, "primal_infeasible")
            for s in range(300, 303)])

REFERENCE = {"A1": 3.431, "A2-budget0": 7.474, "A2-budget2": 5.449}  # spec §7, pu·1000 → kW


def spanning_tree(net, closed):
    parent = list(range(len(net["p"])))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    count = 0
    for k, on in enumerate(closed):
        if not on:
            continue
        a, b = find(net["lines"][k]["f"]), find(net["lines"][k]["t"])
        if a == b:
            return False
        parent[a] = b
        count += 1
    return count == len(net["p"]) - 1


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_reconfiguration_against_scip(esm, case):
    name, net, periods, budget, expected = case
    prob, alphas = rc.reconfiguration_misocp(net, periods=periods, budget=budget)
    status, objective, _ = rc.solve_cvxpy_scip(prob, time_limit=60)
    assert status == expected, f"SCIP says {status} (the generator meant {expected})"
    doc = esm.clear(conic.esm_document(prob)).document
    got = ESM_CLASS.get(doc["status"], doc["status"])
    assert got == status, f"{name}: esmarket {doc['status']} ({doc.get('message')}), SCIP {status} ({objective})"
    if status != "solved":
        assert doc["hasIncumbent"] is False
        return
    assert abs(doc["objective"] - objective) <= OBJ_RTOL * max(1.0, abs(objective)), \
        f"{name}: esmarket {doc['objective']!r}, SCIP {objective!r}"
    if name in REFERENCE:
        assert abs(objective - REFERENCE[name]) < 1e-3
    x = np.asarray(doc["x"], float)
    for j in prob["integers"]:
        assert min(abs(x[j]), abs(x[j] - 1.0)) <= 1e-6, f"x[{j}] = {x[j]} is not binary"
    for t in range(periods):
        closed = [x[a] > 0.5 if a >= 0 else True for a in alphas[t]]
        assert spanning_tree(net, closed), f"{name}: period {t} is not radial"
    s = np.asarray(prob["b"]) - prob["A"] @ x
    start = 0
    for kind, k in prob["cones"]:
        block = s[start:start + k]
        if kind == "zero":
            assert np.abs(block).max() <= 1e-6
        elif kind == "nonneg":
            assert block.min() >= -1e-6
        else:
            assert np.linalg.norm(block[1:]) - block[0] <= 1e-6
        start += k
    assert doc["bestBound"] <= doc["objective"] + 1e-12
    assert abs(doc["gap"] - (doc["objective"] - doc["bestBound"])) <= 1e-9 * max(1.0, abs(objective))
