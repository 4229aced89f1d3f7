"""Independent reference of p2p_gne (spec p2p_gne.md §3, README contract): random instances and the
game's potential QP in CVXPY + Clarabel.

Written from the spec's equations and the JSON contract, not from esmarket's code: its own power
unit, its own tree orientation (breadth first from the substation), its own reading of the
trading graph, one CVXPY vector (over periods) per decision. Used by Tests/python/test_p2p_gne.py
and bench/p2p_gne.py.

The model (per period t, Δt = periodHours; powers in kW, prices per kWh):
  prosumer i:   f + e − c + g − w + Σ_j p_ij = load − pv            (balance)
                x_t = ρ x_{t−1} + Δt (η_c c_t − e_t / η_d),  ρ = (1 − selfDischarge)^Δt,
                socMin ≤ x_t ≤ socMax, x_H ≥ socFinalMin, 0 ≤ c ≤ c̄, 0 ≤ e ≤ ē     (storage)
                flex min ≤ f ≤ max, g ≥ 0, w ≥ 0 (only when grid.sellPrice is given)
                |p_ij| ≤ the edge's limit (when either side sets one)
  trades:       p_ij + p_ji = 0 on every edge (its multiplier μ: the bilateral price)
  grid:         σ = Σ_i g_i; importMinKW ≤ σ + b ≤ importMaxKW, b = passive load of the feeder
  operator:     bus balance of the physical withdrawals η_i = load − pv − f + c − e (trades are
                financial) on the linear angle model (P = G ΔV + B Δθ, Q = B ΔV − G Δθ, angle and
                voltage limits, P² + Q² ≤ s̄²) or LinDistFlow.
  potential:    Φ = Σ_i Δt Σ_t [ ½ a f² + b f + wear(c, e) + Σ_j (contract_ij p_ij + fee_ij |p_ij|)
                                 + buy g − sell w ]
                    + Σ_t Δt d_t [ ½ σ² + b σ (+ ½ Σ_i g_i² for Nash) ]
"""
import json
import math
import time
import warnings

import numpy as np

from feeder_documents import builtin_network, network_document

# ---------------------------------------------------------------------------------------------
# Random instances
# ---------------------------------------------------------------------------------------------


def _series(rng, values, as_list):
    """A per-period series as a JSON value: a list, or a scalar when every entry is equal."""
    values = [float(v) for v in values]
    if not as_list and all(v == values[0] for v in values):
        return values[0]
    return values


def _profile(rng, periods, hours, low=0.5, high=1.0):
    """A smooth positive daily shape in [low, high]."""
    phase = rng.uniform(0, 24)
    t = (np.arange(periods) * hours) % 24
    s = 0.5 + 0.5 * np.sin(2 * math.pi * (t - phase) / 24)
    return low + (high - low) * (s + 0.1 * rng.uniform(-1, 1, periods)).clip(0, 1)


def _solar(periods, hours, start):
    t = (start + np.arange(periods) * hours) % 24
    return np.maximum(0.0, np.sin(math.pi * (t - 6) / 12))


def hand_feeder(rng, periods, hours, lossless=False):
    """A small radial feeder: random tree, random impedances, one switch sometimes, lines listed
    in either direction, passive loads that vary over the periods. lossless: r = 0 on every line
    (in the linear angle model the flow is then B·Δθ alone, so the angle limit caps flows)."""
    nb = int(rng.integers(3, 9))
    kv = float(rng.choice([0.4, 4.8, 12.47]))
    zscale = (kv / 4.8) ** 2
    buses = [{"id": "s"}] + [{"id": f"b{k}"} for k in range(1, nb)]
    lines = []
    switch = int(rng.integers(1, nb)) if rng.random() < 0.4 else -1
    for k in range(1, nb):
        parent = int(rng.integers(0, k))
        a, b = buses[parent]["id"], buses[k]["id"]
        if rng.random() < 0.3:
            a, b = b, a
        if k == switch:
            r = x = 0.0
        else:
            r, x = rng.uniform(0.02, 0.3) * zscale, rng.uniform(0.02, 0.3) * zscale
            if lossless:
                r = 0.0
        lines.append({"id": f"L{k}", "from": a, "to": b, "rOhm": r, "xOhm": x})
    for bus in buses[1:]:
        if rng.random() < 0.6:
            base = rng.uniform(5, 60)
            bus["pLoadKW"] = _series(rng, base * _profile(rng, periods, hours), False)
            if rng.random() < 0.5:
                bus["qLoadKVAr"] = float(0.3 * base)
    if rng.random() < 0.3:
        buses[-1]["qCapKVAr"] = float(rng.uniform(5, 30))
    return {"baseKV": kv, "substationBus": "s", "vMinPu": 0.9, "vMaxPu": 1.1, "buses": buses, "lines": lines}


