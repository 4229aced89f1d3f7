"""Random cross-check of mechanism `conic` (api.md §2.7) against Clarabel and SCIP.

Every instance is generated with numpy from a fixed seed, solved by Clarabel through its own
Python API (clarabel.DefaultSolver on scipy CSC matrices) or, for binaries, by SCIP (pyscipopt),
and by esmarket through esmarket.clear({"mechanism": "conic", ...}) on identical data. Asserted:

  * the same status class: solved (solved / solved_inaccurate, Clarabel Solved / AlmostSolved),
    primal_infeasible, dual_infeasible;
  * solved: objectives equal to 1e-6 relative (|Δ| ≤ 1e-6·max(1, |objective|)); esmarket's
    reported objective equal to ½xᵀPx + qᵀx; esmarket's residuals, computed here from x, y, s,
    ‖Ax + s − b‖∞/(1 + ‖b‖∞) ≤ 1e-8 and ‖Px + q + Aᵀy‖∞/(1 + ‖q‖∞) ≤ 1e-8; s ∈ K and y ∈ K*;
    duality gap sᵀy small;
  * infeasible: esmarket's certificate (y for primal, x for dual infeasibility) checked here.

Families (seeded; each instance its own test id):
  * random LP / QP / SOCP (84 each, n 4..29 unless said): 30 feasible (even seeds: strictly complementary
    known optimum, some SOC pairs on the boundary; odd seeds: interior dual point; QP P = MᵀM,
    often singular), 16 primal-infeasible twins (an appended nonneg row or SOC block whose rows
    are a Farkas combination of the others), 16 unbounded twins (a recession direction d with
    Pd = 0, Ad ∈ −K, qᵀd < 0 built in), 10 with rows scaled by 10^±2, and 6 + 3 + 3 larger ones
    (n 60..149, sparse) feasible / primal-infeasible / unbounded;
  * DistFlow SOCPs (bench/conic.py's builder: P, Q, ℓ per line, v per bus, rotated cones as
    standard SOCs, line ratings as SOCs, per-prosumer injection variables with bounds and
    quadratic costs) on the 33-, 37- and 123-bus feeders, 18 each: 10 with random load scale
    and injections, 4 overloaded (primal infeasible), 4 with an unbounded export (unbounded);
  * mixed-integer LP / QP / SOCP with binaries (n 4..10, knapsack rows so the search branches),
    22 each: 16 feasible, 3 whose relaxation is infeasible, 3 integer-infeasible only — against
    SCIP (pyscipopt), same status class and objective to 1e-6 relative.
Where Clarabel ends without an answer on an instance whose status the generator knows (one
unbounded QP), esmarket is held to the known status and certificate instead (CLARABEL_FAILED).
Known mismatches are strict xfails with the numbers (KNOWN_FAILURES).
"""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

sp = pytest.importorskip("scipy.sparse")
clarabel = pytest.importorskip("clarabel")

REPO = Path(__file__).resolve().parents[2]
FEEDER_DIR = REPO / "Tests" / "data" / "feeders"

