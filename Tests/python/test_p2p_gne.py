"""p2p_gne (centralized) against an independent CVXPY + Clarabel model of the game's potential QP.

The reference (gne_reference.py) is written from the spec's equations (p2p_gne.md §3, §3.9) and
the JSON contract, not from esmarket's code. Instances are random (seeded): hand-built feeders and
the built-in ieee37 / ieee33bw (by reference or expanded with daily load shapes), 3-30 prosumers,
1-24 periods, random trading graphs (connectivity 0.1-1), demand, PV, flex, storage with leakage
and efficiencies, per-peer terms, contract prices and fees, Nash and Wardrop, both operator
models; some with line ratings, the draw cap and the angle limit made binding.

Asserted on every instance:
  * the same status (but see binding ratings below); the potential within 1e-6 relative; Φ recomputed from the reported
    decisions with our own formula equals the reference optimum (so esmarket's point is optimal
    in our model, not only its reported number);
  * flex, charge, discharge, grid buy / sell, state of charge and each prosumer's net purchase
    within 1e-4 kW (every one unique: costA, costWearA and the price slope are > 0; in Wardrop
    the individual imports are unique because every trade pays a fee);
  * trades kW within 1e-4 where the routing is unique (instances whose peers entries carry their
    own terms; see `random_document`), and the bilateral prices μ against the reference's duals of
    the reciprocity rows within 1e-4 on every active trade (|kW| ≥ 1e-3 and off its limit: on an
    idle trade μ is any point of an interval set by the two sides' fees);
  * bus prices against the reference's duals of the bus balances within 1e-4 (the tightening
    never rates two lines on one path, whose shared shadow price would split freely);
  * every prosumer's cost J_i and tradePayment (μ·kW·Δt over its trades) recomputed from the
    reported numbers; payments sum to zero;
  * invariants 1-5 of spec §7 on the reported numbers, and quality.equilibriumResidual small.
test_standalone_costs: standaloneCost against the reference solved with no trading graph.

Accuracy. The weakest curvatures are small (the price slope d ~ 5e-4 per kW on each Nash import;
a 1e-4 kW move changes Φ by ~1e-12 of its value), so decisions to 1e-4 kW need tight solves on
both sides: the reference solves at 1e-12 (falling back to 1e-11, ...), the documents ask for
options.tolerance 1e-11 (esmarket solves at a tenth of it first). At esmarket's default 1e-8 the
potential agrees to ~1e-9 relative but the decisions only to ~1e-3 kW (test_default_tolerance
checks the potential there), and Clarabel at 1e-10 is no better.

Binding line ratings. With a rating cone at its boundary neither interior point resolves the
decisions to 1e-4 kW, although Φ agrees to ~1e-10: esmarket stalls between 1e-9 and 1e-10 (asked
for less it ends solved_inaccurate, "iterate left the cone"; options.tolerance 1e-9, i.e. its
1e-10 attempt then the 1e-9 fallback, mostly reports solved), and Clarabel reaches "optimal" only
at 1e-9 on such instances, its 1e-9 and 1e-12 (inaccurate) answers differing by up to 1.3e-3 kW
on one of them. So the cases with binding ratings ask for 1e-9 (TIGHT_TOLERANCE), accept the
status solved_inaccurate as well as solved (esmarket ends so on case seed43 and on seeds 116 and
169 of the 33 rating cases among sweep seeds 100-179), and compare decisions and trades to
KW_TOL_BINDING = 3e-3 kW; everything else (Φ, prices, invariants) keeps its tolerance. Binding
angle limits and draw caps (linear) keep 1e-11 and 1e-4 kW.
`ESMARKET_GNE_SWEEP=100-180` runs more seeds (80 pass, about 90 s).
"""

import json

import pytest

from feeder_documents import network_document

np = pytest.importorskip("numpy")
cp = pytest.importorskip("cvxpy")
pytest.importorskip("clarabel")

import gne_reference as ref  # noqa: E402

TOLERANCE = 1e-11      # options.tolerance of the documents
KW_TOL = 1e-4
KW_TOL_BINDING = 3e-3  # cases with binding ratings: see the module docstring
PRICE_TOL = 1e-4

