"""The relaxation-exactness policy (issue 16, part 1) against an exact AC optimum.

Where PV export meets the upper voltage limit the SOC relaxation is not exact; esmarket then
recovers an AC-feasible point under the linearized (LinDistFlow) voltage ceiling, loosened by the
measured gap between the ceiling and the AC power flow (RelaxationRecovery.swift). Here:

* every `solved` answer is checked with an AC power flow written independently of esmarket
  (tlv_reference.ac_power_flow, forward/backward sweep on complex voltages): voltages within the
  limits (1e-6 pu) and equal to the reported ones;
* small feeders (a few flexible PV prosumers) are compared with the exact AC optimum, found by
  scipy's SLSQP over the flex outputs with the AC power flow as the model (multistart), and the
  optimality gap is stated: printed, and asserted below 1e-6 (measured: -1.8e-10, 5.2e-8 and
  -1.5e-10 relative for cases a, b, c; before the polish step, the ceiling's fixed point alone
  was 1.7e-3 above the optimum in case b);
* the issue's two_layer_voltage cases (generated, every pvKW x 6) never answer `solved` with an
  AC voltage above the limit.
"""
import json
import math

import pytest

np = pytest.importorskip("numpy")
optimize = pytest.importorskip("scipy.optimize")

from feeder_documents import network_document
from tlv_reference import Network, ac_power_flow

TOL_PU = 1e-6


def ac_of(problem, doc):
    """AC power flow of a social_optimum answer's injections (prosumer nets and passive loads)."""
    net_doc = network_document(problem)
    net = Network(net_doc)
    p = -net.pload.copy()
    q = -net.qload.copy()
    for given, got in zip(problem["prosumers"], doc["prosumers"]):
        k = net.index[given["bus"]]
        p[k] -= got["netImportKW"]
        q[k] -= given.get("qLoadKVAr", 0.0)
    return net, ac_power_flow(net, p, q)


def check_solved_is_ac_feasible(problem, doc):
    net, ac = ac_of(problem, doc)
    assert ac["converged"]
    others = np.arange(net.n) != net.root
    v = ac["v"][others]
    assert np.all(v <= net.vmax + TOL_PU) and np.all(v >= net.vmin - TOL_PU), (v.min(), v.max())
    reported = np.array([b["vPu"] for b in doc["buses"]])
    assert np.max(np.abs(reported - ac["v"])) <= TOL_PU
    assert doc["quality"]["relaxationExact"] == 1
    return net, ac


# ---------------------------------------------------------------------------------------------
# Small feeders: esmarket against the exact AC optimum
# ---------------------------------------------------------------------------------------------
def small_case(kind):
    """0 - 1 - 2 and 1 - 3 at 4.16 kV, PV with curtailment (flex in [-pv, 0], cost a/2 p^2 + b p)."""
    lines = [{"id": "L1", "from": "0", "to": "1", "rOhm": 2.0, "xOhm": 2.0},
             {"id": "L2", "from": "1", "to": "2", "rOhm": 4.0, "xOhm": 3.0},
             {"id": "L3", "from": "1", "to": "3", "rOhm": 3.0, "xOhm": 4.0}]
    buses = [{"id": "0"}, {"id": "1", "pLoadKW": 30, "qLoadKVAr": 10}, {"id": "2", "pLoadKW": 10},
             {"id": "3", "pLoadKW": 20, "qLoadKVAr": 5}]
    pv = {"a": (400, 300), "b": (500, 150), "c": (250, 450)}[kind]
    costs = {"a": ((0.002, 0.0), (0.001, 0.05)), "b": ((0.004, 0.1), (0.002, 0.0)),
             "c": ((0.001, 0.0), (0.001, 0.0))}[kind]
    prosumers = []
    for i, (bus, kw, (a, b)) in enumerate(zip(("2", "3"), pv, costs)):
        prosumers.append({"id": f"pv{i}", "bus": bus, "loadKW": 5.0, "qLoadKVAr": 1.0, "pvKW": kw,
                          "flex": {"minKW": -kw, "maxKW": 0.0, "costA": a, "costB": b}})
    return {"schema": "esmarket/1", "mechanism": "social_optimum",
            "network": {"baseKV": 4.16, "substationBus": "0", "vMinPu": 0.95, "vMaxPu": 1.05, "model": "socp",
                        "buses": buses, "lines": lines},
            "grid": {"buyPrice": 1.0, "sellPrice": 0.3, "substationPrice": 0.6},
            "prosumers": prosumers}


