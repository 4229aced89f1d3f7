"""power_flow against an independent Newton–Raphson AC power flow written here with numpy.

The reference builds the complex bus admittance matrix from the network document itself (series
impedances of the closed lines, zero-impedance lines merged into one electrical node, shunt
admittances (pShuntKW + j·qCapKVAr)/S at each bus), takes the bus loads and the prosumers' net
demand (loadKW − pvKW, qLoadKVAr or loadKW·tan φ from powerFactor) from the problem document,
and solves the polar power-flow equations by Newton–Raphson with MATPOWER's Jacobian. It shares
no code and no algorithm with esmarket's backward/forward sweep.
"""
import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest

from feeder_documents import builtin_network

jsonschema = pytest.importorskip("jsonschema")
REPO = Path(__file__).resolve().parents[2]
RESULT_SCHEMA = json.loads((REPO / "schema" / "result.schema.json").read_text(encoding="utf-8"))
RESULT_V = jsonschema.Draft202012Validator(RESULT_SCHEMA)

S_BASE = 1000.0  # kVA; any base works, the answer is in kW / pu


def assert_valid_result(document):
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in RESULT_V.iter_errors(document)]
    assert not errors, errors[:5]


# ---------------------------------------------------------------------------------------------
# the reference
# ---------------------------------------------------------------------------------------------
def _at(value, t):
    return float(value[t]) if isinstance(value, list) else float(value)


def _prosumer_rows(prosumers):
    if prosumers is None:
        return []
    if isinstance(prosumers, dict):  # column form
        n = len(prosumers["id"])
        return [{k: v[i] for k, v in prosumers.items() if v[i] is not None} for i in range(n)]
    return prosumers


