"""p2p_reconfiguration end to end through the Python binding: a generated case clears to a
radial, AC-verified outcome with trades, and its invariants hold on the reported numbers."""
import json

import pytest


def test_generated_case_is_radial_and_verified(esm):
    problem = esm.generate_case("p2p_reconfiguration", prosumers=5, periods=2, seed=3)
    assert problem["options"]["allLinesSwitchable"] is True
    result = esm.clear(problem)
    assert result.status == "solved", result.message
    buses = len(result.buses)
    in_service = [row["inService"] for row in result.lines]
    for t in range(2):
        # Radial: buses − 1 lines in service, connected (union–find over the reported statuses).
        assert sum(s[t] for s in in_service) == buses - 1
    assert len(result.get("openLines")) == 2
    q = result.quality
    assert q["optimalityGap"] <= 1e-6
    assert q["acVoltageErrorMaxPu"] < 1e-6 and q["relaxationGapMax"] < 1e-5
    assert q["reciprocityResidualKW"] < 1e-6
    assert result.get("switchOperations") <= problem["options"]["maxSwitchingOperations"]
    # Invariant 6: the chosen topologies lose no more than the document's own.
    assert sum(result.objective["lossesKW"]) <= sum(result.objective["baseTopologyLossesKW"]) + 1e-6
    # Every prosumer balances: flex + grid buy − grid sell + trades = load − pv.
    people = {p["id"]: p for p in problem["prosumers"]}
    for row in result.prosumers:
        p = people[row["id"]]
        for t in range(2):
            load = p["loadKW"][t]
            pv = p["pvKW"][t] if "pvKW" in p else 0
            supplied = row["flexKW"][t] + row["gridBuyKW"][t] - row["gridSellKW"][t] + row["tradeKW"][t]
            assert abs(supplied - (load - pv)) < 1e-6
    assert len(result.trades) > 0 and all("price" in tr for tr in result.trades)


def test_errors_name_the_options(esm):
    problem = esm.generate_case("p2p_reconfiguration", prosumers=3, periods=1, seed=1)
    problem["options"]["maxSwitchingOperations"] = -1
    with pytest.raises(esm.EsmarketError) as info:
        esm.clear(problem)
    assert info.value.path == "options.maxSwitchingOperations"
    problem["options"] = {"algorithm": "two_tier"}
    with pytest.raises(esm.EsmarketError) as info:
        esm.clear(problem)
    assert info.value.code == "unsupported"