# (seed, builder keywords, tighten keywords or None)
CASES = [
    (1, dict(feeder="hand", model="linear_angle", equilibrium="nash", edge_terms=True), None),
    (2, dict(feeder="hand", model="lindistflow", equilibrium="wardrop", edge_terms=True, export=True), None),
    (3, dict(feeder="ieee37", model="linear_angle", equilibrium="nash", prosumers=30, periods=24,
             expand=False, connectivity=0.6), None),
    (4, dict(feeder="ieee37", model="lindistflow", equilibrium="nash", expand=True, edge_terms=True),
     dict(ratings=True, draw=True)),
    (5, dict(feeder="ieee33bw", model="lindistflow", equilibrium="wardrop", expand=False), None),
    (6, dict(feeder="ieee33bw", model="linear_angle", equilibrium="nash", expand=True, edge_terms=True),
     dict(ratings=True, draw=False, angle=True)),
    (7, dict(feeder="hand", model="linear_angle", equilibrium="wardrop", export=True, edge_terms=True),
     dict(ratings=True, draw=True)),
    (8, dict(feeder="hand", model="linear_angle", equilibrium="nash", prosumers=3, periods=1), None),
    (9, dict(feeder="ieee37", model="linear_angle", equilibrium="wardrop", connectivity=0.1, expand=True),
     dict(ratings=True, draw=True)),
    (10, dict(feeder="hand", model="lindistflow", equilibrium="nash", connectivity=1.0, edge_terms=True),
     dict(ratings=True, draw=True)),
    (11, dict(), None),
    (12, dict(), None),
    (43, dict(), dict(ratings=True, draw=True)),
    # Lossless lines (r = 0): the linear angle model's flow is B·Δθ, so the angle limit binds.
    (20, dict(feeder="hand", model="linear_angle", equilibrium="nash", lossless=True, edge_terms=True),
     dict(ratings=False, draw=False, angle=True, angle_share=0.8)),
    (21, dict(feeder="hand", model="linear_angle", equilibrium="wardrop", lossless=True),
     dict(ratings=False, draw=True, angle=True, angle_share=0.95)),
    # The draw cap 2.5 times deeper than the prosumers can cut at the peak: infeasible for both.
    (14, dict(feeder="hand", model="linear_angle"), dict(ratings=False, draw=True, share=2.5)),
]


# Cases with binding limits: see the module docstring.
TIGHT_TOLERANCE = 1e-9


def cones(tight):
    """Whether a case's tightening makes rating cones bind (the angle and draw limits are linear)."""
    return tight is not None and tight.get("ratings", True)


def document(seed, build, tight):
    """The case's document; with `tight`, its limits set from a first solve of the reference
    (so the instance does not depend on the esmarket under test)."""
    doc = ref.random_document(seed, tolerance=TIGHT_TOLERANCE if cones(tight) else TOLERANCE, **build)
    if tight is not None:
        first = ref.reference(doc, tolerances=(1e-9, 1e-8))
        assert first["status"] == "optimal", first["status"]
        doc = ref.tighten(doc, ref.ReferenceResult(doc, first), seed, **tight)
    return doc


def series(value):
    """A per-period result value as an array (a one-period result holds plain numbers)."""
    return np.atleast_1d(np.array(value, dtype=float))


def arrays(row, *keys):
    return [series(row[k]) for k in keys]