def builtin_feeder(rng, name, periods, hours, expand):
    """A built-in feeder: by reference ({"builtin": name}), or expanded with its passive loads
    scaled per period (so the feeder's draw varies over the day)."""
    if not expand:
        net = {"builtin": name}
        if name == "ieee33bw":
            net["vMinPu"] = 0.85
        return net
    net = builtin_network(name)
    for key in ("name", "source", "notes"):
        net.pop(key, None)
    for line in net["lines"]:
        line.pop("extra", None)
        if line.get("rateKVA") is None:
            line.pop("rateKVA", None)
    shape = _profile(rng, periods, hours, 0.3, 0.8)
    for bus in net["buses"]:
        p = bus.get("pLoadKW", 0.0)
        if p:
            bus["pLoadKW"] = _series(rng, p * shape, True)
    net["vMinPu"] = 0.85
    return net


def random_document(seed, *, prosumers=None, periods=None, feeder=None, model=None, equilibrium=None,
                    connectivity=None, export=None, expand=None, edge_terms=None, tolerance=1e-10,
                    lossless=False):
    """A seeded random p2p_gne document (every choice drawn from `seed` unless given).

    edge_terms: every `peers` entry carries its own tradeCost and contractPrice. With the
    prosumers' default terms only, a buyer pays the same on every purchase and a seller earns the
    same on every sale, so trades around a cycle of alternating buyers and sellers can be rerouted
    at no cost: the trades are not unique (only each prosumer's net purchase is). Terms of each
    edge of its own make the routing unique.
    tolerance: options.tolerance (the interior-point gap and residual tolerance).
    """
    rng = np.random.default_rng(seed)
    n = int(prosumers if prosumers is not None else rng.integers(3, 31))
    H = int(periods if periods is not None else rng.integers(1, 25))
    hours = float(rng.choice([1.0, 1.0, 0.5, 0.25]))
    feeder = feeder or str(rng.choice(["hand", "ieee37", "ieee33bw"]))
    model = model or str(rng.choice(["linear_angle", "lindistflow"]))
    equilibrium = equilibrium or str(rng.choice(["nash", "wardrop"]))
    connectivity = float(connectivity if connectivity is not None else rng.uniform(0.1, 1.0))
    export = bool(rng.random() < 0.4) if export is None else export
    expand = bool(rng.random() < 0.5) if expand is None else expand
    edge_terms = bool(rng.random() < 0.5) if edge_terms is None else edge_terms
    start = float(rng.uniform(0, 24))

    if feeder == "hand":
        net = hand_feeder(rng, H, hours, lossless)
    else:
        net = builtin_feeder(rng, feeder, H, hours, expand)
    net["model"] = model
    bus_ids = [b["id"] for b in network_document({"network": net})["buses"]]

    people = []
    for i in range(n):
        load = rng.uniform(2, 25) * _profile(rng, H, hours)
        p = {"id": f"p{i}", "bus": str(rng.choice(bus_ids))}
        p["loadKW"] = _series(rng, load, rng.random() < 0.8)
        if rng.random() < 0.5:
            pv = rng.uniform(3, 30) * _solar(H, hours, start)
            if not export:
                pv = np.minimum(pv, load)     # no export: keep every prosumer feasible on its own
            p["pvKW"] = _series(rng, pv, True)
        if rng.random() < 0.65:
            lo = -rng.uniform(0, 5) if rng.random() < 0.3 else 0.0
            hi = rng.uniform(5, 40)
            maxkw = np.full(H, hi)
            if H > 1 and rng.random() < 0.2:
                maxkw[int(rng.integers(0, H))] = lo      # a period with a fixed output
            p["flex"] = {"minKW": float(lo), "maxKW": _series(rng, maxkw, False),
                         "costA": float(rng.uniform(0.02, 0.1)),
                         "costB": _series(rng, rng.uniform(0.02, 0.12) * np.ones(H) + rng.uniform(0, 0.02, H),
                                          rng.random() < 0.3)}
        if rng.random() < 0.45:
            cap = rng.uniform(20, 100)
            smin = rng.uniform(0, 0.2) * cap
            smax = rng.uniform(0.8, 1.0) * cap
            s = {"capacityKWh": float(cap), "socKWh": float(rng.uniform(smin, smax)),
                 "socMinKWh": float(smin), "socMaxKWh": float(smax),
                 "chargeMaxKW": float(rng.uniform(3, 20)), "dischargeMaxKW": float(rng.uniform(3, 20)),
                 "etaCharge": float(rng.uniform(0.85, 1.0)), "etaDischarge": float(rng.uniform(0.85, 1.0)),
                 "costWearA": float(rng.uniform(0.01, 0.05))}
            if rng.random() < 0.5:
                s["selfDischarge"] = float(rng.uniform(0, 0.05))
            if rng.random() < 0.5:
                s["costWear"] = float(rng.uniform(0, 0.01))
            if rng.random() < 0.3:
                s["socFinalMinKWh"] = float(min(s["socKWh"], smax))
            p["storage"] = s
        # Fees on every side and contract prices that differ by less than the fees: no trade pays
        # for itself in a loop, so trades without a limit stay bounded.
        p["tradeCost"] = float(rng.uniform(0.005, 0.03))
        p["contractPrice"] = float(0.07 + rng.uniform(-0.0025, 0.0025))
        if rng.random() < 0.4:
            p["tradeMaxKW"] = float(rng.uniform(2, 30))
        if rng.random() < 0.2:
            p["powerFactor"] = float(rng.uniform(0.9, 1.0))
        elif rng.random() < 0.15:
            p["qLoadKVAr"] = float(rng.uniform(0, 5))
        p["peers"] = []
        people.append(p)

    # Trading graph: each pair with probability `connectivity`, listed by one side or both.
    for a in range(n):
        for b in range(a + 1, n):
            if rng.random() >= connectivity:
                continue
            sides = [(a, b), (b, a)]
            pick = rng.integers(0, 3)
            for k, (i, j) in enumerate(sides):
                if pick != 2 and pick != k:
                    continue
                entry = people[j]["id"]
                if edge_terms:
                    entry = {"id": entry, "tradeCost": float(rng.uniform(0.005, 0.03)),
                             "contractPrice": float(0.07 + rng.uniform(-0.0025, 0.0025))}
                    if rng.random() < 0.2:
                        entry["maxKW"] = float(rng.uniform(1, 20))
                elif rng.random() < 0.25:
                    entry = {"id": entry}
                    if rng.random() < 0.5:
                        entry["maxKW"] = float(rng.uniform(1, 20))
                    if rng.random() < 0.5:
                        entry["tradeCost"] = float(rng.uniform(0.005, 0.03))
                    if rng.random() < 0.5:
                        entry["contractPrice"] = float(0.07 + rng.uniform(-0.0025, 0.0025))
                people[i]["peers"].append(entry)
    order = rng.permutation(n)
    for p in people:
        rng.shuffle(p["peers"])

    grid = {"priceSlope": _series(rng, rng.uniform(2e-4, 1e-3) * (1 + 0.3 * rng.uniform(-1, 1, H)),
                                  rng.random() < 0.5)}
    if rng.random() < 0.5:
        grid["buyPrice"] = _series(rng, rng.uniform(0.0, 0.05, H), True)
    if export:
        grid["sellPrice"] = _series(rng, rng.uniform(0.0, 0.04, H), True)
    doc = {"schema": "esmarket/1", "mechanism": "p2p_gne", "periods": H, "periodHours": hours,
           "network": net, "grid": grid, "prosumers": [people[k] for k in order],
           "options": {"algorithm": "centralized", "equilibrium": equilibrium}}
    if tolerance is not None:
        doc["options"]["tolerance"] = tolerance
    return doc