def newton_raphson(doc, t):
    """Bus voltages (complex, pu, keyed by bus id), line flows and losses of period t."""
    net = doc["network"]
    if "builtin" in net:
        full = builtin_network(net["builtin"])
        full.update({k: v for k, v in net.items() if k != "builtin"})
        net = full
    ids = [b["id"] for b in net["buses"]]
    index = {b: i for i, b in enumerate(ids)}
    n = len(ids)
    # zero-impedance closed lines: one electrical node
    parent = list(range(n))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    closed = [l for l in net["lines"] if l.get("closed", True)]
    for l in closed:
        if l["rOhm"] == 0 and l["xOhm"] == 0:
            parent[find(index[l["from"]])] = find(index[l["to"]])
    nodes = sorted({find(i) for i in range(n)})
    node_of = {i: nodes.index(find(i)) for i in range(n)}
    m = len(nodes)
    zscale = S_BASE / (1000.0 * net["baseKV"] ** 2)

    Y = np.zeros((m, m), dtype=complex)
    demand = np.zeros(m, dtype=complex)   # constant-power consumption, pu
    for i, b in enumerate(net["buses"]):
        k = node_of[i]
        Y[k, k] += (b.get("pShuntKW", 0.0) + 1j * b.get("qCapKVAr", 0.0)) / S_BASE
        demand[k] += (_at(b.get("pLoadKW", 0.0), t) + 1j * _at(b.get("qLoadKVAr", 0.0), t)) / S_BASE
    for p in _prosumer_rows(doc.get("prosumers")):
        load = _at(p.get("loadKW", 0.0), t)
        if "qLoadKVAr" in p:
            q = _at(p["qLoadKVAr"], t)
        else:
            pf = p.get("powerFactor", 1.0)
            q = load * math.sqrt(1 - pf * pf) / pf
        demand[node_of[index[p["bus"]]]] += (load - _at(p.get("pvKW", 0.0), t) + 1j * q) / S_BASE
    series = []
    for l in closed:
        if l["rOhm"] == 0 and l["xOhm"] == 0:
            continue
        f, to = node_of[index[l["from"]]], node_of[index[l["to"]]]
        y = 1.0 / (complex(l["rOhm"], l["xOhm"]) * zscale)
        Y[f, f] += y
        Y[to, to] += y
        Y[f, to] -= y
        Y[to, f] -= y
        series.append((l, f, to, y))

    slack = node_of[index[net["substationBus"]]]
    v0 = net.get("vSubstationPu", 1.0)
    pv = [k for k in range(m) if k != slack]
    V = np.full(m, v0, dtype=complex)
    for _ in range(30):
        I = Y @ V
        S = V * np.conj(I)
        F = S + demand          # injection computed − injection specified (−demand)
        mis = np.concatenate([F.real[pv], F.imag[pv]])
        if np.max(np.abs(mis)) < 1e-11:   # pu; the rounding floor here is ~5e-13
            break
        Vm = np.abs(V)
        dS_dVm = np.diag(V) @ np.conj(Y @ np.diag(V / Vm)) + np.diag(np.conj(I)) @ np.diag(V / Vm)
        dS_dVa = 1j * np.diag(V) @ np.conj(np.diag(I) - Y @ np.diag(V))
        J = np.block([[dS_dVa.real[np.ix_(pv, pv)], dS_dVm.real[np.ix_(pv, pv)]],
                      [dS_dVa.imag[np.ix_(pv, pv)], dS_dVm.imag[np.ix_(pv, pv)]]])
        dx = np.linalg.solve(J, -mis)
        Va = np.angle(V)
        Va[pv] += dx[:len(pv)]
        Vm[pv] += dx[len(pv):]
        V = Vm * np.exp(1j * Va)
    else:
        raise AssertionError("reference Newton-Raphson did not converge")

    lines = {}
    for l, f, to, y in series:
        i_ft = (V[f] - V[to]) * y
        s_from = V[f] * np.conj(i_ft) * S_BASE
        loss = (V[f] - V[to]) * np.conj(i_ft) * S_BASE
        lines[l["id"]] = (s_from, loss)
    for l in net["lines"]:
        if l["id"] not in lines:
            lines[l["id"]] = None   # open, or zero impedance (flow not determined by the nodes)
    shunt = sum(b.get("pShuntKW", 0.0) * abs(V[node_of[i]]) ** 2 for i, b in enumerate(net["buses"]))
    s_slack = (V[slack] * np.conj((Y @ V)[slack]) + demand[slack]) * S_BASE
    # the slack's own shunt is drawn at the slack bus: the import includes it
    return {
        "v": {b: V[node_of[i]] for i, b in enumerate(ids)},
        "lines": lines,
        "seriesLossKW": sum(loss.real for s, loss in (x for x in lines.values() if x is not None)),
        "seriesLossKVAr": sum(loss.imag for s, loss in (x for x in lines.values() if x is not None)),
        "shuntLossKW": shunt,
        "substationKW": s_slack.real,
        "substationKVAr": s_slack.imag,
    }


# ---------------------------------------------------------------------------------------------
# documents
# ---------------------------------------------------------------------------------------------
def ieee33_document(periods=3):
    """ieee33bw at 1.03 pu with shunts of every kind, loads varying by period, prosumers with PV."""
    net = builtin_network("ieee33bw")
    net["vSubstationPu"] = 1.03
    scale = [1.0, 0.6, 1.25][:periods]
    for b in net["buses"]:
        p, q = b.get("pLoadKW", 0.0), b.get("qLoadKVAr", 0.0)
        b["pLoadKW"] = [p * s for s in scale] if periods > 1 else p
        b["qLoadKVAr"] = [q * s for s in scale] if periods > 1 else q
    shunts = {"6": (8.0, 150.0), "12": (0.0, -120.0), "18": (3.0, 0.0), "25": (5.0, -60.0), "30": (0.0, 400.0)}
    for b in net["buses"]:
        if b["id"] in shunts:
            b["pShuntKW"], b["qCapKVAr"] = shunts[b["id"]]

    def series(values):
        return values[:periods] if periods > 1 else values[0]

    prosumers = [
        {"id": "pv18", "bus": "18", "loadKW": series([10, 12, 8]), "pvKW": series([150, 0, 220])},
        {"id": "h7", "bus": "7", "loadKW": series([40, 30, 60]), "qLoadKVAr": series([10, 5, 20])},
        {"id": "f33", "bus": "33", "loadKW": series([25, 20, 30]), "pvKW": series([5, 80, 0]), "powerFactor": 0.9},
        {"id": "g22", "bus": "22", "pvKW": series([60, 60, 60])},
    ]
    return {"schema": "esmarket/1", "mechanism": "power_flow", "periods": periods, "network": net,
            "prosumers": prosumers}