def ac_optimum(problem):
    """min sum flex cost + price * P0 over the flex outputs, P0 and voltages from the AC power
    flow; SLSQP from a grid of starts, the best feasible local optimum kept."""
    net = Network(network_document(problem))
    people = problem["prosumers"]
    price = problem["grid"]["substationPrice"]
    lo = np.array([p["flex"]["minKW"] for p in people])
    hi = np.array([p["flex"]["maxKW"] for p in people])

    def flow(f):
        p = -net.pload.copy()
        q = -net.qload.copy()
        for who, fk in zip(people, f):
            k = net.index[who["bus"]]
            p[k] += who["pvKW"] - who["loadKW"] + fk
            q[k] -= who["qLoadKVAr"]
        return ac_power_flow(net, p, q)

    def cost(f):
        c = sum(0.5 * w["flex"]["costA"] * fk * fk + w["flex"]["costB"] * fk for w, fk in zip(people, f))
        return c + price * flow(f)["P0"]

    others = np.arange(net.n) != net.root

    def limits(f):
        v = flow(f)["v"][others]
        return np.concatenate([(net.vmax - v) * 1e3, (v - net.vmin) * 1e3])

    best = None
    for t in np.linspace(0.05, 0.95, 7):
        for s in np.linspace(0.05, 0.95, 7):
            x0 = lo + np.array([t, s]) * (hi - lo)
            res = optimize.minimize(cost, x0, method="SLSQP", bounds=list(zip(lo, hi)),
                                    constraints=[{"type": "ineq", "fun": limits}],
                                    options={"ftol": 1e-13, "maxiter": 500})
            if res.success and np.min(limits(res.x)) >= -1e-6 and (best is None or res.fun < best.fun):
                best = res
    assert best is not None
    return best.fun, best.x, flow(best.x)


@pytest.mark.parametrize("kind", ["a", "b", "c"])
def test_recovered_point_against_the_ac_optimum(esm, kind):
    problem = small_case(kind)
    doc = esm.clear(problem).document
    assert doc["status"] == "solved", doc.get("message")
    net, ac = check_solved_is_ac_feasible(problem, doc)
    assert doc["quality"]["recoverySolves"] >= 1          # the case does need the recovery
    assert max(ac["v"]) == pytest.approx(1.05, abs=1e-6)  # and the AC limit binds
    # esmarket's cost, recomputed from its flex and the AC power flow of its injections
    price = problem["grid"]["substationPrice"]
    flex = [p["flexKW"] for p in doc["prosumers"]]
    mine = sum(0.5 * w["flex"]["costA"] * f * f + w["flex"]["costB"] * f for w, f in zip(problem["prosumers"], flex))
    mine += price * ac["P0"]
    assert doc["objective"]["socialCost"] == pytest.approx(mine, rel=1e-6, abs=1e-6)
    best, x, _ = ac_optimum(problem)
    gap = (mine - best) / abs(best)
    print(f"case {kind}: esmarket {mine:.6f}, AC optimum {best:.6f}, gap {gap:.2e}, "
          f"flex {np.round(flex, 4)} vs {np.round(x, 4)}, recovery solves {doc['quality']['recoverySolves']:.0f}")
    assert gap >= -1e-6          # no better than the exact optimum (it is AC-feasible)
    assert gap <= 1e-6           # measured 5.2e-8 at most (case b), see README