def check_invariants(doc, result):
    """Spec §7 invariants 1-5 on the reported numbers (independently of result.quality)."""
    H = int(doc.get("periods", 1))
    dt = float(doc.get("periodHours", 1.0))
    net = network_document(doc)
    people = doc["prosumers"]
    rows = {p["id"]: p for p in result.prosumers}
    assert [p["id"] for p in result.prosumers] == [p["id"] for p in people]
    edges = ref.trading_graph(people)
    assert len(result.trades) == len(edges)

    # 1. Reciprocity, and each prosumer's net purchase is the sum over its trades.
    bought = {p["id"]: np.zeros(H) for p in people}
    for edge, row in zip(edges, result.trades):
        assert np.max(np.abs(series(row["reciprocityResidualKW"]))) <= 1e-7
        kw = series(row["kW"])
        bought[row["to"]] += kw
        bought[row["from"]] -= kw
        if edge.limit is not None:
            assert np.all(np.abs(kw) <= edge.limit + 1e-7), (row, edge.limit)
    # 2. Local balance, bounds.
    withdrawal = {}
    for p in people:
        r = rows[p["id"]]
        f, c, e, g, w, trade = arrays(r, "flexKW", "chargeKW", "dischargeKW", "gridBuyKW", "gridSellKW", "tradeKW")
        load = ref._vector(p.get("loadKW"), H)
        pv = ref._vector(p.get("pvKW"), H)
        assert np.allclose(trade, bought[p["id"]], atol=1e-7), p["id"]
        assert np.allclose(f + e - c + g - w + trade, load - pv, atol=1e-7), p["id"]
        assert np.all(g >= -1e-9) and np.all(w >= -1e-9)
        if "sellPrice" not in doc["grid"]:
            assert np.all(w == 0)
        fl = p.get("flex")
        if fl is not None:
            assert np.all(f >= ref._vector(fl.get("minKW"), H) - 1e-7)
            assert np.all(f <= ref._vector(fl.get("maxKW"), H) + 1e-7)
        else:
            assert np.all(f == 0)
        assert np.allclose(series(r["netImportKW"]), load - pv - f - e + c, atol=1e-9)
        withdrawal[p["id"]] = load - pv - f + c - e
        # 5. Storage: the recursion from the reported powers reproduces the state of charge.
        st = p.get("storage")
        if st is None:
            assert np.all(c == 0) and np.all(e == 0)
            continue
        assert np.all(c >= -1e-9) and np.all(c <= st["chargeMaxKW"] + 1e-7)
        assert np.all(e >= -1e-9) and np.all(e <= st["dischargeMaxKW"] + 1e-7)
        rho = (1 - st.get("selfDischarge", 0.0)) ** dt
        x = st["socKWh"]
        soc = series(r["socKWh"])
        scale = max(1.0, st["capacityKWh"])
        for t in range(H):
            x = rho * x + dt * (st.get("etaCharge", 1.0) * c[t] - e[t] / st.get("etaDischarge", 1.0))
            assert abs(x - soc[t]) <= 1e-8 * scale, (p["id"], t, x, soc[t])
            floor = st.get("socMinKWh", 0.0)
            if t == H - 1:
                floor = max(floor, st.get("socFinalMinKWh", floor))
            assert floor - 1e-7 * scale <= x <= st.get("socMaxKWh", st["capacityKWh"]) + 1e-7 * scale

    # 3. Bus balance from the reported line flows; the substation delivers what the prosumers
    # buy minus sell plus the passive load; the draw and its bounds.
    ids = [b["id"] for b in net["buses"]]
    index = {b: k for k, b in enumerate(ids)}
    root = index[net["substationBus"]]
    pload = np.array([ref._vector(b.get("pLoadKW"), H) for b in net["buses"]])
    passive = pload.sum(axis=0)
    balance = pload.copy()
    for p in people:
        balance[index[p["bus"]]] += withdrawal[p["id"]]
    lines = net.get("lines", [])
    assert [l["id"] for l in result.lines] == [l["id"] for l in lines]
    for line, row in zip(lines, result.lines):
        pk = series(row["pKW"])
        balance[index[line["from"]]] += pk
        balance[index[line["to"]]] -= pk
    sigma = np.sum([series(rows[p["id"]]["gridBuyKW"]) for p in people], axis=0)
    sold = np.sum([series(rows[p["id"]]["gridSellKW"]) for p in people], axis=0)
    balance[root] -= sigma - sold + passive
    assert np.max(np.abs(balance)) <= 1e-6 * (1 + np.max(np.abs(pload)) + np.max(sigma)), np.max(np.abs(balance))
    drawn = series(result.document["gridDrawKW"])
    assert np.allclose(drawn, sigma + passive, atol=1e-7)
    grid = doc["grid"]
    if "importMaxKW" in grid:
        assert np.all(drawn <= ref._vector(grid["importMaxKW"], H) + 1e-6)
    if "importMinKW" in grid:
        assert np.all(drawn >= ref._vector(grid["importMinKW"], H) - 1e-6)
    slope = ref._vector(grid.get("priceSlope"), H)
    price = ref._vector(grid.get("buyPrice"), H) + slope * drawn
    assert np.allclose(series(result.document["gridPrice"]), price, rtol=1e-12, atol=1e-12)

    # 4. The operator: ratings, voltage and angle limits, and the flow equations themselves.
    model = net.get("model", "linear_angle")
    vmin, vmax = net.get("vMinPu", 0.95), net.get("vMaxPu", 1.05)
    buses = {b["id"]: b for b in result.buses}
    kv = net["baseKV"]
    for line, row in zip(lines, result.lines):
        pk, qk = series(row["pKW"]), series(row["qKVAr"])
        if not line.get("closed", True):
            assert np.all(pk == 0) and np.all(qk == 0) and not row["closed"]
            continue
        if line.get("rateKVA"):
            assert np.all(np.hypot(pk, qk) <= line["rateKVA"] * (1 + 1e-6) + 1e-9), (line["id"], np.hypot(pk, qk).max())
        a, b = buses[line["from"]], buses[line["to"]]
        r, x = line["rOhm"], line["xOhm"]
        if model == "linear_angle":
            dv = series(a["vPu"]) - series(b["vPu"])
            dth = np.radians(series(a["angleDeg"]) - series(b["angleDeg"]))
            if r == 0 and x == 0:
                assert np.allclose(dv, 0, atol=1e-9) and np.allclose(dth, 0, atol=1e-9)
                continue
            z2 = r * r + x * x
            G, B = 1000 * kv * kv * r / z2, 1000 * kv * kv * x / z2    # kW per pu, per rad
            assert np.allclose(pk, G * dv + B * dth, atol=1e-6 * (1 + abs(pk).max())), line["id"]
            assert np.allclose(qk, B * dv - G * dth, atol=1e-6 * (1 + abs(qk).max())), line["id"]
        else:
            # v_to² = v_from² − 2 (r P + x Q) / (1000 kV²), the flow taken from `from` to `to`.
            drop = series(a["vPu"]) ** 2 - 2 * (r * pk + x * qk) / (1000 * kv * kv)
            assert np.allclose(series(b["vPu"]) ** 2, drop, atol=1e-8), line["id"]
    for b in result.buses:
        v = series(b["vPu"])
        if b["id"] == net["substationBus"]:
            assert np.allclose(v, net.get("vSubstationPu", 1.0), atol=1e-9)
            continue
        assert np.all(v >= vmin - 1e-7) and np.all(v <= vmax + 1e-7), (b["id"], v.min(), v.max())
        if model == "linear_angle":
            limit = net.get("angleMaxDeg", 15.0)
            assert np.all(np.abs(series(b["angleDeg"])) <= limit * (1 + 1e-7)), b["id"]
        else:
            assert "angleDeg" not in b

    q = result.quality
    for key in ("reciprocityResidualKW", "balanceResidualKW", "busBalanceResidualKW", "storageResidualKWh",
                "drawBoundViolationKW"):
        assert 0 <= q[key] <= 1e-6, (key, q[key])