def _period(value, t, periods):
    return value[t] if periods > 1 else value


def check_against_reference(doc, result, voltage_tol=1e-8, relative_tol=1e-8):
    """Every period of `result` (rows or columns) against the Newton–Raphson reference."""
    periods = doc.get("periods", 1)
    assert result["status"] == "solved", result["message"]
    buses, lines = result["buses"], result["lines"]
    if isinstance(buses, dict):   # column form → rows
        buses = [dict(zip(buses, row)) for row in zip(*buses.values())]
        lines = [dict(zip(lines, row)) for row in zip(*lines.values())]
    worst_v = worst_a = worst_rel = 0.0
    for t in range(periods):
        ref = newton_raphson(doc, t)
        for b in buses:
            v = ref["v"][b["id"]]
            worst_v = max(worst_v, abs(_period(b["vPu"], t, periods) - abs(v)))
            worst_a = max(worst_a, abs(_period(b["angleDeg"], t, periods) - math.degrees(np.angle(v))))
        for row in lines:
            expected = ref["lines"][row["id"]]
            p, q = _period(row["pKW"], t, periods), _period(row["qKVAr"], t, periods)
            if not row["closed"]:
                assert p == 0 and q == 0 and _period(row["lossKW"], t, periods) == 0
            if expected is None:
                continue
            s_from, loss = expected
            scale = max(1.0, abs(s_from))
            worst_rel = max(worst_rel, abs(p - s_from.real) / scale, abs(q - s_from.imag) / scale)
            assert abs(_period(row["lossKW"], t, periods) - loss.real) <= 1e-8 * max(1.0, abs(loss))
            assert abs(_period(row["lossKVAr"], t, periods) - loss.imag) <= 1e-8 * max(1.0, abs(loss))
        total = ref["seriesLossKW"] + ref["shuntLossKW"]
        assert abs(_period(result["lossesKW"], t, periods) - total) <= relative_tol * total
        assert abs(_period(result["shuntLossKW"], t, periods) - ref["shuntLossKW"]) <= relative_tol * max(1.0, ref["shuntLossKW"])
        assert abs(_period(result["substationKW"], t, periods) - ref["substationKW"]) <= relative_tol * abs(ref["substationKW"])
        assert abs(_period(result["substationKVAr"], t, periods) - ref["substationKVAr"]) <= relative_tol * max(1.0, abs(ref["substationKVAr"]))
    assert worst_v <= voltage_tol, worst_v
    assert worst_a <= 1e-6, worst_a
    assert worst_rel <= 1e-8, worst_rel
    return worst_v


# ---------------------------------------------------------------------------------------------
# against Newton–Raphson
# ---------------------------------------------------------------------------------------------
def test_ieee33bw_with_shunts_prosumers_and_periods(esm):
    doc = ieee33_document(periods=3)
    r = esm.clear(doc)
    assert r.mechanism == "power_flow" and r.stats["algorithm"] == "backward_forward_sweep"
    worst = check_against_reference(doc, r.document)
    print(f"ieee33bw, 3 periods: max |V − V_NR| = {worst:.2e} pu, losses {r['lossesKW']} kW, "
          f"sweeps {r.stats['iterations']}")
    assert r.quality["converged"] == 1 and r.quality["maxMismatchKVA"] < 1e-6
    assert len(r["substationKW"]) == 3
    # the books balance: import = Σ net demand + losses, per period
    for t in range(3):
        ref = newton_raphson(doc, t)
        assert abs(r["substationKW"][t] - ref["substationKW"]) < 1e-6
    assert_valid_result(r.document)


