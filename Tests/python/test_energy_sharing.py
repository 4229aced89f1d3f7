"""energy_sharing through the binding: the closed-form cases of two_layer.md §7 (T1, T1-cleared,
T1b, T2) and the ways a problem can be passed to clear()."""
import json
import math
from pathlib import Path

import pytest

from conftest import TOL, check_invariants, column, t1_problem, without_timing


def approx(values, tol=TOL):
    return pytest.approx(values, abs=tol)


def test_t1_given_intercept(esm, t1):
    r = esm.clear(t1)
    assert r.status == "solved", r.message
    check_invariants(r, t1)
    c = r.communities[0]
    assert c["id"] == "c1"
    assert c["price"] == pytest.approx(0.54, abs=TOL)
    assert c["unclearedExportKW"] == pytest.approx(0.6, abs=TOL)
    assert column(r, "sharedExportKW") == approx([1.2, 0.2, -0.8])
    assert column(r, "flexKW") == approx([3.2, 4.2, 5.2])
    assert column(r, "netImportKW") == approx([-1.2, -0.2, 0.8])
    assert column(r, "gridBuyKW") == approx([0, 0, 0])
    assert column(r, "gridSellKW") == approx([0, 0, 0])
    assert column(r, "cost") == pytest.approx([0.184, 1.194, 2.304], rel=TOL, abs=TOL)
    assert column(r, "payment") == approx([-0.648, -0.108, 0.432])
    assert r.objective["socialCost"] == pytest.approx(4.006, rel=TOL)


def test_t1_cleared_without_intercept(esm):
    problem = t1_problem(intercept=None)
    r = esm.clear(problem)
    assert r.status == "solved", r.message
    check_invariants(r, problem)
    c = r.communities[0]
    assert c["price"] == pytest.approx(0.5, abs=TOL)
    assert c["unclearedExportKW"] == pytest.approx(0.0, abs=TOL)
    assert column(r, "sharedExportKW") == approx([1.0, 0.0, -1.0])
    assert column(r, "flexKW") == approx([3.0, 4.0, 5.0])
    assert column(r, "cost") == pytest.approx([0.25, 1.2, 2.25], rel=TOL, abs=TOL)
    assert r.objective["socialCost"] == pytest.approx(3.7, rel=TOL)


def test_t1b_production_bound_binds(esm):
    problem = t1_problem(p1_max=2.5)
    r = esm.clear(problem)
    assert r.status == "solved", r.message
    check_invariants(r, problem)
    c = r.communities[0]
    assert c["price"] == pytest.approx(0.575, abs=TOL)
    assert c["unclearedExportKW"] == pytest.approx(0.25, abs=TOL)
    assert column(r, "sharedExportKW") == approx([0.5, 0.375, -0.625])
    assert column(r, "flexKW") == approx([2.5, 4.375, 5.375])
    assert column(r, "cost") == pytest.approx([0.275, 1.17890625, 2.34140625], rel=TOL, abs=TOL)
    assert r.objective["socialCost"] == pytest.approx(3.9390625, rel=TOL)


@pytest.mark.parametrize("intercept", [0.5, None], ids=["intercept", "cleared"])
def test_t2_grid_trades(esm, intercept):
    problem = t1_problem(intercept=intercept, buy=0.55, sell=0.45)
    r = esm.clear(problem)
    assert r.status == "solved", r.message
    check_invariants(r, problem)
    c = r.communities[0]
    assert c["price"] == pytest.approx(0.5, abs=TOL)
    assert 0.45 < c["price"] < 0.55  # R3
    assert c["unclearedExportKW"] == pytest.approx(0.0, abs=TOL)
    assert column(r, "sharedExportKW") == approx([0.5, 0.0, -0.5])
    assert column(r, "flexKW") == approx([3.5, 4.0, 4.5])
    assert column(r, "gridSellKW") == approx([1.0, 0.0, 0.0])
    assert column(r, "gridBuyKW") == approx([0.0, 0.0, 1.0])
    assert column(r, "cost") == pytest.approx([0.2625, 1.2, 2.2625], rel=TOL, abs=TOL)
    assert r.objective["socialCost"] == pytest.approx(3.725, rel=TOL)