def _room(doc, result):
    """Per prosumer and period: how many kW it could still take off its withdrawal (more flex,
    more discharge, less charge) at the first clearing's point."""
    H = int(doc.get("periods", 1))
    rows = {p["id"]: p for p in result.prosumers}
    room = {}
    for p in doc["prosumers"]:
        r = rows[p["id"]]
        total = np.zeros(H)
        if p.get("flex"):
            total += np.maximum(_vector(p["flex"].get("maxKW"), H) - np.atleast_1d(r["flexKW"]), 0)
        if p.get("storage"):
            total += np.maximum(p["storage"]["dischargeMaxKW"] - np.atleast_1d(r["dischargeKW"]), 0)
            total += np.atleast_1d(r["chargeKW"])
        room[p["id"]] = total
    return room


def tighten(doc, result, seed, *, ratings=True, draw=True, angle=False, share=None, angle_share=0.9):
    """Makes some limits bind: the draw cap and the ratings of the most loaded lines below their
    peak at a first clearing (`result`) by a share (`share`, else drawn in 0.1..0.4) of what the
    prosumers behind them could still take off their withdrawals in that period; the angle limit
    below the largest angle. Returns a new document (the first clearing, an esmarket result or a
    `ReferenceResult`, only chooses data)."""
    rng = np.random.default_rng(seed + 7919)
    share = float(rng.uniform(0.1, 0.4)) if share is None else share
    doc = json.loads(json.dumps(doc))
    net = doc["network"]
    if "builtin" in net:
        full = network_document(doc)
        for key in ("name", "source", "notes"):
            full.pop(key, None)
        for line in full["lines"]:
            line.pop("extra", None)
            if line.get("rateKVA") is None:
                line.pop("rateKVA", None)
        net = doc["network"] = full
    room = _room(doc, result)
    if ratings:
        # The linear angle model's Q is free (voltages have no reactive balance to meet), so only
        # P can force a rating there; LinDistFlow's Q follows the reactive loads.
        angle_model = net.get("model") == "linear_angle"
        series = [np.atleast_1d(np.abs(l["pKW"]) if angle_model else np.hypot(l["pKW"], l["qKVAr"]))
                  for l in result.lines]
        flows = [float(np.max(s)) for s in series]
        root, order, parent, parent_line = tree(net)
        ids = [b["id"] for b in net["buses"]]
        below = {}                       # line index → buses behind it
        for bus in reversed(order):
            if parent[bus] >= 0:
                below.setdefault(parent_line[bus], set()).add(bus)
                for child in [c for c in range(len(ids)) if parent[c] == bus]:
                    below[parent_line[bus]] |= below.get(parent_line[child], set())
        ranked = sorted(range(len(flows)), key=lambda k: -flows[k])
        by_id = {l["id"]: l for l in net["lines"]}
        child = {parent_line[b]: b for b in range(len(ids)) if parent[b] >= 0}

        def upstream(bus):
            path = set()
            while bus >= 0:
                path.add(bus)
                bus = parent[bus]
            return path

        rated = []
        for k in ranked[: int(rng.integers(1, 3))]:
            # Never two tightened lines on one path: two binding ratings in series with only
            # fixed loads between them share their shadow price in no particular way (the bus
            # prices between them are not unique).
            if k not in child or any(child[j] in upstream(child[k]) or child[k] in upstream(child[j]) for j in rated):
                continue
            rated.append(k)
            t = int(np.argmax(series[k]))
            behind = {ids[b] for b in below.get(k, set())}
            slack = sum(room[p["id"]][t] for p in doc["prosumers"] if p["bus"] in behind)
            if flows[k] > 1.0 and slack > 1e-3:
                by_id[result.lines[k]["id"]]["rateKVA"] = float(flows[k] - share * min(slack, 0.5 * flows[k]))
        for k in ranked[3:7]:
            if flows[k] > 1.0:
                by_id[result.lines[k]["id"]]["rateKVA"] = float(flows[k] * rng.uniform(1.05, 2.0))
    if draw:
        drawn = np.atleast_1d(np.array(result.document["gridDrawKW"], dtype=float))
        t = int(np.argmax(drawn))
        rows = {p["id"]: p for p in result.prosumers}
        slack = sum(min(room[i][t], float(np.atleast_1d(rows[i]["gridBuyKW"])[t])) for i in room)
        if slack > 1e-3:
            cap = float(drawn[t] - share * slack)
            doc["grid"]["importMaxKW"] = cap
            if rng.random() < 0.5 and drawn.min() - 1.0 < cap:
                doc["grid"]["importMinKW"] = float(drawn.min() - 1.0)
    if angle and net.get("model") == "linear_angle":
        worst = max(float(np.max(np.abs(b.get("angleDeg", 0.0)))) for b in result.buses)
        if worst > 1e-6:
            net["angleMaxDeg"] = float(worst * angle_share)
    return doc


