"""social_optimum against an independent CVXPY + Clarabel model of the same instance.

The reference below is written from the branch-flow equations (Baran & Wu's DistFlow with the
second-order cone relaxation of Farivar & Low, and its lossless linearization LinDistFlow), not
from esmarket's code: its own per-unit system (1 MVA base), its own tree orientation (breadth
first from the substation), kW flex variables, one variable per flexible prosumer.

Cases: the three built-in feeders with 0, 100 and 5,000 generated prosumers, both network
models. Tolerances (issue 4): objective 1e-6 relative, voltages 1e-6 pu, prices 1e-5 relative.

The generated cases ask for vMinPu 0.95, which the 33-bus and 123-bus feeders miss even with no
prosumer at all (their base-case minimum voltages are 0.913 and 0.945 pu); the comparison cases
set a per-feeder vMinPu that keeps every size feasible. Binding limits (voltage floors, the
123-bus feeder's 150 kVA transformer) have their own cases, and costA = 0 prosumers exercise
esmarket's per-prosumer model (the default bus aggregation needs costA > 0).

The 5,000-prosumer reference runs need no aggregation: the model is vectorized (one variable
vector for all flexible prosumers) and the whole file runs in a few seconds.
"""
import math
import time
import warnings
from pathlib import Path

import pytest

from feeder_documents import network_document

REPO = Path(__file__).resolve().parents[2]

cp = pytest.importorskip("cvxpy")
np = pytest.importorskip("numpy")
pytest.importorskip("clarabel")

FEEDERS = ("ieee33bw", "ieee37", "ieee123")
MODELS = ("socp", "lindistflow")
SIZES = (0, 100, 5000)
# Feasible for every size and model; binding at some of them.
V_MIN = {"ieee33bw": 0.9, "ieee37": 0.945, "ieee123": 0.93}


# ---------------------------------------------------------------------------------------------
# Instance data
# ---------------------------------------------------------------------------------------------



def case(esm, feeder, size, model, seed=11, **network):
    """A generated social_optimum case (size 0: the generated feeder without prosumers)."""
    problem = esm.generate_case("social_optimum", feeder=feeder, prosumers=max(size, 1), seed=seed)
    if size == 0:
        problem["prosumers"] = []
    problem["network"]["model"] = model
    problem["network"]["vMinPu"] = V_MIN[feeder]
    problem["network"].update(network)
    return problem


# ---------------------------------------------------------------------------------------------
# The reference model
# ---------------------------------------------------------------------------------------------

S_BASE_KVA = 1000.0
CLARABEL = dict(max_iter=400)
# Clarabel's tolerances, tightest first: 1e-11 where it gets there (binding voltage limits make
# the prices sensitive: at 1e-9 they move by ~1e-5 relative), else 1e-9, else its default 1e-8.
TOLERANCES = (1e-11, 1e-9, 1e-8)


