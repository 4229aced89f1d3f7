"""esmarket.Result accessors, version(), schema()."""
import re

import pytest


def test_version_and_schema(esm):
    assert re.fullmatch(r"\d+\.\d+\.\d+", esm.version())
    assert esm.schema() == "esmarket/1"
    assert esm.version() == esm.version()


def test_accessors(esm, t1):
    r = esm.clear(t1)
    assert isinstance(r, esm.Result)
    assert r.status == "solved" and r.ok
    assert r.mechanism == "energy_sharing"
    assert r.schema == "esmarket/1"
    assert isinstance(r.message, str)
    assert r.document["status"] == r.status
    assert r["status"] == r.status and r.get("nope", 3) == 3
    assert r.objective is r.document["objective"]
    assert r.stats is r.document["stats"]
    assert r.quality is r.document["quality"]
    assert isinstance(r.prosumers, list) and len(r.prosumers) == 3
    assert r.prosumers[0]["id"] == "p1"
    assert isinstance(r.communities, list) and r.communities[0]["id"] == "c1"
    # lists a mechanism does not produce are empty, never None
    assert r.buses == [] or isinstance(r.buses, list)
    assert r.lines == [] or isinstance(r.lines, list)
    assert r.trades == [] or isinstance(r.trades, list)
    import json
    assert json.loads(r.to_json()) == r.document


def test_repr_is_a_short_summary(esm, t1):
    r = esm.clear(t1)
    text = repr(r)
    assert text.startswith("<esmarket.Result")
    assert "energy_sharing" in text and "solved" in text
    assert "prosumers=3" in text and "price=0.54" in text
    assert len(text) < 300
    big = esm.clear(esm.generate_case("energy_sharing", prosumers=2000, seed=1))
    assert len(repr(big)) < 300


def test_table_with_pandas(esm, t1):
    pd = pytest.importorskip("pandas")
    r = esm.clear(t1)
    df = r.table("prosumers")
    assert isinstance(df, pd.DataFrame)
    assert list(df["id"]) == ["p1", "p2", "p3"]
    assert df["flexKW"].tolist() == pytest.approx([3.2, 4.2, 5.2], abs=1e-6)
    assert r.prosumers_df.equals(df)
    assert r.communities_df.loc[0, "price"] == pytest.approx(0.54, abs=1e-6)
    assert len(r.table("lines")) == len(r.lines)


def test_table_without_pandas(esm, t1, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    r = esm.clear(t1)
    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(ImportError, match="pandas"):
        r.table("prosumers")
    with pytest.raises(ImportError):
        r.prosumers_df
    # the plain lists still work
    assert len(r.prosumers) == 3


def test_unknown_table(esm, t1):
    with pytest.raises(KeyError):
        esm.clear(t1).table("generators")


# -- tables ready to join (issue 18, item 4) ----------------------------------------------------
def test_prosumer_rows_carry_bus_and_community(esm):
    doc = esm.generate_case("two_layer", prosumers=120, seed=4, feeder="ieee33bw", communities=4)
    r = esm.clear(doc)
    community_bus = {c["id"]: c["bus"] for c in doc["communities"]}
    rows = r.rows("prosumers")
    assert [row["id"] for row in rows] == [p["id"] for p in doc["prosumers"]]
    for row, p in zip(rows, doc["prosumers"]):
        assert row["community"] == p["community"]
        assert row["bus"] == p.get("bus", community_bus[p["community"]])
        assert list(row)[:3] == ["id", "bus", "community"]
    # the raw lists stay what the library wrote
    assert "bus" not in r.prosumers[0]
    # bus ids join with the buses table of a network mechanism
    so = esm.generate_case("social_optimum", prosumers=50, seed=4, feeder="ieee33bw")
    rs = esm.clear(so)
    buses = {b["id"] for b in rs.rows("buses")}
    assert all(row["bus"] in buses for row in rs.rows("prosumers"))
    assert all(row["community"] is None for row in rs.rows("prosumers"))


def test_energy_sharing_single_community_is_named(esm, t1):
    rows = esm.clear(t1).rows("prosumers")
    assert {row["community"] for row in rows} == {"c1"}
    assert {row["bus"] for row in rows} == {None}


def test_multi_period_rows_have_a_period_column(esm):
    doc = esm.generate_case("p2p_gne", prosumers=5, seed=2, periods=3)
    r = esm.clear(doc)
    rows = r.rows("prosumers")
    assert len(rows) == 5 * 3
    assert [row["period"] for row in rows[:3]] == [0, 1, 2]
    for row in rows:
        raw = next(p for p in r.prosumers if p["id"] == row["id"])
        value = raw["flexKW"][row["period"]]
        assert row["flexKW"] == value or (abs(value) <= 1e-8 * max(1.0, max(abs(x) for p in r.prosumers for x in p["flexKW"])) and row["flexKW"] == 0.0)
    trades = r.rows("trades")
    assert len(trades) == 3 * len(r.trades)
    assert list(trades[0])[:3] == ["from", "to", "period"]


def test_zero_rule():
    from esmarket import Result
    doc = {"schema": "esmarket/1", "mechanism": "two_layer", "status": "solved", "message": "",
           "lines": [{"id": "1", "pKW": 120.0, "congestionPrice": -3.9e-29, "limitKW": -1},
                     {"id": "2", "pKW": 1e-7, "congestionPrice": 0.25, "limitKW": 50},
                     {"id": "3", "pKW": 2e-6, "congestionPrice": -0.0, "limitKW": 50}],
           "trades": [{"from": "a", "to": "b", "kW": 1.0, "reciprocityResidualKW": 3e-13}],
           "quality": {}, "stats": {}}
    r = Result(doc, problem={"options": {"tolerance": 1e-9}})
    lines = r.rows("lines")
    # scale of pKW is 120: 120 · 1e-9 = 1.2e-7 ≥ 1e-7 → 0; 2e-6 stays
    assert [l["pKW"] for l in lines] == [120.0, 0.0, 2e-6]
    assert [l["congestionPrice"] for l in lines] == [0.0, 0.25, 0.0]
    assert str(lines[2]["congestionPrice"]) == "0.0"        # no negative zero
    assert r.rows("trades")[0]["reciprocityResidualKW"] == 3e-13   # residuals are kept
    assert doc["lines"][0]["congestionPrice"] == -3.9e-29   # the document is untouched
    # default tolerance 1e-8 without a problem
    assert Result(doc).rows("lines")[1]["pKW"] == 0.0


def test_session_step_rows_carry_the_configuration_keys(esm):
    config = esm.generate_case("p2p_online", prosumers=4, seed=5, periods=2)
    with esm.Session(config) as s:
        rows = s.step().rows("prosumers")
        state = s.state()
    assert [r["bus"] for r in rows] == [p["bus"] for p in config["prosumers"]]
    with esm.Session(state) as resumed:
        assert [r["bus"] for r in resumed.step().rows("prosumers")] == [p["bus"] for p in config["prosumers"]]