# ---------------------------------------------------------------------------------------------
# The reference model
# ---------------------------------------------------------------------------------------------

CLARABEL = dict(max_iter=500)
TOLERANCES = (1e-12, 1e-11, 1e-10, 1e-9)


def _vector(value, H, default=0.0):
    if value is None:
        return np.full(H, float(default))
    if isinstance(value, list):
        return np.array(value, dtype=float)
    return np.full(H, float(value))


class Edge:
    """One undirected trade {a, b} (a < b in document order) with each side's terms."""

    def __init__(self, a, b):
        self.a, self.b = a, b
        self.limit = None
        self.fee = {}
        self.contract = {}


def trading_graph(people):
    """Edges in order of first listing, each side's fee and contract (its peers entry overrides
    its defaults) and the edge's limit (the smallest of both sides' tradeMaxKW and entries)."""
    index = {p["id"]: k for k, p in enumerate(people)}
    edges, where = [], {}
    for i, p in enumerate(people):
        for entry in p.get("peers", []):
            terms = entry if isinstance(entry, dict) else {"id": entry}
            j = index[terms["id"]]
            key = (min(i, j), max(i, j))
            if key not in where:
                where[key] = len(edges)
                e = Edge(*key)
                for side in key:
                    e.fee[side] = people[side].get("tradeCost", 0.0)
                    e.contract[side] = people[side].get("contractPrice", 0.0)
                    lim = people[side].get("tradeMaxKW")
                    if lim is not None:
                        e.limit = lim if e.limit is None else min(e.limit, lim)
                edges.append(e)
            e = edges[where[key]]
            if "tradeCost" in terms:
                e.fee[i] = terms["tradeCost"]
            if "contractPrice" in terms:
                e.contract[i] = terms["contractPrice"]
            if "maxKW" in terms:
                e.limit = terms["maxKW"] if e.limit is None else min(e.limit, terms["maxKW"])
    return edges