def test_single_period_scalars_and_builtin_reference(esm):
    """One period: top-level values are numbers; a builtin reference with overrides is read like
    the full document."""
    doc = {"schema": "esmarket/1", "mechanism": "power_flow",
           "network": {"builtin": "ieee33bw", "vSubstationPu": 0.98},
           "prosumers": [{"id": "a", "bus": "15", "loadKW": 30, "pvKW": 90}]}
    r = esm.clear(doc)
    assert isinstance(r["substationKW"], float) and isinstance(r["lossesKW"], float)
    check_against_reference(doc, r.document)
    assert r["shuntLossKW"] == 0
    assert_valid_result(r.document)


def test_column_forms_in_and_out(esm):
    """Prosumers as columns and output as columns give the same numbers as rows."""
    doc = ieee33_document(periods=3)
    rows = esm.clear(doc).document
    cols_doc = copy.deepcopy(doc)
    keys = ["id", "bus", "loadKW", "pvKW", "qLoadKVAr", "powerFactor"]
    cols_doc["prosumers"] = {k: [p.get(k) for p in doc["prosumers"]] for k in keys}
    cols_doc["options"] = {"output": "columns"}
    cols = esm.clear(cols_doc)
    assert isinstance(cols["buses"], dict) and isinstance(cols["lines"], dict)
    check_against_reference(cols_doc, cols.document)
    by_id = {b["id"]: b for b in rows["buses"]}
    for i, bus in enumerate(cols["buses"]["id"]):
        assert cols["buses"]["vPu"][i] == by_id[bus]["vPu"]
    assert cols["lossesKW"] == rows["lossesKW"]
    assert_valid_result(cols.document)
    # Result.table reads either form alike
    assert len(cols.rows("buses")) == 3 * 33


def test_ieee123_open_switches_zero_impedance_and_rating(esm):
    """ieee123: zero-impedance regulators and switches, two open ties (flow 0), a rated
    transformer (loadingPct), capacitors."""
    doc = {"schema": "esmarket/1", "mechanism": "power_flow", "network": {"builtin": "ieee123", "vSubstationPu": 1.02},
           "prosumers": [{"id": "a", "bus": "610", "loadKW": 40, "qLoadKVAr": 15},
                         {"id": "b", "bus": "114", "pvKW": 80}]}
    r = esm.clear(doc)
    check_against_reference(doc, r.document)
    lines = {l["id"]: l for l in r["lines"]}
    assert not lines["Sw7"]["closed"] and lines["Sw7"]["pKW"] == 0
    xfm = lines["XFM1"]
    to_p, to_q = xfm["pKW"] - xfm["lossKW"], xfm["qKVAr"] - xfm["lossKVAr"]
    expected = max(math.hypot(xfm["pKW"], xfm["qKVAr"]), math.hypot(to_p, to_q)) / 150 * 100
    assert xfm["loadingPct"] == pytest.approx(expected, rel=1e-12) and xfm["loadingPct"] > 20
    assert lines["L1"]["loadingPct"] == 0   # unrated
    assert_valid_result(r.document)


def test_threads_give_the_same_answer(esm):
    doc = ieee33_document(periods=3)
    one = esm.clear(doc).document
    doc["options"] = {"threads": 3}
    three = esm.clear(doc).document
    assert one["buses"] == three["buses"] and one["lines"] == three["lines"]