def reference(problem, tolerances=TOLERANCES):
    """Solves the planner's problem in CVXPY + Clarabel.

    Returns a dict: status, objective (currency), v (bus id → |V| pu), price (bus id → currency/kWh,
    the derivative of the optimal cost in the bus's demand), flex (prosumer id → kW), seconds
    (model build + solve, over every tolerance tried).
    """
    start = time.perf_counter()
    net = network_document(problem)
    model = net.get("model", "socp")
    buses = [b["id"] for b in net["buses"]]
    index = {b: i for i, b in enumerate(buses)}
    n = len(buses)
    root = index[net["substationBus"]]
    kv = net["baseKV"]
    z_scale = S_BASE_KVA / (1000.0 * kv * kv)

    # Tree of the closed lines, oriented away from the substation.
    adjacent = [[] for _ in range(n)]
    for k, line in enumerate(net["lines"]):
        if line.get("closed", True):
            a, b = index[line["from"]], index[line["to"]]
            adjacent[a].append((k, b))
            adjacent[b].append((k, a))
    parent_line = [None] * n
    seen = [False] * n
    seen[root] = True
    queue = [root]
    branches = []          # (line index, parent bus, child bus)
    for bus in queue:
        for k, other in adjacent[bus]:
            if not seen[other]:
                seen[other] = True
                parent_line[other] = k
                branches.append((k, bus, other))
                queue.append(other)
    m = len(branches)
    src = np.array([b[1] for b in branches])
    dst = np.array([b[2] for b in branches])
    r = np.array([net["lines"][b[0]]["rOhm"] * z_scale for b in branches])
    x = np.array([net["lines"][b[0]]["xOhm"] * z_scale for b in branches])
    z2 = r * r + x * x
    rate = [net["lines"][b[0]].get("rateKVA") for b in branches]

    # Demand per bus (pu): passive loads + prosumer loads − pv − fixed flex; capacitors.
    p_dem = np.array([b.get("pLoadKW", 0.0) for b in net["buses"]]) / S_BASE_KVA
    q_dem = np.array([b.get("qLoadKVAr", 0.0) for b in net["buses"]]) / S_BASE_KVA
    b_cap = np.array([b.get("qCapKVAr", 0.0) for b in net["buses"]]) / S_BASE_KVA
    flex_ids, flex_bus, lo, hi, ca, cb = [], [], [], [], [], []
    fixed_cost = 0.0
    for p in problem.get("prosumers", []):
        bus = index[p["bus"]]
        load = p.get("loadKW", 0.0)
        if "qLoadKVAr" in p:
            qload = p["qLoadKVAr"]
        else:
            pf = p.get("powerFactor", 1.0)
            qload = load * math.tan(math.acos(pf)) if pf < 1 else 0.0
        p_dem[bus] += (load - p.get("pvKW", 0.0)) / S_BASE_KVA
        q_dem[bus] += qload / S_BASE_KVA
        f = p.get("flex")
        if f is None:
            continue
        fmin, fmax = f.get("minKW", 0.0), f["maxKW"]
        a, b = f.get("costA", 0.0), f.get("costB", 0.0)
        if fmax > fmin:
            flex_ids.append(p["id"])
            flex_bus.append(bus)
            lo.append(fmin)
            hi.append(fmax)
            ca.append(a)
            cb.append(b)
        else:
            p_dem[bus] -= fmin / S_BASE_KVA
            fixed_cost += 0.5 * a * fmin * fmin + b * fmin

    # Incidence: flow into a bus from its parent branch, out to its child branches.
    into = np.zeros((n, m))
    out = np.zeros((n, m))
    into[dst, np.arange(m)] = 1.0
    out[src, np.arange(m)] = 1.0
    e_root = np.zeros(n)
    e_root[root] = 1.0

    P, Q, v = cp.Variable(m), cp.Variable(m), cp.Variable(n)
    P0, Q0 = cp.Variable(), cp.Variable()
    constraints = []
    lossy = model == "socp"
    if lossy:
        ell = cp.Variable(m)
        arriving_p, arriving_q = P - cp.multiply(r, ell), Q - cp.multiply(x, ell)
    else:
        arriving_p, arriving_q = P, Q
    k = len(flex_ids)
    flex_injection = 0
    flex_cost = 0
    if k:
        pf_kw = cp.Variable(k)
        G = np.zeros((n, k))
        G[np.array(flex_bus), np.arange(k)] = 1.0
        flex_injection = G @ pf_kw / S_BASE_KVA
        flex_cost = 0.5 * cp.sum(cp.multiply(np.array(ca), cp.square(pf_kw))) + np.array(cb) @ pf_kw
        constraints += [pf_kw >= np.array(lo), pf_kw <= np.array(hi)]
    # Active balance written as (supply − demand == 0) with the demand as the constant: the
    # optimal cost moves with the demand d_i by −ν_i (CVXPY's dual ν of `expr == 0` enters the
    # Lagrangian as +ν·expr), so the price is −ν_i.
    active = into @ arriving_p - out @ P + P0 * e_root + flex_injection - p_dem == 0
    reactive = into @ arriving_q - out @ Q + Q0 * e_root + cp.multiply(b_cap, v) - q_dem == 0
    constraints += [active, reactive]
    drop = v[src] - 2 * (cp.multiply(r, P) + cp.multiply(x, Q))
    if lossy:
        drop = drop + cp.multiply(z2, ell)
        has_z = z2 > 0
        idx = np.nonzero(has_z)[0]
        if len(idx):
            vs = v[src[idx]]
            constraints.append(cp.SOC(vs + ell[idx], cp.vstack([2 * P[idx], 2 * Q[idx], vs - ell[idx]]), axis=0))
        if (~has_z).any():
            constraints.append(ell[np.nonzero(~has_z)[0]] == 0)
    constraints.append(v[dst] == drop)
    v0 = net.get("vSubstationPu", 1.0)
    vmin, vmax = net.get("vMinPu", 0.95), net.get("vMaxPu", 1.05)
    constraints.append(v[root] == v0 * v0)
    others = np.array([i for i in range(n) if i != root])
    if len(others):
        constraints += [v[others] >= vmin * vmin, v[others] <= vmax * vmax]
    for j, limit in enumerate(rate):
        if limit:
            s = limit / S_BASE_KVA
            constraints.append(cp.norm(cp.hstack([P[j], Q[j]])) <= s)
            if lossy and z2[j] > 0:
                constraints.append(cp.norm(cp.hstack([P[j] - r[j] * ell[j], Q[j] - x[j] * ell[j]])) <= s)

    grid = problem["grid"]
    import_kw = P0 * S_BASE_KVA
    if "substationPrice" in grid:
        grid_cost = grid["substationPrice"] * import_kw
    else:
        grid_cost = cp.maximum(grid["buyPrice"] * import_kw, grid["sellPrice"] * import_kw)
    objective = flex_cost + grid_cost + fixed_cost
    lp = cp.Problem(cp.Minimize(objective), constraints)
    for tol in tolerances:
        with warnings.catch_warnings():     # "may be inaccurate" at 1e-11: then the next level
            warnings.simplefilter("ignore")
            lp.solve(solver=cp.CLARABEL, tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol, **CLARABEL)
        if lp.status in ("optimal", "infeasible"):
            break
    seconds = time.perf_counter() - start
    out_doc = {"status": lp.status, "seconds": seconds}
    if lp.status not in ("optimal", "optimal_inaccurate"):
        return out_doc
    out_doc["objective"] = float(lp.value)
    vv = np.sqrt(np.maximum(v.value, 0))
    out_doc["v"] = {buses[i]: float(vv[i]) for i in range(n)}
    price = -np.asarray(active.dual_value) / S_BASE_KVA
    out_doc["price"] = {buses[i]: float(price[i]) for i in range(n)}
    out_doc["flex"] = dict(zip(flex_ids, map(float, pf_kw.value))) if k else {}
    return out_doc


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------