def tree(net):
    """BFS tree of the closed lines from the substation: (order, parent, parent line)."""
    ids = [b["id"] for b in net["buses"]]
    index = {b: k for k, b in enumerate(ids)}
    root = index[net["substationBus"]]
    adjacent = [[] for _ in ids]
    for k, line in enumerate(net.get("lines", [])):
        if line.get("closed", True):
            a, b = index[line["from"]], index[line["to"]]
            adjacent[a].append((k, b))
            adjacent[b].append((k, a))
    parent, parent_line = [-1] * len(ids), [-1] * len(ids)
    seen = [False] * len(ids)
    seen[root] = True
    order = [root]
    for bus in order:
        for k, other in adjacent[bus]:
            if not seen[other]:
                seen[other] = True
                parent[other], parent_line[other] = bus, k
                order.append(other)
    return root, order, parent, parent_line


def reference(doc, tolerances=TOLERANCES):
    """The minimizer of the potential Φ over the market's feasible set, in CVXPY + Clarabel.

    Returns a dict: status, seconds (build + solve), and when solved: potential (currency),
    per prosumer id: flexKW, chargeKW, dischargeKW, gridBuyKW, gridSellKW, socKWh (lists over
    periods); trades: list of (from id, to id, kW delivered from → to, μ per kWh) per edge;
    busPrice (bus id → list, currency per kWh of withdrawal); draw (list, kW).
    """
    import cvxpy as cp

    start = time.perf_counter()
    H = int(doc.get("periods", 1))
    dt = float(doc.get("periodHours", 1.0))
    net = network_document(doc)
    model = net.get("model", "linear_angle")
    grid = doc["grid"]
    people = doc["prosumers"]
    slope = _vector(grid.get("priceSlope"), H)
    buy = _vector(grid.get("buyPrice"), H)
    sell = _vector(grid.get("sellPrice"), H)
    can_export = "sellPrice" in grid
    nash = doc.get("options", {}).get("equilibrium", "nash") == "nash"

    ids = [b["id"] for b in net["buses"]]
    bus_of = {b: k for k, b in enumerate(ids)}
    n = len(ids)
    pload = np.array([_vector(b.get("pLoadKW"), H) for b in net["buses"]])      # n × H, kW
    qload = np.array([_vector(b.get("qLoadKVAr"), H) for b in net["buses"]])
    qcap = np.array([float(b.get("qCapKVAr", 0.0)) for b in net["buses"]])
    passive = pload.sum(axis=0)

    # Units: powers in U kW, the objective in K currency.
    demand = np.abs(pload).sum(axis=0).max() + sum(float(np.max(_vector(p.get("loadKW"), H))) for p in people)
    U = 10.0 ** round(math.log10(max(demand, 1.0) / 4))
    price = max(float(np.max(buy)), float(np.max(sell)), float(np.max(slope)) * (demand + abs(passive).max()), 0.01)
    K = U * dt * price

    def cost(pricePerKWh, x):          # Δt · price · kW, scaled
        return (dt * U / K) * (pricePerKWh @ x if isinstance(pricePerKWh, np.ndarray) else pricePerKWh * cp.sum(x))

    def quad(a, x):                    # Δt · a/2 · kW², scaled (a per period or scalar)
        w = np.broadcast_to(np.asarray(a, dtype=float), (H,)) * (dt * U * U / K)
        return 0.5 * cp.sum(cp.multiply(w, cp.square(x)))

    objective = 0
    cons = []
    zeros = np.zeros(H)
    vars_ = []
    for i, p in enumerate(people):
        v = {}
        load = _vector(p.get("loadKW"), H)
        pv = _vector(p.get("pvKW"), H)
        net_demand = (load - pv) / U
        supply = 0
        withdrawal = net_demand
        fl = p.get("flex")
        if fl is not None:
            lo, hi = _vector(fl.get("minKW"), H), _vector(fl.get("maxKW"), H)
            a, b = _vector(fl.get("costA"), H), _vector(fl.get("costB"), H)
            f = cp.Variable(H)
            free = hi > lo
            if free.any():
                cons += [f[free] >= lo[free] / U, f[free] <= hi[free] / U]
            if (~free).any():
                cons.append(f[~free] == lo[~free] / U)
            objective += quad(a, f) + cost(b, f)
            supply = supply + f
            withdrawal = withdrawal - f
            v["f"] = f
        st = p.get("storage")
        if st is not None:
            c, e, x = cp.Variable(H), cp.Variable(H), cp.Variable(H)    # x in U·Δt kWh
            rho = (1 - st.get("selfDischarge", 0.0)) ** dt
            ec, ed = st.get("etaCharge", 1.0), st.get("etaDischarge", 1.0)
            eb = U * dt
            prev = cp.hstack([np.array([st["socKWh"] / eb]), x[:-1]]) if H > 1 else np.array([st["socKWh"] / eb])
            cons.append(x == rho * prev + ec * c - e / ed)
            smin, smax = st.get("socMinKWh", 0.0), st.get("socMaxKWh", st["capacityKWh"])
            floor = np.full(H, smin)
            floor[-1] = max(st.get("socFinalMinKWh", smin), smin)
            cons += [c >= 0, c <= st["chargeMaxKW"] / U, e >= 0, e <= st["dischargeMaxKW"] / U,
                     x >= floor / eb, x <= smax / eb]
            wear, wa = st.get("costWear", 0.0), st.get("costWearA", 0.0)
            objective += quad(wa, c) + quad(wa, e) + cost(wear, c) + cost(wear, e)
            supply = supply + e - c
            withdrawal = withdrawal + c - e
            v.update(c=c, e=e, x=x, eb=eb)
        g = cp.Variable(H)
        cons.append(g >= 0)
        objective += cost(buy, g)
        if nash:
            objective += quad(slope, g)
        supply = supply + g
        v["g"] = g
        if can_export:
            w = cp.Variable(H)
            cons.append(w >= 0)
            objective += cost(-sell, w)
            supply = supply - w
            v["w"] = w
        v["supply"] = supply
        v["withdrawal"] = withdrawal
        v["net"] = net_demand
        vars_.append(v)

    # Trades, one row per edge: A[k] = what side a buys from side b, B[k] = what b buys from a.
    edges = trading_graph(people)
    N, E = len(people), len(edges)
    buys = 0
    reciprocity = None
    if E:
        A, B = cp.Variable((E, H)), cp.Variable((E, H))
        Ma, Mb = np.zeros((N, E)), np.zeros((N, E))
        for k, edge in enumerate(edges):
            Ma[edge.a, k] = Mb[edge.b, k] = 1.0
        for var, side in ((A, "a"), (B, "b")):
            who = [getattr(edge, side) for edge in edges]
            contract = np.array([edge.contract[i] for edge, i in zip(edges, who)])
            fee = np.array([edge.fee[i] for edge, i in zip(edges, who)])
            objective += (dt * U / K) * (cp.sum(contract @ var) + cp.sum(fee @ cp.abs(var)))
        limited = np.array([k for k, edge in enumerate(edges) if edge.limit is not None], dtype=int)
        if len(limited):
            lim = np.array([edges[k].limit for k in limited]) / U
            cons += [A[limited] <= lim[:, None], A[limited] >= -lim[:, None],
                     B[limited] <= lim[:, None], B[limited] >= -lim[:, None]]
        reciprocity = A + B == 0
        cons.append(reciprocity)
        buys = Ma @ A + Mb @ B
    supply = cp.vstack([v["supply"] for v in vars_])
    cons.append(supply + buys == np.array([v["net"] for v in vars_]))

    sigma = sum(v["g"] for v in vars_)
    objective += quad(slope, sigma) + cost(slope * passive, sigma)
    draw = sigma + passive / U
    if "importMinKW" in grid:
        cons.append(draw >= _vector(grid["importMinKW"], H) / U)
    if "importMaxKW" in grid:
        cons.append(draw <= _vector(grid["importMaxKW"], H) / U)

    # The operator's network, all periods at once (rows: buses or branches, columns: periods).
    root, order, parent, parent_line = tree(net)
    kids = np.zeros((n, n))
    for bus in range(n):
        if parent[bus] >= 0:
            kids[parent[bus], bus] = 1.0
    withdrawals = [[] for _ in range(n)]
    qwith = np.zeros((n, H))
    for i, p in enumerate(people):
        bus = bus_of[p["bus"]]
        withdrawals[bus].append(vars_[i]["withdrawal"])
        if "qLoadKVAr" in p:
            qwith[bus] += _vector(p["qLoadKVAr"], H)
        else:
            pf = p.get("powerFactor", 1.0)
            if pf < 1:
                qwith[bus] += _vector(p.get("loadKW"), H) * math.sqrt(1 - pf * pf) / pf
    W = cp.vstack([sum(ws) if ws else zeros for ws in withdrawals]) if n > 1 else cp.reshape(
        sum(withdrawals[0]) if withdrawals[0] else zeros, (1, H))
    children = np.array([b for b in range(n) if parent[b] >= 0], dtype=int)
    m = len(children)
    kv = float(net["baseKV"])
    lines = net.get("lines", [])
    r_ohm = np.array([lines[parent_line[b]]["rOhm"] for b in children])
    x_ohm = np.array([lines[parent_line[b]]["xOhm"] for b in children])
    rate = [lines[parent_line[b]].get("rateKVA") for b in children]
    par = np.array([parent[b] for b in children], dtype=int)
    vsub = float(net.get("vSubstationPu", 1.0))
    vmin, vmax = float(net.get("vMinPu", 0.95)), float(net.get("vMaxPu", 1.05))
    others = np.array([b for b in range(n) if b != root], dtype=int)

    P = cp.Variable((n, H))        # row b ≠ root: flow parent → b; row root: substation delivery
    Q = cp.Variable((n, H))
    active = P - kids @ P - pload / U - W == 0
    cons.append(active)
    if model == "linear_angle":
        theta, V = cp.Variable((n, H)), cp.Variable((n, H))
        cons += [theta[root] == 0, V[root] == vsub]
        if len(others):
            amax = math.radians(float(net.get("angleMaxDeg", 15.0)))
            cons += [V[others] >= vmin, V[others] <= vmax, theta[others] >= -amax, theta[others] <= amax]
        z2 = r_ohm ** 2 + x_ohm ** 2
        zero = z2 == 0
        live = np.nonzero(~zero)[0]
        dead = np.nonzero(zero)[0]
        if len(live):
            Gk = 1000 * kv * kv * r_ohm[live] / z2[live] / U      # pu power per pu voltage
            Bk = 1000 * kv * kv * x_ohm[live] / z2[live] / U      # pu power per rad
            dV = V[par[live]] - V[children[live]]
            dT = theta[par[live]] - theta[children[live]]
            cons += [P[children[live]] == cp.multiply(Gk[:, None], dV) + cp.multiply(Bk[:, None], dT),
                     Q[children[live]] == cp.multiply(Bk[:, None], dV) - cp.multiply(Gk[:, None], dT)]
        if len(dead):
            cons += [V[par[dead]] == V[children[dead]], theta[par[dead]] == theta[children[dead]],
                     Q[children[dead]] == 0]
        cons.append(Q[root] == 0)
    elif model == "lindistflow":
        vsq = cp.Variable((n, H))
        reactive = Q - kids @ Q + cp.multiply(qcap[:, None] / U, vsq) - (qload + qwith) / U == 0
        cons.append(reactive)
        rk = r_ohm * U / (1000 * kv * kv)
        xk = x_ohm * U / (1000 * kv * kv)
        if m:
            cons.append(vsq[children] == vsq[par] - 2 * (cp.multiply(rk[:, None], P[children])
                                                          + cp.multiply(xk[:, None], Q[children])))
        cons.append(vsq[root] == vsub * vsub)
        if len(others):
            cons += [vsq[others] >= vmin * vmin, vsq[others] <= vmax * vmax]
    else:
        raise ValueError(f"model {model!r}")
    rated = [k for k in range(m) if rate[k]]
    if rated:
        idx = children[rated]
        lim = np.repeat(np.array([rate[k] for k in rated]) / U, H).reshape(len(rated), H)
        cons.append(cp.SOC(cp.vec(lim, order="F"),
                           cp.vstack([cp.vec(P[idx], order="F"), cp.vec(Q[idx], order="F")]), axis=0))

    problem = cp.Problem(cp.Minimize(objective), cons)
    for tol in tolerances:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                problem.solve(solver=cp.CLARABEL, tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol, **CLARABEL)
            except cp.error.SolverError:
                continue
        if problem.status in ("optimal", "infeasible", "unbounded"):
            break
    out = {"status": problem.status, "seconds": time.perf_counter() - start, "tolerance": tol}
    stats = problem.solver_stats
    if stats is not None and stats.solve_time is not None:
        out["solver_seconds"] = float(stats.solve_time)
    if problem.status not in ("optimal", "optimal_inaccurate"):
        return out

    def kw(var):
        return (np.asarray(var.value, dtype=float) * U).reshape(H) if var is not None else zeros

    out["potential"] = float(problem.value) * K
    res = {}
    for p, v in zip(people, vars_):
        res[p["id"]] = {
            "flexKW": kw(v.get("f")), "chargeKW": kw(v.get("c")), "dischargeKW": kw(v.get("e")),
            "gridBuyKW": kw(v["g"]), "gridSellKW": kw(v.get("w")),
            "socKWh": kw(v["x"]) * dt if "x" in v else zeros,
        }
    out["prosumers"] = res
    out["trades"] = []
    if E:
        # CVXPY's dual ν of `expr == 0` enters the Lagrangian as +ν·expr, the spec's μ·(p_ab + p_ba);
        # ν is per scaled power and period: × K / U for currency per kW and period, / Δt per kWh.
        mu = np.asarray(reciprocity.dual_value, dtype=float).reshape(E, H) * K / U / dt
        kw_a = np.asarray(A.value, dtype=float).reshape(E, H) * U
        kw_b = np.asarray(B.value, dtype=float).reshape(E, H) * U
        for k, edge in enumerate(edges):
            out["trades"].append({"from": people[edge.a]["id"], "to": people[edge.b]["id"],
                                  "kW": kw_b[k], "kWa": kw_a[k], "price": mu[k], "limit": edge.limit})
    # One more kW withdrawn at bus b lowers the balance row's constant: ∂Φ*/∂load = −ν.
    nu = np.asarray(active.dual_value, dtype=float).reshape(n, H)
    out["busPrice"] = {ids[b]: -nu[b] * K / U / dt for b in range(n)}
    out["draw"] = (np.asarray(draw.value, dtype=float) * U).reshape(H)
    # Line flows at the `from` end (kW, kVAr) and bus angles (degrees; linear angle model).
    Pv, Qv = np.asarray(P.value, dtype=float).reshape(n, H) * U, np.asarray(Q.value, dtype=float).reshape(n, H) * U
    out["lines"] = {}
    for b in children:
        line = lines[parent_line[b]]
        sign = 1.0 if bus_of[line["from"]] == parent[b] else -1.0
        out["lines"][line["id"]] = (sign * Pv[b], sign * Qv[b])
    if model == "linear_angle":
        out["angleDeg"] = {ids[b]: np.degrees(np.asarray(theta.value, dtype=float).reshape(n, H)[b]) for b in range(n)}
    return out