def test_tolerance_and_max_iterations(esm):
    """A loose tolerance stops earlier (further from Newton–Raphson); one sweep is not enough."""
    doc = ieee33_document(periods=1)
    tight = esm.clear(doc)
    loose_doc = dict(doc, options={"tolerance": 1e-4})
    loose = esm.clear(loose_doc)
    assert loose.stats["iterations"] < tight.stats["iterations"]
    ref = newton_raphson(doc, 0)
    err = max(abs(b["vPu"] - abs(ref["v"][b["id"]])) for b in loose["buses"])
    assert 1e-9 < err < 1e-3
    one = esm.clear(dict(doc, options={"maxIterations": 1}))
    assert one.status == "infeasible" and one["diagnosis"]["constraint"] == "powerFlow"
    assert_valid_result(one.document)


# ---------------------------------------------------------------------------------------------
# collapse
# ---------------------------------------------------------------------------------------------
def _numbers(value):
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, (int, float)):
        yield float(value)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)


def test_collapse_is_infeasible_with_finite_numbers(esm):
    """Period 1 loads the feeder ten times over: no power flow exists there (the two-bus
    loadability bound P ≤ V²/(4R) is far exceeded on the main trunk). Period 0 is fine."""
    doc = ieee33_document(periods=2)
    for b in doc["network"]["buses"]:
        b["pLoadKW"] = [b["pLoadKW"][0], 10 * b["pLoadKW"][0]]
        b["qLoadKVAr"] = [b["qLoadKVAr"][0], 10 * b["qLoadKVAr"][0]]
    r = esm.clear(doc)
    assert r.status == "infeasible"
    assert r["diagnosis"]["constraint"] == "powerFlow" and r["diagnosis"]["period"] == "1"
    bus = r["diagnosis"]["bus"]
    v1 = {b["id"]: b["vPu"][1] for b in r["buses"]}
    assert v1[bus] == min(v1.values())
    assert "period 1" in r.message and bus in r.message
    assert r.quality["converged"] == 0
    numbers = list(_numbers(r.document))
    assert numbers and all(math.isfinite(x) for x in numbers)
    # period 0 is still the power flow
    ref = newton_raphson(doc, 0)
    assert max(abs(b["vPu"][0] - abs(ref["v"][b["id"]])) for b in r["buses"]) < 1e-8
    assert_valid_result(r.document)


def test_absurd_load_stays_finite(esm):
    doc = {"schema": "esmarket/1", "mechanism": "power_flow", "network": {"builtin": "ieee33bw"},
           "prosumers": [{"id": "a", "bus": "18", "loadKW": 1e9}]}
    r = esm.clear(doc)
    assert r.status == "infeasible"
    assert all(math.isfinite(x) for x in _numbers(r.document))
    assert_valid_result(r.document)


# ---------------------------------------------------------------------------------------------
# refused and invalid input
# ---------------------------------------------------------------------------------------------
BASE = {"schema": "esmarket/1", "mechanism": "power_flow", "network": {"builtin": "ieee33bw"},
        "prosumers": [{"id": "a", "bus": "5", "loadKW": 3}]}


def _error(esm, doc):
    with pytest.raises(esm.EsmarketError) as e:
        esm.clear(doc)
    return e.value


@pytest.mark.parametrize("change, path", [
    (lambda d: d.update(grid={"buyPrice": 1, "sellPrice": 0}), "grid"),
    (lambda d: d.update(communities=[{"id": "c", "bus": "3", "sensitivity": 0.1}]), "communities"),
    (lambda d: d["prosumers"][0].update(flex={"maxKW": 1}), "prosumers[0].flex"),
    (lambda d: d["prosumers"][0].update(storage={"capacityKWh": 1, "socKWh": 0, "chargeMaxKW": 1, "dischargeMaxKW": 1}),
     "prosumers[0].storage"),
    (lambda d: d["prosumers"][0].update(peers=["a"]), "prosumers[0].peers"),
    (lambda d: d["prosumers"][0].update(community="c"), "prosumers[0].community"),
    (lambda d: d["prosumers"][0].update(tradeCost=0.1), "prosumers[0].tradeCost"),
    (lambda d: d.update(options={"priceTaking": True}), "options.priceTaking"),
    (lambda d: d.update(options={"verifyPowerFlow": True}), "options.verifyPowerFlow"),
])
def test_market_keys_are_refused(esm, change, path):
    doc = copy.deepcopy(BASE)
    change(doc)
    e = _error(esm, doc)
    assert e.path == path and e.code == "invalid_input"
    assert "power_flow" in e.message