_spec = importlib.util.spec_from_file_location("esm_bench_conic", REPO / "bench" / "conic.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

OBJ_RTOL = 1e-6
RESIDUAL_TOL = 1e-8
CONE_TOL = 1e-8
CERT_TOL = 1e-8

CLARABEL_CLASS = {
    "Solved": "solved", "AlmostSolved": "solved",
    "PrimalInfeasible": "primal_infeasible", "AlmostPrimalInfeasible": "primal_infeasible",
    "DualInfeasible": "dual_infeasible", "AlmostDualInfeasible": "dual_infeasible",
}
ESM_CLASS = {"solved": "solved", "solved_inaccurate": "solved",
             "primal_infeasible": "primal_infeasible", "dual_infeasible": "dual_infeasible"}


# ---------------------------------------------------------------------------------------------
# generators
# ---------------------------------------------------------------------------------------------
def _sparse(rng, m, n, density):
    M = sp.random(m, n, density=density, random_state=rng, format="csc",
                  data_rvs=rng.standard_normal)
    return sp.csc_matrix(M)


def _soc_point(rng, k, interior=True):
    u = rng.standard_normal(k - 1)
    return np.r_[np.linalg.norm(u) + (rng.uniform(0.1, 1.0) if interior else 0.0), u]


def _cone_pair(cones, rng, complementary):
    """s0 ∈ K, y0 ∈ K*; strictly inside, or complementary (s0ᵀy0 = 0, strictly so)."""
    s, y = [], []
    for t, k in cones:
        if t == "zero":
            s.append(np.zeros(k))
            y.append(rng.standard_normal(k))
        elif t == "nonneg":
            if complementary:
                active = rng.random(k) < 0.5
                s.append(np.where(active, 0.0, rng.uniform(0.2, 1.5, k)))
                y.append(np.where(active, rng.uniform(0.2, 1.5, k), 0.0))
            else:
                s.append(rng.uniform(0.1, 1.5, k))
                y.append(rng.uniform(0.1, 1.5, k))
        else:
            if complementary:
                which = rng.integers(3)
                u = rng.standard_normal(k - 1)
                u /= np.linalg.norm(u)
                a, c = rng.uniform(0.3, 1.5, 2)
                if which == 0:  # both on the boundary, opposite rays
                    s.append(a * np.r_[1.0, u])
                    y.append(c * np.r_[1.0, -u])
                elif which == 1:  # s interior, y = 0
                    s.append(_soc_point(rng, k))
                    y.append(np.zeros(k))
                else:  # s = 0, y interior
                    s.append(np.zeros(k))
                    y.append(_soc_point(rng, k))
            else:
                s.append(_soc_point(rng, k))
                y.append(_soc_point(rng, k))
    return np.concatenate(s), np.concatenate(y)


def random_problem(kind, seed, complementary=False, scaled=False, large=False):
    """A feasible, bounded LP / QP / SOCP: x0 primal feasible with s0, y0 dual feasible,
    q = −Px0 − Aᵀy0 (so (x0, s0, y0) is optimal when s0 ⟂ y0)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(60, 150)) if large else int(rng.integers(4, 30))
    m_eq = int(rng.integers(0, max(1, n // 3)))
    m_nn = int(rng.integers(1, 2 * n))
    socs = [int(rng.integers(2, 7)) for _ in range(int(rng.integers(1, 5 + n // 10)))] if kind == "socp" else []
    cones = [("zero", m_eq)] if m_eq else []
    cones.append(("nonneg", m_nn))
    cones += [("soc", k) for k in socs]
    m = sum(k for _, k in cones)
    A = _sparse(rng, m, n, rng.uniform(0.03, 0.08) if large else rng.uniform(0.15, 0.5))
    if scaled:
        A = sp.csc_matrix(sp.diags(10.0 ** rng.uniform(-2, 2, m)) @ A)
    P = None
    if kind == "qp" or (kind == "socp" and rng.random() < 0.5):
        r = int(rng.integers(1, n + 1))  # rank r ≤ n: often singular
        M = _sparse(rng, r, n, 0.4)
        P = sp.csc_matrix(M.T @ M)
    x0 = rng.standard_normal(n)
    s0, y0 = _cone_pair(cones, rng, complementary)
    b = A @ x0 + s0
    q = -(A.T @ y0) - (P @ x0 if P is not None else 0.0)
    if P is not None and P.nnz == 0:
        P = None
    return {"P": P, "q": q, "A": A, "b": b, "cones": cones, "integers": [], "x0": x0, "s0": s0}


def infeasible_twin(prob, seed):
    """Appends one cone block (nonneg row or SOC) that contradicts the others: with y_w ∈ K* on
    some of the existing blocks and y_new inside the new cone, Aᵀ(y_w, y_new) = 0 and
    bᵀ(y_w, y_new) < 0 (Farkas), so the problem is primal infeasible."""
    rng = np.random.default_rng(seed)
    cones = list(prob["cones"])
    A, b = prob["A"], prob["b"]
    y = []
    for t, k in cones:
        if rng.random() < 0.5 and t != "zero":
            y.append(np.zeros(k))
        elif t == "zero":
            y.append(rng.standard_normal(k))
        elif t == "nonneg":
            y.append(np.where(rng.random(k) < 0.5, rng.uniform(0.1, 1, k), 0.0))
        else:
            y.append(_soc_point(rng, k))
    y = np.concatenate(y) if y else np.zeros(0)
    if any(t == "soc" for t, _ in cones):
        k = int(rng.integers(3, 5))
        new = ("soc", k)
        y_new = np.r_[1.0, 0.9 * rng.uniform(-1, 1, k - 1) / math.sqrt(k - 1)]
    else:
        k = 1
        new = ("nonneg", 1)
        y_new = np.array([1.0])
    n = A.shape[1]
    B = rng.standard_normal((k, n)) * (rng.random((k, n)) < 0.5)
    B += np.outer(y_new, -(A.T @ y) - B.T @ y_new) / (y_new @ y_new)
    delta = rng.uniform(0.5, 2.0) * (1.0 + abs(b @ y))
    c = rng.standard_normal(k)
    c += y_new * (-(b @ y) - delta - c @ y_new) / (y_new @ y_new)
    return dict(prob, A=sp.csc_matrix(sp.vstack([A, sp.csc_matrix(B)])), b=np.r_[b, c],
                cones=cones + [new])


def unbounded_twin(prob, seed):
    """Builds a recession direction d (Pd = 0, Ad ∈ −K, qᵀd < 0) into the problem and keeps x0
    feasible, so it is dual infeasible (unbounded)."""
    rng = np.random.default_rng(seed)
    A = prob["A"].toarray()
    n = A.shape[1]
    d = np.zeros(n)
    support = rng.choice(n, size=int(rng.integers(1, min(3, n) + 1)), replace=False)
    d[support] = rng.standard_normal(len(support))
    dd = d @ d
    start = 0
    for t, k in prob["cones"]:
        rows = slice(start, start + k)
        if t == "zero":
            target = np.zeros(k)
        elif t == "nonneg":
            target = -np.where(rng.random(k) < 0.5, rng.uniform(0, 1, k), 0.0)
        else:
            target = -_soc_point(rng, k)  # strictly inside: boundary rays trip Clarabel up
        A[rows] += np.outer(target - A[rows] @ d, d) / dd
        start += k
    P = prob["P"]
    if P is not None:
        # P = MᵀM with M's rows orthogonal to d
        Mr = rng.standard_normal((max(1, n // 2), n)) * (rng.random((max(1, n // 2), n)) < 0.4)
        Mr -= np.outer(Mr @ d, d) / dd
        P = sp.csc_matrix(Mr.T @ Mr)
    q = prob["q"] - d * (prob["q"] @ d + rng.uniform(0.5, 2.0)) / dd
    A = sp.csc_matrix(A)
    return dict(prob, P=P, q=q, A=A, b=A @ prob["x0"] + prob["s0"])


# ---------------------------------------------------------------------------------------------
# DistFlow
# ---------------------------------------------------------------------------------------------
_FEEDERS = {}


def feeder(name):
    if name not in _FEEDERS:
        _FEEDERS[name] = bench.load_feeder(name)
    return _FEEDERS[name]


def distflow_problem(name, seed, variant):
    rng = np.random.default_rng(seed)
    count = int(rng.integers(0, 60))
    if variant == "feasible":
        return bench.distflow(feeder(name), count, rng, load_scale=rng.uniform(0.3, 1.1),
                              injection_scale=rng.uniform(0.0, 2.0))
    if variant == "overloaded":  # far more load than the voltage limits allow
        return bench.distflow(feeder(name), count, rng, load_scale=rng.uniform(6.0, 10.0),
                              injection_scale=0.1)
    return bench.distflow(feeder(name), count, rng, load_scale=rng.uniform(0.3, 1.1),
                          unbounded=True)


# ---------------------------------------------------------------------------------------------
# solving and checking
# ---------------------------------------------------------------------------------------------
def solve_clarabel(prob):
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    _, sol = bench.clarabel_solve(prob, settings)
    status = str(sol.status)
    return CLARABEL_CLASS.get(status, status), sol


def solve_esmarket(esm, prob):
    result = esm.clear(bench.esm_document(prob))
    return result.document


def _blocks(prob):
    start = 0
    for t, k in prob["cones"]:
        yield t, slice(start, start + k)
        start += k


def cone_violation(prob, v, dual):
    """Largest violation of v ∈ K (or of v ∈ K* when dual; the zero cone's dual is free)."""
    worst = 0.0
    for t, rows in _blocks(prob):
        w = v[rows]
        if t == "zero":
            if not dual and len(w):
                worst = max(worst, np.abs(w).max())
        elif t == "nonneg":
            if len(w):
                worst = max(worst, -w.min())
        else:
            worst = max(worst, np.linalg.norm(w[1:]) - w[0])
    return worst


def _P_full(prob):
    n = prob["A"].shape[1]
    if prob["P"] is None:
        return sp.csc_matrix((n, n))
    U = sp.triu(prob["P"], format="csc")
    return sp.csc_matrix(U + sp.triu(U, k=1).T)


def check_solved(prob, doc, reference_obj, label):
    A, b, q = prob["A"], np.asarray(prob["b"]), np.asarray(prob["q"])
    P = _P_full(prob)
    x, y, s = (np.asarray(doc[k], float) for k in ("x", "y", "s"))
    assert x.shape == (A.shape[1],) and y.shape == s.shape == (A.shape[0],)
    obj = 0.5 * x @ (P @ x) + q @ x
    scale = max(1.0, abs(reference_obj))
    assert abs(doc["objective"] - reference_obj) <= OBJ_RTOL * scale, \
        f"{label}: esmarket objective {doc['objective']!r}, reference {reference_obj!r}"
    assert abs(obj - doc["objective"]) <= 1e-9 * scale, (obj, doc["objective"])
    bnorm = np.abs(b).max() if len(b) else 0.0
    qnorm = np.abs(q).max() if len(q) else 0.0
    rp = np.abs(A @ x + s - b).max() / (1 + bnorm) if len(b) else 0.0
    rd = np.abs(P @ x + q + A.T @ y).max() / (1 + qnorm)
    assert rp <= RESIDUAL_TOL, f"primal residual {rp:.2e}"
    assert rd <= RESIDUAL_TOL, f"dual residual {rd:.2e}"
    assert cone_violation(prob, s, dual=False) <= CONE_TOL * (1 + bnorm), "s not in K"
    assert cone_violation(prob, y, dual=True) <= CONE_TOL * (1 + np.abs(y).max()), "y not in K*"
    gap = abs(s @ y)
    assert gap <= OBJ_RTOL * scale, f"complementarity sᵀy = {gap:.2e}"


def check_certificate(prob, doc, status):
    A, b, q = prob["A"], np.asarray(prob["b"]), np.asarray(prob["q"])
    if status == "primal_infeasible":
        y = np.asarray(doc["y"], float)
        by = b @ y
        assert by < 0, f"bᵀy = {by}"
        assert np.abs(A.T @ y).max() <= CERT_TOL * -by * (1 + np.abs(A).max()), \
            f"‖Aᵀy‖∞ = {np.abs(A.T @ y).max():.2e}, bᵀy = {by:.2e}"
        assert cone_violation(prob, y, dual=True) <= CERT_TOL * -by, "y not in K*"
    else:
        x, s = np.asarray(doc["x"], float), np.asarray(doc["s"], float)
        qx = q @ x
        assert qx < 0, f"qᵀx = {qx}"
        P = _P_full(prob)
        assert np.abs(P @ x).max() <= CERT_TOL * -qx * (1 + np.abs(P).max()), "‖Px‖ too large"
        assert np.abs(A @ x + s).max() <= CERT_TOL * -qx * (1 + np.abs(A).max()), "‖Ax + s‖ too large"
        assert cone_violation(prob, s, dual=False) <= CERT_TOL * -qx, "s not in K"


# Instances on which Clarabel itself ends without an answer (NumericalError, InsufficientProgress,
# ...) although the generator knows the status: esmarket is then held to the known status and its
# certificate is checked here instead (the comparison is impossible). Recorded, not hidden.
CLARABEL_FAILED = {}


def compare_with_clarabel(esm, prob, expected, label):
    status, sol = solve_clarabel(prob)
    doc = solve_esmarket(esm, prob)
    if status not in ("solved", "primal_infeasible", "dual_infeasible") and expected != "solved":
        CLARABEL_FAILED[label] = str(sol.status)
        got = ESM_CLASS.get(doc["status"], doc["status"])
        assert got == expected, \
            f"{label}: esmarket {doc['status']} ({doc.get('message')}), Clarabel {sol.status}, known {expected}"
        check_certificate(prob, doc, expected)
        return
    assert status == expected, f"{label}: Clarabel says {sol.status} (the generator meant {expected})"
    got = ESM_CLASS.get(doc["status"], doc["status"])
    assert got == status, \
        f"{label}: esmarket {doc['status']} ({doc.get('message')}), Clarabel {sol.status} (obj {sol.obj_val})"
    if status == "solved":
        check_solved(prob, doc, sol.obj_val, label)
    else:
        check_certificate(prob, doc, status)


# ---------------------------------------------------------------------------------------------
# continuous families against Clarabel
# ---------------------------------------------------------------------------------------------
RANDOM_COUNTS = (("feasible", 30), ("primal_infeasible", 16), ("dual_infeasible", 16), ("scaled", 10),
                 ("large", 6), ("large_primal_infeasible", 3), ("large_dual_infeasible", 3))
RANDOM_CASES = [(kind, variant, 1000 * (1 + k) + 100 * v + i)
                for k, kind in enumerate(("lp", "qp", "socp"))
                for v, (variant, count) in enumerate(RANDOM_COUNTS)
                for i in range(count)]


def _case_id(case):
    return f"{case[0]}-{case[1]}-{case[2]}"


# Mismatches against Clarabel, kept in the suite as strict xfails (id -> the numbers) so that a
# fix shows up as XPASS (then delete the entry). Not tolerances loosened: each entry names an
# instance that fails an assertion the others pass. Empty since the residual normalization of
# the stopping rule became the one asserted here (1 + ‖b‖∞, 1 + ‖q‖∞; api.md §2.7).
KNOWN_FAILURES: dict[str, str] = {}


def _params(cases):
    out = []
    for case in cases:
        reason = KNOWN_FAILURES.get(_case_id(case))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(case, marks=marks, id=_case_id(case)))
    return out


@pytest.mark.parametrize("case", _params(RANDOM_CASES))
def test_random_against_clarabel(esm, case):
    kind, variant, seed = case
    # even seeds: strictly complementary optimum; odd seeds: interior dual point
    base = random_problem(kind, seed, complementary=seed % 2 == 0, scaled=variant == "scaled",
                          large=variant.startswith("large"))
    label = _case_id(case)
    if variant.endswith("primal_infeasible"):
        compare_with_clarabel(esm, infeasible_twin(base, seed + 7), "primal_infeasible", label)
    elif variant.endswith("dual_infeasible"):
        compare_with_clarabel(esm, unbounded_twin(base, seed + 7), "dual_infeasible", label)
    else:
        compare_with_clarabel(esm, base, "solved", label)


DISTFLOW_CASES = [(name, variant, seed)
                  for name in ("ieee33bw", "ieee37", "ieee123")
                  for variant, count in (("feasible", 10), ("overloaded", 4), ("unbounded", 4))
                  for seed in range(count)]
DISTFLOW_EXPECTED = {"feasible": "solved", "overloaded": "primal_infeasible", "unbounded": "dual_infeasible"}


@pytest.mark.parametrize("case", _params(DISTFLOW_CASES))
def test_distflow_against_clarabel(esm, case):
    name, variant, seed = case
    prob = distflow_problem(name, 5000 + 37 * seed + len(name), variant)
    compare_with_clarabel(esm, prob, DISTFLOW_EXPECTED[variant], _case_id(case))


# ---------------------------------------------------------------------------------------------
# mixed-integer families against SCIP
# ---------------------------------------------------------------------------------------------
def mixed_integer_problem(kind, seed, variant):
    """A small LP / QP / SOCP with binaries. Every variable is boxed by explicit nonnegative rows
    (continuous in [−3, 3]; binaries in [0, 1] on even seeds only — the solver must impose
    {0, 1} itself), feasible at a point x0 with binary entries in {0, 1}, with a knapsack row on
    the binaries against rewards for setting them (fractional relaxations). Variants:
    `relaxation_infeasible` appends a Farkas-contradicting block; `integer_infeasible` appends
    2·(sum of three binaries) = 3, which the relaxation satisfies and no 0/1 point does."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 11))
    nb = int(rng.integers(2, min(n, 7) + 1))
    binaries = sorted(rng.choice(n, size=nb, replace=False).tolist())
    cont = [j for j in range(n) if j not in binaries]
    m_nn = int(rng.integers(1, n + 1))
    socs = [int(rng.integers(3, 5)) for _ in range(int(rng.integers(1, 3)))] if kind == "socp" else []
    A_core = _sparse(rng, m_nn + sum(socs), n, 0.5)
    x0 = rng.uniform(-2, 2, n)
    x0[binaries] = rng.integers(0, 2, nb)
    box_vars = cont + (binaries if seed % 2 == 0 else [])
    E = np.zeros((2 * len(box_vars), n))
    box_b = np.zeros(2 * len(box_vars))
    for k, j in enumerate(box_vars):
        E[2 * k, j], E[2 * k + 1, j] = 1.0, -1.0
        box_b[2 * k], box_b[2 * k + 1] = (1.0, 0.0) if j in binaries else (3.0, 3.0)
    s_nn = rng.uniform(0.0, 1.0, m_nn)
    s_soc = np.concatenate([_soc_point(rng, k) for k in socs]) if socs else np.zeros(0)
    # a knapsack row on the binaries that x0 meets and their rewards −q_j favour breaking, so
    # that the relaxation is fractional and the search has to branch
    w = np.zeros(n)
    w[binaries] = rng.uniform(1.0, 3.0, nb)
    cap = max(w @ x0, 0.45 * w.sum()) + rng.uniform(0.0, 0.3)
    A = sp.csc_matrix(sp.vstack([sp.csc_matrix(E), sp.csc_matrix(w), A_core]))
    b = np.r_[box_b, cap, A_core @ x0 + np.r_[s_nn, s_soc]]
    cones = [("nonneg", len(box_b) + 1 + m_nn)] + [("soc", k) for k in socs]
    P = None
    if kind == "qp" or (kind == "socp" and seed % 3 == 0):
        M = rng.standard_normal((int(rng.integers(1, n + 1)), n))
        P = sp.csc_matrix(M.T @ M)
    q = rng.standard_normal(n) * 2
    q[binaries] = -rng.uniform(1.0, 4.0, nb)
    prob = {"P": P, "q": q, "A": A, "b": b, "cones": cones, "integers": binaries}
    if variant == "relaxation_infeasible":
        prob = dict(infeasible_twin(dict(prob, x0=x0), seed + 11), integers=binaries)
    elif variant == "integer_infeasible":
        pick = binaries[:3] if nb >= 3 else binaries[:2]
        row = np.zeros(n)
        row[pick] = 2.0
        rhs = 3.0 if len(pick) == 3 else 1.0  # 2·(0/1 sum) is even: never 3 nor 1
        prob["A"] = sp.csc_matrix(sp.vstack([sp.csc_matrix(row), prob["A"]]))
        prob["b"] = np.r_[rhs, prob["b"]]
        prob["cones"] = [("zero", 1)] + prob["cones"]
    return prob


FEASTOL = 1e-8


def solve_scip(prob):
    """(status class, objective) of SCIP on the problem, cones written as nonlinear constraints."""
    pyscipopt = pytest.importorskip("pyscipopt")
    model = pyscipopt.Model()
    model.hideOutput()
    model.setParam("numerics/feastol", FEASTOL)
    model.setParam("limits/time", 20.0)
    model.setParam("limits/gap", 0.0)
    model.setParam("limits/absgap", 0.0)
    A = prob["A"].toarray()
    b = np.asarray(prob["b"])
    n = A.shape[1]
    ints = set(prob["integers"])
    x = [model.addVar(f"x{j}", vtype="B") if j in ints else model.addVar(f"x{j}", lb=None)
         for j in range(n)]

    def expr(row):
        return pyscipopt.quicksum(float(row[j]) * x[j] for j in range(n) if row[j] != 0.0)

    for t, rows in _blocks(prob):
        block = A[rows]
        rhs = b[rows]
        if t == "zero":
            for a, c in zip(block, rhs):
                model.addCons(expr(a) == float(c))
        elif t == "nonneg":
            for a, c in zip(block, rhs):
                model.addCons(expr(a) <= float(c))
        else:
            z = [model.addVar(lb=0.0 if i == 0 else None) for i in range(len(rhs))]
            for zi, a, c in zip(z, block, rhs):
                model.addCons(zi + expr(a) == float(c))  # z = b − A x
            model.addCons(pyscipopt.quicksum(zi * zi for zi in z[1:]) <= z[0] * z[0])
    q = np.asarray(prob["q"])
    linear = pyscipopt.quicksum(float(q[j]) * x[j] for j in range(n))
    if prob["P"] is not None:
        # ½xᵀPx = ½‖u‖² with u = Fx, P = FᵀF from the eigendecomposition (separable squares,
        # which SCIP handles far better than the dense quadratic form)
        lam, V = np.linalg.eigh(_P_full(prob).toarray())
        keep = lam > 1e-12 * max(1.0, lam.max())
        F = np.sqrt(lam[keep])[:, None] * V[:, keep].T
        u = [model.addVar(lb=None) for _ in range(F.shape[0])]
        for ui, row in zip(u, F):
            model.addCons(ui == expr(row))
        t = model.addVar("t", lb=None)
        model.addCons(0.5 * pyscipopt.quicksum(ui * ui for ui in u) + linear <= t)
        model.setObjective(t, "minimize")
    else:
        model.setObjective(linear, "minimize")
    model.optimize()
    status = model.getStatus()
    if status == "optimal":
        return "solved", model.getObjVal()
    if status == "infeasible":
        return "primal_infeasible", None
    if status == "unbounded":
        return "dual_infeasible", None
    return status, None


MI_CASES = [(kind, variant, 7000 + 100 * ["lp", "qp", "socp"].index(kind) + 25 * v + i)
            for kind in ("lp", "qp", "socp")
            for v, (variant, count) in enumerate((("feasible", 16), ("relaxation_infeasible", 3),
                                                 ("integer_infeasible", 3)))
            for i in range(count)]
MI_EXPECTED = {"feasible": "solved", "relaxation_infeasible": "primal_infeasible",
               "integer_infeasible": "primal_infeasible"}


@pytest.mark.parametrize("case", _params(MI_CASES))
def test_mixed_integer_against_scip(esm, case):
    kind, variant, seed = case
    prob = mixed_integer_problem(kind, seed, variant)
    status, objective = solve_scip(prob)
    assert status == MI_EXPECTED[variant], f"SCIP says {status} (the generator meant {MI_EXPECTED[variant]})"
    doc = solve_esmarket(esm, prob)
    got = ESM_CLASS.get(doc["status"], doc["status"])
    assert got == status, f"{_case_id(case)}: esmarket {doc['status']} ({doc.get('message')}), SCIP {status} ({objective})"
    if status == "solved":
        assert abs(doc["objective"] - objective) <= OBJ_RTOL * max(1.0, abs(objective)), \
            f"{_case_id(case)}: esmarket {doc['objective']!r}, SCIP {objective!r}"
        x = np.asarray(doc["x"], float)
        for j in prob["integers"]:
            assert min(abs(x[j]), abs(x[j] - 1.0)) <= 1e-6, f"x[{j}] = {x[j]} is not binary"
        A, b = prob["A"], np.asarray(prob["b"])
        s = b - A @ x
        assert cone_violation(prob, s, dual=False) <= 1e-7 * (1 + np.abs(b).max()), "Ax − b ∉ −K"
        P = _P_full(prob)
        obj = 0.5 * x @ (P @ x) + np.asarray(prob["q"]) @ x
        assert abs(obj - doc["objective"]) <= 1e-9 * max(1.0, abs(obj))
        assert doc["hasIncumbent"] is True and doc["nodes"] >= 1
        assert doc["bestBound"] <= doc["objective"] + OBJ_RTOL * max(1.0, abs(objective))
    else:
        assert doc["hasIncumbent"] is False


def test_instance_counts():
    """The suite's size as promised: ≥ 200 continuous instances, plus the mixed-integer ones."""
    assert len(RANDOM_CASES) + len(DISTFLOW_CASES) >= 200
    assert len(MI_CASES) >= 30
