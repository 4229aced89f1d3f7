"""Shared setup of the Python binding tests.

By default the tests import the binding from the source tree (bindings/python) and use the
library of the source tree (.build/release/libesmarket.so), so nothing needs to be installed:

    swift build -c release --product esmarket
    python3 -m pytest Tests/python

Environment:
    ESMARKET_LIB=/path/to/libesmarket.so   test that library instead
    ESMARKET_TEST_INSTALLED=1              import the pip-installed `esmarket` (and its bundled
                                           library unless ESMARKET_LIB is set)
    ESMARKET_TEST_PIP=1                    also run the (slow, network) pip-install test
"""
import copy
import json
import math
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "bindings" / "python"

if os.environ.get("ESMARKET_TEST_INSTALLED") != "1":
    sys.path.insert(0, str(SRC))
    if not os.environ.get("ESMARKET_LIB"):
        _built = REPO / ".build" / "release" / "libesmarket.so"
        if _built.is_file():
            os.environ["ESMARKET_LIB"] = str(_built)

TOL = 1e-6  # two_layer.md §7: absolute 1e-6 on quantities and prices, 1e-6 relative on costs


def _prosumer(i, load, max_kw=100.0):
    return {"id": f"p{i}", "loadKW": load,
            "flex": {"minKW": 0.0, "maxKW": max_kw, "costA": 0.1, "costB": 0.1}}


def t1_problem(intercept=0.6, buy=1.0, sell=0.2, p1_max=100.0):
    """two_layer.md §7 T1 as an energy_sharing problem (intercept=None: the cleared variant)."""
    community = {"id": "c1", "sensitivity": 0.1}
    if intercept is not None:
        community["intercept"] = intercept
    return {
        "schema": "esmarket/1",
        "mechanism": "energy_sharing",
        "grid": {"buyPrice": buy, "sellPrice": sell},
        "communities": [community],
        "prosumers": [_prosumer(1, 2.0, p1_max), _prosumer(2, 4.0), _prosumer(3, 6.0)],
    }


@pytest.fixture
def t1():
    return t1_problem()


@pytest.fixture
def esm():
    import esmarket
    return esmarket


TIMING_KEYS = ("parseSeconds", "solveSeconds", "totalSeconds")


def without_timing(document):
    """A copy of a result document without the wall-clock fields of `stats`."""
    doc = copy.deepcopy(document)
    stats = doc.get("stats")
    if isinstance(stats, dict):
        for k in list(stats):
            if k in TIMING_KEYS or k.endswith("Seconds"):
                del stats[k]
    return doc


def library_file():
    """The library file the tests use (for tests that copy it around)."""
    import esmarket
    return Path(esmarket.library_path())


def dumps(obj):
    return json.dumps(obj)


def column(result, key):
    return [p[key] for p in result.prosumers]


def check_invariants(result, problem):
    """Contract checks that hold for every energy_sharing result (api.md §2.3, §3)."""
    doc = result.document
    assert doc["schema"] == "esmarket/1"
    assert doc["mechanism"] == "energy_sharing"
    assert [p["id"] for p in result.prosumers] == [p["id"] for p in problem["prosumers"]]
    assert len(result.communities) == 1
    for p, given in zip(result.prosumers, problem["prosumers"]):
        for key in ("netImportKW", "flexKW", "sharedExportKW", "gridBuyKW", "gridSellKW",
                    "cost", "payment"):
            assert isinstance(p[key], (int, float)) and math.isfinite(p[key]), (p["id"], key)
        assert p["gridBuyKW"] >= -TOL and p["gridSellKW"] >= -TOL
        # Proposition 1: never buys from and sells to the grid at once
        assert min(p["gridBuyKW"], p["gridSellKW"]) <= TOL, p
        # net import = load - pv - flex = what it buys minus sells on every market
        load = given.get("loadKW", 0.0) - given.get("pvKW", 0.0)
        assert p["netImportKW"] == pytest.approx(load - p["flexKW"], abs=TOL)
        assert p["netImportKW"] == pytest.approx(
            p["gridBuyKW"] - p["gridSellKW"] - p["sharedExportKW"], abs=TOL)
        assert given["flex"]["minKW"] - TOL <= p["flexKW"] <= given["flex"]["maxKW"] + TOL
    c = result.communities[0]
    assert sum(column(result, "sharedExportKW")) == pytest.approx(c["unclearedExportKW"],
                                                                 abs=TOL * len(result.prosumers))
    # payment: what the prosumer pays the community = -price * shared export
    for p in result.prosumers:
        assert p["payment"] == pytest.approx(-c["price"] * p["sharedExportKW"], abs=TOL)
    assert result.quality["equilibriumResidual"] <= 1e-6
    for key in ("iterations", "parseSeconds", "solveSeconds", "totalSeconds", "algorithm"):
        assert key in result.stats, key