def test_extra_objects_are_accepted(esm, t1):
    t1["extra"] = {"note": "free for the caller", "nested": [1, {"x": None}]}
    t1["prosumers"][0]["extra"] = {"anything": True}
    t1["communities"][0]["extra"] = {}
    r = esm.clear(t1)
    assert r.status == "solved"
    assert r.communities[0]["price"] == pytest.approx(0.54, abs=TOL)


# ---- the ways of passing a problem --------------------------------------------------------------
@pytest.fixture
def reference(esm, t1):
    return without_timing(esm.clear(t1).document)


def test_input_as_json_string(esm, t1, reference):
    assert without_timing(esm.clear(json.dumps(t1)).document) == reference
    assert without_timing(esm.clear(json.dumps(t1, indent=2)).document) == reference
    assert without_timing(esm.clear("  \n" + json.dumps(t1)).document) == reference


def test_input_as_bytes(esm, t1, reference):
    assert without_timing(esm.clear(json.dumps(t1).encode()).document) == reference


def test_input_as_path(esm, t1, reference, tmp_path, monkeypatch):
    f = tmp_path / "t1 problem.json"
    f.write_text(json.dumps(t1, indent=1))
    assert without_timing(esm.clear(f).document) == reference            # pathlib.Path
    assert without_timing(esm.clear(str(f)).document) == reference       # str path
    monkeypatch.chdir(tmp_path)
    assert without_timing(esm.clear("t1 problem.json").document) == reference  # relative


def test_input_file_without_json_suffix(esm, t1, reference, tmp_path):
    f = tmp_path / "problem.txt"
    f.write_text(json.dumps(t1))
    assert without_timing(esm.clear(str(f)).document) == reference


def test_missing_file(esm, tmp_path):
    with pytest.raises(FileNotFoundError):
        esm.clear(tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError):
        esm.clear(str(tmp_path / "nope.json"))


def test_wrong_python_type(esm):
    with pytest.raises(TypeError):
        esm.clear(42)
    with pytest.raises(TypeError):
        esm.clear(None)


def test_numpy_values_in_dict(esm, t1, reference):
    np = pytest.importorskip("numpy")
    t1["prosumers"][0]["loadKW"] = np.float64(2.0)
    t1["prosumers"][1]["loadKW"] = np.int64(4)
    t1["communities"][0]["sensitivity"] = np.array([0.1, 0.2])[0]
    assert without_timing(esm.clear(t1).document) == reference


def test_problem_dict_is_not_modified(esm, t1):
    before = json.dumps(t1, sort_keys=True)
    esm.clear(t1)
    assert json.dumps(t1, sort_keys=True) == before


def test_unicode_ids_round_trip(esm, t1):
    t1["prosumers"][0]["id"] = "Prosumer ü 東京 🙂"
    r = esm.clear(t1)
    assert r.prosumers[0]["id"] == "Prosumer ü 東京 🙂"
    r = esm.clear(json.dumps(t1, ensure_ascii=True))  # \u escapes, surrogate pairs
    assert r.prosumers[0]["id"] == "Prosumer ü 東京 🙂"


def test_other_mappings_and_sequences(esm, t1, reference):
    import types
    t1["grid"] = types.MappingProxyType(t1["grid"])
    t1["prosumers"] = tuple(t1["prosumers"])
    assert without_timing(esm.clear(types.MappingProxyType(t1)).document) == reference


def test_unencodable_value_names_its_path(esm, t1):
    t1["prosumers"][0]["flex"]["maxKW"] = {1, 2}
    with pytest.raises(esm.EsmarketError) as info:
        esm.clear(t1)
    assert info.value.code == "invalid_input"
    assert info.value.path == "prosumers[0].flex.maxKW"