def active_trades(mine, theirs):
    """Mask of the periods where a trade is active in both solutions and off its limit."""
    kw_a, kw_b = np.abs(series(mine["kW"])), np.abs(theirs["kW"])
    on = (kw_a >= 1e-3) & (kw_b >= 1e-3)
    if theirs["limit"] is not None:
        on &= (kw_a <= theirs["limit"] - 1e-3) & (kw_b <= theirs["limit"] - 1e-3)
    return on


@pytest.mark.parametrize("seed,build,tight", CASES, ids=[f"seed{c[0]}" for c in CASES])
def test_matches_cvxpy_potential(esm, seed, build, tight):
    doc = document(seed, build, tight)
    result = esm.clear(doc)
    expected = ref.reference(doc)
    if expected["status"] in ("infeasible", "infeasible_inaccurate"):
        assert result.status == "infeasible", (result.status, result.message)
        assert result.message and "()" not in result.message, result.message
        return
    assert expected["status"] == "optimal", expected["status"]
    # A binding rating cone: esmarket's interior point may stall short of its tolerance and say
    # solved_inaccurate (module docstring); its numbers are still held to every check below.
    assert result.status == "solved" or (cones(tight) and result.status == "solved_inaccurate"), result.message
    check_invariants(doc, result)

    # Φ: reported, recomputed by us from the reported decisions, and the reference optimum.
    phi_star = expected["potential"]
    assert result.objective["potential"] == pytest.approx(phi_star, rel=1e-6, abs=1e-9)
    phi_mine, player = ref.costs_of(doc, result)
    assert phi_mine == pytest.approx(phi_star, rel=1e-6, abs=1e-9)
    for p in result.prosumers:
        assert np.allclose(series(p["cost"]), player[p["id"]], rtol=1e-9, atol=1e-9), p["id"]
        assert np.allclose(series(p["settledCost"]), series(p["cost"]) + series(p["tradePayment"]), atol=1e-9)
    assert result.objective["socialCost"] == pytest.approx(sum(sum(v) for v in player.values()), rel=1e-9, abs=1e-9)

    # Decisions (unique: strictly convex in each).
    worst = {}
    for p in result.prosumers:
        r = expected["prosumers"][p["id"]]
        for key in ("flexKW", "chargeKW", "dischargeKW", "gridBuyKW", "gridSellKW", "socKWh"):
            worst[key] = max(worst.get(key, 0.0), float(np.max(np.abs(series(p[key]) - r[key]))))
    net_ref = {p["id"]: 0 for p in doc["prosumers"]}
    for t in expected["trades"]:
        net_ref[t["to"]] = net_ref[t["to"]] + t["kW"]
        net_ref[t["from"]] = net_ref[t["from"]] - t["kW"]
    worst["tradeKW"] = max(float(np.max(np.abs(series(p["tradeKW"]) - net_ref[p["id"]]))) for p in result.prosumers)
    kw_tol = KW_TOL_BINDING if cones(tight) else KW_TOL
    for key, value in worst.items():
        assert value <= kw_tol * (1 + (1 if key == "socKWh" else 0)), (key, value)

    # Trades (where unique) and the bilateral prices on active trades.
    unique_routing = build.get("edge_terms", False)
    priced = 0
    for mine, theirs in zip(result.trades, expected["trades"]):
        assert (mine["from"], mine["to"]) == (theirs["from"], theirs["to"])
        if unique_routing:
            assert np.max(np.abs(series(mine["kW"]) - theirs["kW"])) <= kw_tol, (mine["from"], mine["to"])
        on = active_trades(mine, theirs)
        if on.any():
            gap = np.abs(series(mine["price"])[on] - theirs["price"][on])
            assert gap.max() <= PRICE_TOL, (mine["from"], mine["to"], gap.max())
            priced += int(on.sum())
    if expected["trades"]:
        assert priced > 0 or all(np.max(np.abs(t["kW"])) < 1e-3 for t in expected["trades"])

    # Settlement at μ: each prosumer pays μ·(what it buys)·Δt on every trade; the two sides of a
    # trade pay each other, so the payments sum to zero.
    dt = float(doc.get("periodHours", 1.0))
    paid = {p["id"]: 0.0 for p in doc["prosumers"]}
    for row in result.trades:
        flow = series(row["price"]) * series(row["kW"]) * dt
        paid[row["to"]] = paid[row["to"]] + flow
        paid[row["from"]] = paid[row["from"]] - flow
    for p in result.prosumers:
        assert np.allclose(series(p["tradePayment"]), paid[p["id"]], atol=1e-9), p["id"]
    assert abs(sum(float(np.sum(series(p["tradePayment"]))) for p in result.prosumers)) <= 1e-6

    # Bus prices (the multipliers of the bus balances: the value of one kW less withdrawn there).
    for b in result.buses:
        gap = np.abs(series(b["price"]) - expected["busPrice"][b["id"]])
        assert gap.max() <= PRICE_TOL, (b["id"], gap.max())

    assert result.quality["equilibriumResidual"] <= 1e-8
    assert result.stats["algorithm"] == "centralized"


