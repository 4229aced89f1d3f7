"""esmarket.generate_case: reproducible problems, and large generated cases clear."""
import json
import math

import pytest

from conftest import check_invariants


def test_same_seed_same_problem(esm):
    a = esm.generate_case("energy_sharing", prosumers=200, seed=7)
    b = esm.generate_case(mechanism="energy_sharing", prosumers=200, seed=7)
    assert a == b
    assert a["schema"] == "esmarket/1"
    assert a["mechanism"] == "energy_sharing"
    assert len(a["prosumers"]) == 200
    assert len({p["id"] for p in a["prosumers"]}) == 200


def test_same_seed_byte_identical_text(esm):
    a = esm.generate_case_json("energy_sharing", prosumers=300, seed=3)
    b = esm.generate_case_json("energy_sharing", prosumers=300, seed=3)
    assert a == b
    assert json.loads(a) == esm.generate_case("energy_sharing", prosumers=300, seed=3)


def test_different_seed_different_problem(esm):
    a = esm.generate_case("energy_sharing", prosumers=200, seed=1)
    b = esm.generate_case("energy_sharing", prosumers=200, seed=2)
    assert a != b
    assert a["prosumers"] != b["prosumers"]


def test_generated_problem_is_json_clean(esm):
    problem = esm.generate_case("energy_sharing", prosumers=100, seed=11)
    json.dumps(problem, allow_nan=False)  # raises on NaN/Infinity

    def walk(v):
        if isinstance(v, float):
            assert math.isfinite(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(problem)


def test_generated_case_with_thousands_of_prosumers_clears(esm):
    problem = esm.generate_case("energy_sharing", prosumers=3000, seed=5)
    assert len(problem["prosumers"]) == 3000
    r = esm.clear(problem)
    assert r.status == "solved", r.message
    check_invariants(r, problem)
    # round trip through text gives the same result
    r2 = esm.clear(json.dumps(problem))
    assert r2.communities == r.communities
    assert r2.prosumers == r.prosumers


def test_generated_feeder_case_clears(esm):
    problem = esm.generate_case("energy_sharing", feeder="ieee123", prosumers=5000, seed=1)
    assert len(problem["prosumers"]) == 5000
    r = esm.clear(problem)
    assert r.status == "solved", r.message
    check_invariants(r, problem)


def test_none_values_are_omitted_and_extra_passed(esm):
    # None means "not given": must not reach the library as null
    a = esm.generate_case("energy_sharing", prosumers=50, seed=9, feeder=None,
                          communities=None, periods=None)
    assert a == esm.generate_case("energy_sharing", prosumers=50, seed=9)


def test_bad_specification(esm):
    with pytest.raises(esm.EsmarketError) as info:
        esm.generate_case("no_such_mechanism", prosumers=10, seed=1)
    assert info.value.code == "invalid_input"
    assert info.value.path == "mechanism"
    with pytest.raises(esm.EsmarketError) as info:
        esm.generate_case("energy_sharing", prosumers=-5, seed=1)
    assert info.value.code == "invalid_input"
    assert info.value.path == "prosumers"
    with pytest.raises(esm.EsmarketError) as info:
        esm.generate_case("energy_sharing", prosumers=10, seed=1, colour="blue")
    assert info.value.code == "invalid_input"
    assert info.value.path == "colour"