def check_result(result, problem):
    """Contract checks of every solved social_optimum result."""
    doc = result.document
    assert doc["mechanism"] == "social_optimum"
    net = network_document(problem)
    assert [b["id"] for b in result.buses] == [b["id"] for b in net["buses"]]
    assert [l["id"] for l in result.lines] == [l["id"] for l in net["lines"]]
    assert len(result.prosumers) == len(problem.get("prosumers", []))
    for b in result.buses:
        parts = b["priceEnergy"] + b["priceLoss"] + b["priceCongestion"] + b["priceVoltage"]
        assert parts == pytest.approx(b["price"], abs=1e-12 + 1e-12 * abs(b["price"]))
    for p, given in zip(result.prosumers, problem.get("prosumers", [])):
        f = given.get("flex")
        if f:
            assert f.get("minKW", 0) - 1e-9 <= p["flexKW"] <= f["maxKW"] + 1e-9
        net_import = given.get("loadKW", 0) - given.get("pvKW", 0) - p["flexKW"]
        assert p["netImportKW"] == pytest.approx(net_import, abs=1e-9)
    # Every prosumer is a price taker at its bus price (the planner's optimality conditions).
    price = {b["id"]: b["price"] for b in result.buses}
    for p, given in zip(result.prosumers, problem.get("prosumers", [])):
        f = given.get("flex")
        if f and f.get("costA", 0) > 0:
            lo, hi = f.get("minKW", 0.0), f["maxKW"]
            best = min(max((price[given["bus"]] - f.get("costB", 0.0)) / f["costA"], lo), hi)
            assert abs(p["flexKW"] - best) <= 1e-3, (p, best)
    o = result.objective
    assert o["socialCost"] == pytest.approx(o["flexCost"] + o["gridCost"], rel=1e-12, abs=1e-9)
    for key in ("primalResidual", "dualResidual"):
        assert math.isfinite(result.quality[key])


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("feeder", FEEDERS)
def test_matches_cvxpy(esm, feeder, size, model):
    problem = case(esm, feeder, size, model)
    result = esm.clear(problem)
    assert result.status == "solved", result.message
    check_result(result, problem)
    ref = reference(problem)
    assert ref["status"] == "optimal", ref["status"]

    cost = result.objective["socialCost"]
    assert cost == pytest.approx(ref["objective"], rel=1e-6), (cost, ref["objective"])
    worst_v = max(abs(b["vPu"] - ref["v"][b["id"]]) for b in result.buses)
    assert worst_v <= 1e-6, worst_v
    scale = max(abs(p) for p in ref["price"].values())
    worst_price = max(abs(b["price"] - ref["price"][b["id"]]) for b in result.buses)
    assert worst_price <= 1e-5 * scale, (worst_price, scale)
    if model == "socp":
        assert result.quality["relaxationGapMax"] <= 1e-6
        # The relaxation is exact, so the AC power flow on the cleared injections agrees.
        assert result.quality["acVoltageErrorMaxPu"] <= 1e-6
    else:
        assert result.objective["lossesKW"] == 0
        assert all(abs(b["priceLoss"]) <= 1e-6 * scale for b in result.buses)