def test_reference_reproduces_spec_b1_b2(esm):
    """The reference itself on the spec's hand-worked B1 (Nash and Wardrop) and B2 (§7)."""
    def b1(equilibrium="nash", line=None, base_kv=4.8):
        return {"schema": "esmarket/1", "mechanism": "p2p_gne",
                "network": {"baseKV": base_kv, "substationBus": "0",
                            "buses": [{"id": "0", "pLoadKW": 200}, {"id": "1"}],
                            "lines": [line or {"id": "L1", "from": "0", "to": "1", "rOhm": 0, "xOhm": 0.01}]},
                "grid": {"priceSlope": 0.001},
                "prosumers": [{"id": "p1", "bus": "1", "loadKW": 0,
                               "flex": {"minKW": 0, "maxKW": 50, "costA": 0.008, "costB": 0.05},
                               "peers": ["p2"], "tradeCost": 0.02, "contractPrice": 0.08, "tradeMaxKW": 100},
                              {"id": "p2", "bus": "1", "loadKW": 50, "tradeCost": 0.02, "contractPrice": 0.08}],
                "options": {"algorithm": "centralized", "equilibrium": equilibrium}}
    nash = ref.reference(b1())
    assert nash["trades"][0]["kW"][0] == pytest.approx(21, abs=1e-6)
    assert nash["trades"][0]["price"][0] == pytest.approx(0.158, abs=1e-8)
    assert nash["prosumers"]["p2"]["gridBuyKW"][0] == pytest.approx(29, abs=1e-6)
    wardrop = ref.reference(b1("wardrop"))
    assert wardrop["trades"][0]["kW"][0] == pytest.approx(160 / 9, abs=1e-6)
    assert wardrop["trades"][0]["price"][0] == pytest.approx(0.132222222, abs=1e-8)
    # B2: B = 1000 kW/rad (x = 1 Ω at 1 kV), rated 25 kVA: the unit covers 25 kW, μ = 0.15, the
    # bus behind the line prices withdrawals at the line's shadow price 0.04.
    b2 = ref.reference(b1(line={"id": "L1", "from": "0", "to": "1", "rOhm": 0, "xOhm": 1, "rateKVA": 25}, base_kv=1))
    assert b2["prosumers"]["p1"]["flexKW"][0] == pytest.approx(25, abs=1e-6)
    assert b2["trades"][0]["price"][0] == pytest.approx(0.15, abs=1e-8)
    assert b2["busPrice"]["1"][0] == pytest.approx(0.04, abs=1e-8)
    # And esmarket on the same documents.
    for doc, expected in ((b1(), nash), (b1("wardrop"), wardrop)):
        r = esm.clear(doc)
        assert r.objective["potential"] == pytest.approx(expected["potential"], rel=1e-9)


