"""two_layer against an independent CVXPY + Clarabel model of its equivalent problem (EQ).

The model below is written from two_layer.md §3.8, not from esmarket's code: every prosumer's
production p, shared export x and grid trades u, v; every community's uncleared export X; the
wide-area balance; the sharing-induced flow on every rated line (minus the export of the subtree
below it) within its rating. Mode A objective: production and grid costs plus Σ_i a_i/2 Σ_j x_j².
At its optimum the community balance's multiplier is the community's price.
"""
from collections import defaultdict, deque

import numpy as np
import pytest

import esmarket

cp = pytest.importorskip("cvxpy")
pytest.importorskip("clarabel")


def subtree_members(network, community_bus):
    """For every line with a rating: (rating, indices of the communities below it)."""
    adjacency = defaultdict(list)
    for k, line in enumerate(network["lines"]):
        if line.get("closed", True):
            adjacency[line["from"]].append((line["to"], k))
            adjacency[line["to"]].append((line["from"], k))
    root = network["substationBus"]
    parent_line, order, seen = {}, [root], {root}
    queue = deque([root])
    while queue:
        bus = queue.popleft()
        for other, k in adjacency[bus]:
            if other not in seen:
                seen.add(other)
                parent_line[other] = (bus, k)
                order.append(other)
                queue.append(other)
    below = {bus: set() for bus in order}
    for i, bus in enumerate(community_bus):
        below[bus].add(i)
    for bus in reversed(order):
        if bus in parent_line:
            below[parent_line[bus][0]] |= below[bus]
    limits = []
    for bus, (_, k) in parent_line.items():
        rating = network["lines"][k].get("rateKVA")
        if rating is not None and below[bus]:
            limits.append((rating, sorted(below[bus])))
    return limits


def solve_eq_with_cvxpy(problem):
    network = problem["network"]
    if "builtin" in network:
        raise ValueError("expects a full network document")
    communities = problem["communities"]
    index = {c["id"]: i for i, c in enumerate(communities)}
    people = problem["prosumers"]
    member = np.array([index[p["community"]] for p in people])
    flex = [p.get("flex", {}) for p in people]
    c = np.array([f.get("costA", 0.0) for f in flex])
    b = np.array([f.get("costB", 0.0) for f in flex])
    lo = np.array([f.get("minKW", 0.0) for f in flex])
    hi = np.array([f.get("maxKW", 0.0) for f in flex])
    demand = np.array([p.get("loadKW", 0.0) - p.get("pvKW", 0.0) for p in people])
    a = np.array([communities[i]["sensitivity"] for i in member])
    buy, sell = problem["grid"]["buyPrice"], problem["grid"]["sellPrice"]
    n, k = len(people), len(communities)
    p, x = cp.Variable(n), cp.Variable(n)
    u, v = cp.Variable(n, nonneg=True), cp.Variable(n, nonneg=True)
    X = cp.Variable(k)
    incidence = np.zeros((k, n))
    incidence[member, np.arange(n)] = 1.0
    community_balance = incidence @ x == X
    constraints = [p + u - v - x == demand, p >= lo, p <= hi, community_balance, cp.sum(X) == 0]
    for rating, below in subtree_members(network, [c_["bus"] for c_ in communities]):
        constraints += [cp.sum(X[below]) <= rating, cp.sum(X[below]) >= -rating]
    cost = 0.5 * cp.sum(cp.multiply(c, cp.square(p))) + b @ p + buy * cp.sum(u) - sell * cp.sum(v)
    objective = cost + 0.5 * cp.sum(cp.multiply(a, cp.square(x)))
    cp.Problem(cp.Minimize(objective), constraints).solve(
        solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11, max_iter=500)
    social = float(0.5 * c @ p.value ** 2 + b @ p.value + buy * u.value.sum() - sell * v.value.sum())
    # The balance written as incidence·x − X = 0: its multiplier is minus the marginal value of
    # energy in the community, by CVXPY's sign convention for equality constraints.
    prices = -np.asarray(community_balance.dual_value)
    return social, prices, np.asarray(X.value)


def full_network_case(feeder, prosumers, seed, congestion):
    spec = dict(mechanism="two_layer", feeder=feeder, prosumers=prosumers, seed=seed)
    if congestion:
        spec["congestion"] = True
    problem = esmarket.generate_case(**spec)
    if "builtin" in problem["network"]:
        # Spell the built-in feeder out, for the independent model.
        from pathlib import Path
        import json
        data = Path(__file__).resolve().parents[1] / "data" / "feeders" / f"{feeder}.json"
        network = json.loads(data.read_text())
        network.pop("model", None)
        problem["network"] = network
    return problem


@pytest.mark.parametrize("feeder,prosumers,congestion", [
    ("ieee33bw", 1200, False),
    ("ieee33bw", 1200, True),
    ("ieee123", 1500, True),
])
def test_direct_matches_independent_cvxpy_model(feeder, prosumers, congestion):
    problem = full_network_case(feeder, prosumers, seed=5, congestion=congestion)
    result = esmarket.clear(problem)
    assert result.status == "solved"
    social, prices, exports = solve_eq_with_cvxpy(problem)
    assert abs(result.objective["socialCost"] - social) <= 1e-6 * abs(social)
    ours = np.array([c_["price"] for c_ in result.communities])
    assert np.max(np.abs(ours - prices) / np.maximum(np.abs(prices), 1e-3)) <= 1e-6
    ours_x = np.array([c_["unclearedExportKW"] for c_ in result.communities])
    assert np.max(np.abs(ours_x - exports)) <= 1e-6 * max(1.0, np.max(np.abs(exports)))
    if congestion:
        assert max(abs(l["congestionPrice"]) for l in result.lines) > 1e-6, "the generated case is congested"


def test_bidding_converges_to_direct_on_a_congested_feeder():
    problem = full_network_case("ieee123", 1500, seed=6, congestion=True)
    direct = esmarket.clear(problem)
    problem["options"] = {"algorithm": "bidding"}
    events = []
    bidding = esmarket.clear(problem, progress=lambda e: events.append(e) and False)
    assert bidding.status == "solved"
    assert bidding.stats["iterations"] > 1
    assert any(e.get("event") == "iteration" for e in events) or bidding.stats["iterations"] < 100
    ours = np.array([c_["price"] for c_ in direct.communities])
    theirs = np.array([c_["price"] for c_ in bidding.communities])
    assert np.max(np.abs(ours - theirs) / np.abs(ours)) <= 1e-6