@pytest.mark.parametrize("model", MODELS)
def test_linear_flex_costs_match_cvxpy(esm, model):
    """costA = 0 for some prosumers: esmarket's per-prosumer model (the bus aggregation needs
    costA > 0) against the reference."""
    problem = case(esm, "ieee123", 500, model, seed=4)
    for p in problem["prosumers"][::5]:
        if "flex" in p:
            p["flex"]["costA"] = 0.0
    result = esm.clear(problem)
    assert result.status == "solved", result.message
    check_result(result, problem)
    ref = reference(problem)
    assert result.objective["socialCost"] == pytest.approx(ref["objective"], rel=1e-6)
    assert max(abs(b["vPu"] - ref["v"][b["id"]]) for b in result.buses) <= 1e-6
    scale = max(abs(p) for p in ref["price"].values())
    assert max(abs(b["price"] - ref["price"][b["id"]]) for b in result.buses) <= 1e-5 * scale


def remote_flex(model):
    """33-bus feeder, expensive flex at five remote buses that the planner runs only to hold
    vMinPu 0.925: the voltage limit binds at several buses."""
    return {"schema": "esmarket/1", "mechanism": "social_optimum",
            "network": {"builtin": "ieee33bw", "vMinPu": 0.925, "model": model},
            "grid": {"buyPrice": 1, "sellPrice": 0.1, "substationPrice": 0.3},
            "prosumers": [{"id": f"g{b}", "bus": b, "loadKW": 10, "qLoadKVAr": 3,
                           "flex": {"minKW": 0, "maxKW": 300, "costA": 0.002, "costB": 0.4}}
                          for b in ("14", "18", "25", "30", "33")]}