def test_default_tolerance_potential(esm):
    """At the default options.tolerance (1e-8) the potential agrees to 1e-6 relative."""
    doc = ref.random_document(21, feeder="ieee37", model="linear_angle", prosumers=20, periods=24,
                              tolerance=None)
    result = esm.clear(doc)
    expected = ref.reference(doc)
    assert result.status == "solved" and expected["status"] == "optimal"
    assert result.objective["potential"] == pytest.approx(expected["potential"], rel=1e-6)
    assert ref.costs_of(doc, result)[0] == pytest.approx(expected["potential"], rel=1e-6)
    check_invariants(doc, result)


def _sweep_seeds():
    """ESMARKET_GNE_SWEEP=100-180: also run those seeds with random choices (slow; not by default)."""
    import os
    text = os.environ.get("ESMARKET_GNE_SWEEP", "")
    if not text:
        return []
    lo, hi = (int(v) for v in text.split("-"))
    return list(range(lo, hi))


@pytest.mark.parametrize("seed", _sweep_seeds())
def test_random_sweep(esm, seed):
    rng = np.random.default_rng(seed)
    tight = dict(ratings=True, draw=bool(rng.random() < 0.5), angle=bool(rng.random() < 0.5)) if rng.random() < 0.5 else None
    build = dict(edge_terms=True) if rng.random() < 0.5 else {}
    test_matches_cvxpy_potential(esm, seed, build, tight)


@pytest.mark.parametrize("seed,build", [(12, dict()), (8, dict(feeder="hand", prosumers=3, periods=1))])
def test_standalone_costs(esm, seed, build):
    """standaloneCost: every prosumer's cost in the same game without trades, against the
    reference solved with every `peers` list emptied (decisions unique, so costs are too)."""
    doc = ref.random_document(seed, tolerance=TOLERANCE, **build)
    result = esm.clear(doc)
    alone = json.loads(json.dumps(doc))
    for p in alone["prosumers"]:
        p["peers"] = []
    expected = ref.reference(alone)
    if expected["status"] != "optimal":
        assert "standaloneCost is not reported" in result.message
        return
    assert result.status == "solved", result.message

    class Outcome:          # the reference's decisions in the shape of a result, for costs_of
        prosumers = [dict(id=p["id"], **{k: list(v) for k, v in expected["prosumers"][p["id"]].items()})
                     for p in alone["prosumers"]]
        trades = []
    _, player = ref.costs_of(alone, Outcome)
    for p in result.prosumers:
        assert np.allclose(series(p["standaloneCost"]), player[p["id"]], rtol=1e-6, atol=1e-6), p["id"]
    total = sum(float(np.sum(v)) for v in player.values())
    assert result.objective["standaloneCost"] == pytest.approx(total, rel=1e-6, abs=1e-6)
