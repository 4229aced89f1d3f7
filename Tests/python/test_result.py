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