# ---------------------------------------------------------------------------------------------
# The two_layer_voltage cases: PV x 6 on the built-in feeders
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("feeder", ["ieee33bw", "ieee37", "ieee123"])
@pytest.mark.parametrize("pv", [4, 6])
def test_two_layer_voltage_high_pv_is_never_solved_above_the_limit(esm, feeder, pv):
    """`solved` answers are AC-feasible; an `infeasible` one is confirmed independently: each
    community's injection is non-decreasing in its upper price, so the least export is every
    community at the bottom of the price range (the reference's response tables), and its AC
    power flow (the reference's sweep) must already break vMaxPu, at the voltage esmarket reports."""
    from tlv_reference import Market
    problem = esm.generate_case("two_layer_voltage", feeder=feeder, prosumers=300, seed=1)
    for p in problem["prosumers"]:
        p["pvKW"] = p.get("pvKW", 0.0) * pv
    doc = esm.clear(problem).document
    assert doc["status"] in ("solved", "infeasible"), doc.get("message")
    if doc["status"] == "solved":
        assert doc["quality"]["relaxationExact"] == 1
        assert doc["quality"]["acVoltageViolationMaxPu"] <= TOL_PU
        return
    assert doc["diagnosis"]["constraint"] == "vMaxPu", doc
    assert doc["diagnosis"]["bus"] in doc["message"]
    market = Market.from_problem(problem)
    lowest = market.price_range[0]
    G = [table.evaluate(lowest)["G"] for table in market.tables]
    p, q = market.injections(G)
    ac = ac_power_flow(market.network, p, q)
    assert ac["converged"]
    assert ac["v"].max() > market.network.vmax + TOL_PU
    reached = float(doc["message"].rsplit("reaches ", 1)[1].split(" pu")[0])
    print(f"{feeder} pv x{pv}: least-export AC max {ac['v'].max():.4f} pu at bus "
          f"{market.network.bus_ids[int(np.argmax(ac['v']))]}, esmarket's closest {reached} at {doc['diagnosis']['bus']}")
    assert reached == pytest.approx(ac["v"].max(), abs=2e-4)


# ---------------------------------------------------------------------------------------------
# A fast sweep: high PV against tight ceilings; every solved answer is AC-feasible
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("feeder", ["ieee33bw", "ieee37", "ieee123"])
@pytest.mark.parametrize("pv, v_max", [(1, 1.05), (30, 1.03), (60, 1.03), (60, 1.05)])
def test_social_optimum_high_pv_sweep(esm, feeder, pv, v_max):
    """Generated social_optimum cases with every pvKW scaled; where the prosumer has flex, it
    becomes PV curtailment (flex in [-pvKW, 0] costing 0.0005 p^2 - 0.05 p, i.e. 0.05 per kW
    curtailed and rising): `solved` answers pass the independent AC check; the others are
    `infeasible` with a voltage diagnosis (the prosumers without flex cannot curtail)."""
    problem = esm.generate_case("social_optimum", feeder=feeder, prosumers=2000, seed=2)
    for p in problem["prosumers"]:
        p["pvKW"] = p.get("pvKW", 0.0) * pv
        if p.get("flex"):
            p["flex"] = {"minKW": -p["pvKW"], "maxKW": 0.0, "costA": 0.001, "costB": -0.05}
    problem["network"].update(vMinPu=0.9, vMaxPu=v_max)
    doc = esm.clear(problem).document
    assert doc["status"] in ("solved", "infeasible"), doc.get("message")
    if doc["status"] == "infeasible":
        assert doc["diagnosis"]["constraint"] in ("vMaxPu", "vMinPu", "rateKVA"), doc
        return
    net, ac = check_solved_is_ac_feasible(problem, doc)
    print(f"{feeder} pv x{pv} vMax {v_max}: AC max {ac['v'].max():.6f}, export {-ac['P0']:.1f} kW, recovery solves "
          f"{doc['quality']['recoverySolves']:.0f}")
