"""p2p_gne end to end through the Python binding and the CLI: the issue's "done when" case, the
generator's reproducibility, and the two routes against each other. The independent CVXPY model
is in test_p2p_gne.py."""
import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _max_abs(values):
    out = 0.0
    for v in values:
        out = max(out, max(abs(x) for x in v) if isinstance(v, list) else abs(v))
    return out


def _series(v):
    return v if isinstance(v, list) else [v]


def check_outcome(problem, result, tol=1e-6):
    """Invariants 1-5 from the reported numbers (not from the quality fields), to `tol` kW."""
    periods = problem.get("periods", 1)
    people = {p["id"]: p for p in problem["prosumers"]}
    bought = {pid: [0.0] * periods for pid in people}
    for tr in result.trades:
        kw = _series(tr["kW"])
        assert max(abs(x) for x in _series(tr["reciprocityResidualKW"])) < tol
        for t in range(periods):
            bought[tr["to"]][t] += kw[t]
            bought[tr["from"]][t] -= kw[t]
    for row in result.prosumers:
        p = people[row["id"]]
        load = _series(p.get("loadKW", 0))
        pv = _series(p.get("pvKW", 0))
        load = load * periods if len(load) == 1 else load
        pv = pv * periods if len(pv) == 1 else pv
        for t in range(periods):
            supplied = (_series(row["flexKW"])[t] + _series(row["dischargeKW"])[t] - _series(row["chargeKW"])[t]
                        + _series(row["gridBuyKW"])[t] - _series(row["gridSellKW"])[t] + bought[row["id"]][t])
            assert abs(supplied - (load[t] - pv[t])) < 10 * tol, (row["id"], t)
            assert _series(row["gridBuyKW"])[t] >= -1e-7
        if "storage" in p:
            s = p["storage"]
            soc = _series(row["socKWh"])
            assert min(soc) >= s.get("socMinKWh", 0) - 1e-6
            assert max(soc) <= s.get("socMaxKWh", s["capacityKWh"]) + 1e-6
    q = result.quality
    for key in ("reciprocityResidualKW", "balanceResidualKW", "busBalanceResidualKW", "storageResidualKWh"):
        assert q[key] < 10 * tol, key


def test_done_when_case_from_python(esm):
    problem = esm.generate_case(mechanism="p2p_gne", feeder="ieee37", prosumers=80)
    assert problem["periods"] == 24 and len(problem["prosumers"]) == 80
    result = esm.clear(problem)
    assert result.status == "solved", result.message
    assert result.stats["algorithm"] == "centralized"
    check_outcome(problem, result)
    assert result.quality["equilibriumResidual"] < 1e-6
    # Trading lowers the market's cost against the same game without trades.
    assert result.objective["socialCost"] < result.objective["standaloneCost"]
    assert len(result.trades) > 80


def test_generator_is_reproducible_and_shaped(esm):
    a = esm.generate_case_json("p2p_gne", prosumers=30, seed=4, periods=12, connectivity=0.3)
    b = esm.generate_case_json("p2p_gne", prosumers=30, seed=4, periods=12, connectivity=0.3)
    assert a == b
    d = json.loads(a)
    edges = {tuple(sorted((p["id"], q))) for p in d["prosumers"] for q in p.get("peers", [])}
    assert len(edges) == int(0.3 * 30 * 29 / 2 + 0.5)  # rounded half away from zero
    # Connected: a spanning tree comes first.
    adjacency = {p["id"]: set() for p in d["prosumers"]}
    for x, y in edges:
        adjacency[x].add(y)
        adjacency[y].add(x)
    seen, stack = set(), ["p1"]
    while stack:
        v = stack.pop()
        if v not in seen:
            seen.add(v)
            stack.extend(adjacency[v] - seen)
    assert len(seen) == 30
    assert sum("storage" in p for p in d["prosumers"]) == 15
    assert sum("flex" in p for p in d["prosumers"]) == 7
    assert all(len(p["loadKW"]) == 12 for p in d["prosumers"])


# Small on purpose: the proximal point needs thousands of iterations to reach 1e-6 (README,
# benchmark); the hand-worked cases B1, B2, B5 of the Swift tests cover it too.
@pytest.mark.parametrize("seed,feeder,model,equilibrium", [
    (1, "ieee37", "linear_angle", "nash"),
    (2, "ieee33bw", "lindistflow", "wardrop"),
])
def test_proximal_point_agrees_with_centralized(esm, seed, feeder, model, equilibrium):
    problem = esm.generate_case("p2p_gne", feeder=feeder, prosumers=3, periods=2, seed=seed, connectivity=1.0)
    problem["network"]["model"] = model
    problem["options"] = {"equilibrium": equilibrium, "algorithm": "centralized"}
    central = esm.clear(problem)
    problem["options"] = {"equilibrium": equilibrium, "algorithm": "proximal_point"}
    ppp = esm.clear(problem)
    assert central.status == "solved" and ppp.status == "solved", (central.message, ppp.message)
    # The proximal point stops at residuals of 1e-6 relative to (1 + the largest load) in kW.
    load = max(max(_series(b.get("pLoadKW", 0))) for b in problem["network"]["buses"]) if "buses" in problem["network"] else 0
    largest = max([load] + [max(_series(p.get("loadKW", 0)) + _series(p.get("pvKW", 0))) for p in problem["prosumers"]])
    check_outcome(problem, ppp, tol=1e-6 * (1 + largest))
    # Φ is the same at every equilibrium; the potential gap is the route-independent check.
    phi = central.objective["potential"]
    assert abs(ppp.objective["potential"] - phi) <= 1e-5 * (1 + abs(phi))
    assert ppp.quality["potentialGap"] <= 1e-5
    assert ppp.quality["equilibriumResidual"] <= 1e-5


def test_cli_clears_p2p_gne(esm, tmp_path):
    cli = REPO / "bin" / "esmarket"
    if not cli.exists():
        cli = REPO / ".build" / "release" / "esmarket-cli"
    if not cli.exists():
        pytest.skip("the esmarket CLI is not built")
    case = tmp_path / "gne.json"
    subprocess.run([str(cli), "generate", "--mechanism", "p2p_gne", "--prosumers", "12", "--periods", "4",
                    "--output", str(case)], check=True)
    out = subprocess.run([str(cli), "clear", str(case)], check=True, capture_output=True, text=True).stdout
    document = json.loads(out)
    assert document["status"] == "solved"
    assert document["mechanism"] == "p2p_gne"
    assert all(set(row) >= {"from", "to", "kW", "price"} and "id" not in row for row in document["trades"])


def test_errors_name_the_new_fields(esm):
    problem = esm.generate_case("p2p_gne", prosumers=4, periods=2, seed=9)
    problem["prosumers"][0]["peers"] = [{"id": "p2", "maxKW": -3}]
    with pytest.raises(esm.EsmarketError) as info:
        esm.clear(problem)
    assert info.value.code == "invalid_input"
    assert info.value.path == "prosumers[0].peers[0].maxKW"