def binding_case(esm, name, model):
    if name == "voltage-generated":
        problem = case(esm, "ieee33bw", 3000, model, seed=2)
        problem["network"]["vMinPu"] = 0.91 if model == "lindistflow" else 0.9
        return problem, "priceVoltage" if model == "lindistflow" else None
    if name == "voltage-remote-flex":
        return remote_flex(model), "priceVoltage"
    # The 150 kVA transformer XFM1 of the 123-bus feeder, loaded beyond its rating at bus 610.
    problem = case(esm, "ieee123", 1000, model, seed=3)
    problem["prosumers"].append({"id": "xfm", "bus": "610", "loadKW": 250, "qLoadKVAr": 50,
                                 "flex": {"minKW": 0, "maxKW": 200, "costA": 0.01, "costB": 0.55}})
    return problem, "priceCongestion"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("name", ("voltage-generated", "voltage-remote-flex", "transformer"))
def test_binding_limits_match_cvxpy(esm, name, model):
    """Binding voltage and thermal limits: locational prices well above the energy price."""
    problem, component = binding_case(esm, name, model)
    result = esm.clear(problem)
    assert result.status == "solved", result.message
    check_result(result, problem)
    if component:
        assert max(abs(b[component]) for b in result.buses) > 0.1
    ref = reference(problem)
    assert ref["status"] == "optimal", ref["status"]
    assert result.objective["socialCost"] == pytest.approx(ref["objective"], rel=1e-6)
    assert max(abs(b["vPu"] - ref["v"][b["id"]]) for b in result.buses) <= 1e-6
    scale = max(abs(p) for p in ref["price"].values())
    assert max(abs(b["price"] - ref["price"][b["id"]]) for b in result.buses) <= 1e-5 * scale


def test_tariff_without_substation_price(esm):
    """No substationPrice: import at buyPrice, export at sellPrice (the planner exports here)."""
    problem = case(esm, "ieee33bw", 2000, "socp", seed=5)
    del problem["grid"]["substationPrice"]
    problem["grid"].update({"buyPrice": 0.2, "sellPrice": 0.1})
    for p in problem["prosumers"]:
        p["pvKW"] = 4.0
    problem["network"]["vMaxPu"] = 1.1
    result = esm.clear(problem)
    assert result.status == "solved", result.message
    check_result(result, problem)
    ref = reference(problem)
    assert result.objective["socialCost"] == pytest.approx(ref["objective"], rel=1e-6)
    assert max(abs(b["vPu"] - ref["v"][b["id"]]) for b in result.buses) <= 1e-6


def test_infeasible_voltage_names_a_bus(esm):
    problem = case(esm, "ieee33bw", 100, "socp")
    problem["network"]["vMinPu"] = 0.97
    result = esm.clear(problem)
    assert result.status == "infeasible"
    assert result.document["diagnosis"]["constraint"] == "vMinPu"
    assert result.document["diagnosis"]["bus"] in {b["id"] for b in network_document(problem)["buses"]}
    assert "vMinPu" in result.message
    assert reference(problem)["status"] == "infeasible"


def test_periods_give_arrays(esm):
    problem = case(esm, "ieee37", 100, "lindistflow")
    problem["periods"] = 2
    problem["grid"]["substationPrice"] = [0.6, 0.3]
    result = esm.clear(problem)
    assert result.status == "solved", result.message
    assert len(result.objective["socialCost"]) == 2
    assert len(result.buses[0]["price"]) == 2
    assert len(result.prosumers[0]["flexKW"]) == 2
    one = case(esm, "ieee37", 100, "lindistflow")
    one["grid"]["substationPrice"] = 0.3
    single = esm.clear(one)
    assert result.objective["socialCost"][1] == pytest.approx(single.objective["socialCost"], rel=1e-9)


def test_storage_is_unsupported(esm):
    problem = case(esm, "ieee37", 100, "socp")
    problem["prosumers"][3]["storage"] = {"capacityKWh": 10, "socKWh": 5, "chargeMaxKW": 3, "dischargeMaxKW": 3}
    with pytest.raises(esm.EsmarketError) as error:
        esm.clear(problem)
    assert error.value.code == "unsupported"
    assert error.value.path == "prosumers[3].storage"