class ReferenceResult:
    """A reference solution in the shape of an esmarket result (the fields `tighten` reads), so
    that instances can be tightened without asking esmarket."""

    def __init__(self, doc, solution):
        net = network_document(doc)
        H = int(doc.get("periods", 1))
        zero = np.zeros(H)
        self.prosumers = [dict(id=p["id"], **{k: list(v) for k, v in solution["prosumers"][p["id"]].items()})
                          for p in doc["prosumers"]]
        self.lines = [{"id": l["id"], "pKW": list(solution["lines"].get(l["id"], (zero, zero))[0]),
                       "qKVAr": list(solution["lines"].get(l["id"], (zero, zero))[1])} for l in net.get("lines", [])]
        angles = solution.get("angleDeg", {})
        self.buses = [{"id": b["id"], "angleDeg": list(angles.get(b["id"], zero))} for b in net["buses"]]
        self.document = {"gridDrawKW": list(solution["draw"])}


# ---------------------------------------------------------------------------------------------
# Costs of a reported outcome
# ---------------------------------------------------------------------------------------------


def costs_of(doc, result):
    """Φ and every prosumer's cost J_i over the horizon (currency), computed from a result's
    reported decisions with the formulas of §3.2 / §3.9 (independently of the result's own
    `potential` and `cost` figures): returns (Φ, {id: [J_i per period]})."""
    H = int(doc.get("periods", 1))
    dt = float(doc.get("periodHours", 1.0))
    grid = doc["grid"]
    slope = _vector(grid.get("priceSlope"), H)
    buy = _vector(grid.get("buyPrice"), H)
    sell = _vector(grid.get("sellPrice"), H)
    nash = doc.get("options", {}).get("equilibrium", "nash") == "nash"
    net = network_document(doc)
    passive = np.array([_vector(b.get("pLoadKW"), H) for b in net["buses"]]).sum(axis=0)
    people = doc["prosumers"]
    rows = {p["id"]: {k: np.atleast_1d(np.array(v)) if not isinstance(v, str) else v for k, v in p.items()}
            for p in result.prosumers}
    sigma = np.sum([rows[p["id"]]["gridBuyKW"] for p in people], axis=0)
    own = {}
    for p in people:
        r = rows[p["id"]]
        total = np.zeros(H)
        fl = p.get("flex")
        if fl is not None:
            f = np.array(r["flexKW"])
            total += 0.5 * _vector(fl.get("costA"), H) * f * f + _vector(fl.get("costB"), H) * f
        st = p.get("storage")
        if st is not None:
            c, e = np.array(r["chargeKW"]), np.array(r["dischargeKW"])
            total += st.get("costWear", 0.0) * (c + e) + 0.5 * st.get("costWearA", 0.0) * (c * c + e * e)
        total -= sell * np.array(r["gridSellKW"])
        own[p["id"]] = total
    for edge, row in zip(trading_graph(people), result.trades):
        a, b = people[edge.a]["id"], people[edge.b]["id"]
        assert (row["from"], row["to"]) == (a, b), (row["from"], row["to"], a, b)
        kw = np.atleast_1d(np.array(row["kW"], dtype=float))   # b buys kW from a; a's own variable is −kW
        own[b] += edge.contract[edge.b] * kw + edge.fee[edge.b] * np.abs(kw)
        own[a] += -edge.contract[edge.a] * kw + edge.fee[edge.a] * np.abs(kw)
    phi = 0.0
    player = {}
    for p in people:
        g = np.array(rows[p["id"]]["gridBuyKW"])
        phi += dt * float(np.sum(own[p["id"]] + buy * g + (0.5 * slope * g * g if nash else 0)))
        player[p["id"]] = dt * (own[p["id"]] + (buy + slope * (sigma + passive)) * g)
    phi += dt * float(np.sum(slope * (0.5 * sigma * sigma + passive * sigma)))
    return phi, player