def test_column_form_refuses_flex(esm):
    doc = copy.deepcopy(BASE)
    doc["prosumers"] = {"id": ["a"], "bus": ["5"], "flex": {"maxKW": [1]}}
    e = _error(esm, doc)
    assert e.path == "prosumers.flex" and "no market" in e.message


@pytest.mark.parametrize("change, path", [
    (lambda d: d["prosumers"][0].pop("bus"), "prosumers[0].bus"),
    (lambda d: d["prosumers"][0].update(bus="nowhere"), "prosumers[0].bus"),
    (lambda d: d.update(options={"algorithm": "centralized"}), "options.algorithm"),
    (lambda d: d.update(network={"builtin": "ieee33bw", "buses": [{"id": "0", "pShuntKW": -1}], "lines": [],
                                 "substationBus": "0"}), "network.buses[0].pShuntKW"),
    (lambda d: d.pop("network"), "network"),
])
def test_invalid_input_names_the_path(esm, change, path):
    doc = copy.deepcopy(BASE)
    change(doc)
    e = _error(esm, doc)
    assert e.path == path, (e.path, e.message)


def test_without_prosumers_and_reactor(esm):
    """No prosumers: the bus loads alone; a negative qCapKVAr (reactor) lowers the voltage."""
    net = builtin_network("ieee33bw")
    doc = {"schema": "esmarket/1", "mechanism": "power_flow", "network": net}
    base = esm.clear(doc)
    check_against_reference(doc, base.document)
    for b in net["buses"]:
        if b["id"] == "18":
            b["qCapKVAr"] = -300.0
    reactor = esm.clear(doc)
    check_against_reference(doc, reactor.document)
    v = lambda r: {b["id"]: b["vPu"] for b in r["buses"]}["18"]
    assert v(reactor) < v(base) - 1e-3


def test_linear_angle_refuses_shunt_conductance(esm):
    doc = esm.generate_case("p2p_gne", prosumers=4, seed=1, periods=1, feeder="ieee33bw")
    doc["network"] = builtin_network("ieee33bw")
    doc["network"].pop("model", None)
    doc["network"]["buses"][3]["pShuntKW"] = 2.0
    e = _error(esm, doc)
    assert e.path == "network.buses[3].pShuntKW" and "linear_angle" in e.message
    doc["network"]["model"] = "lindistflow"   # the branch-flow models carry it
    assert esm.clear(doc).status in ("solved", "solved_inaccurate")


def test_generated_case_is_social_optimums_without_the_market(esm):
    """generate_case("power_flow") gives social_optimum's prosumers of the same seed (no flex, no
    grid); it clears, and agrees with the reference."""
    pf = esm.generate_case("power_flow", prosumers=200, seed=4, feeder="ieee33bw")
    so = esm.generate_case("social_optimum", prosumers=200, seed=4, feeder="ieee33bw")
    assert "grid" not in pf and "communities" not in pf
    assert all(set(p) <= {"id", "bus", "loadKW", "qLoadKVAr", "pvKW"} for p in pf["prosumers"])
    assert [(p["id"], p["bus"], p["loadKW"], p.get("pvKW")) for p in pf["prosumers"]] == \
        [(p["id"], p["bus"], p["loadKW"], p.get("pvKW")) for p in so["prosumers"]]
    r = esm.clear(pf)
    check_against_reference(pf, r.document)
    assert_valid_result(r.document)
