"""Sessions of the market mechanisms (README "Sessions"): a step with an update document gives
the result of a fresh esm_clear of the equivalent full document, bit for bit; a step that fails
validation leaves the session as it was.

The equivalent document is built here, in Python, by applying each update to a copy of the
problem dict, independently of how the library edits its own tree.
"""
import copy
import json
import random

import pytest

import esmarket

CASES = [
    ("energy_sharing", dict(prosumers=12, seed=3)),
    ("two_layer", dict(prosumers=24, communities=3, feeder="ieee33bw", seed=4)),
    ("two_layer_voltage", dict(prosumers=20, feeder="ieee33bw", seed=5)),
    ("social_optimum", dict(prosumers=15, feeder="ieee37", seed=6)),
    ("p2p_gne", dict(prosumers=6, periods=3, feeder="ieee33bw", seed=7)),
    # the switches fixed (reconfigure: false) keeps this test fast; the topology search itself
    # is the same code a fresh clear runs
    ("p2p_reconfiguration", dict(prosumers=5, periods=2, seed=8)),
]


def _comparable(document):
    """A result without its timings (the only part that may differ between two clears)."""
    out = dict(document)
    out.pop("stats", None)
    return out


def _set_flex(prosumer, field, value):
    prosumer.setdefault("flex", {})[field] = value


FORMS = ["columns", "columns_by_id", "flex_columns", "rows", "grid"]


def _random_update(rng, problem, form):
    """An update document and the same change applied to `problem` (in place)."""
    people = problem["prosumers"]
    periods = problem.get("periods", 1)
    update = {}

    def value(base, low=0.0):
        v = max(low, base * rng.uniform(0.5, 1.5) + rng.uniform(0, 0.5))
        if periods > 1 and rng.random() < 0.5:
            return [round(max(low, v * rng.uniform(0.8, 1.2)), 6) for _ in range(periods)]
        return round(v, 6)

    def scalar(x):
        return x if not isinstance(x, list) else sum(x) / len(x)

    if form in ("columns", "columns_by_id"):
        chosen = list(range(len(people))) if form == "columns" else sorted(rng.sample(range(len(people)), max(1, len(people) // 3)))
        columns = {}
        if form == "columns_by_id":
            columns["id"] = [people[k]["id"] for k in chosen]
        loads = []
        for k in chosen:
            if rng.random() < 0.2:
                loads.append(None)   # null: this prosumer's load stays
                continue
            v = value(scalar(people[k].get("loadKW", 1.0)) or 1.0)
            people[k]["loadKW"] = v
            loads.append(v)
        columns["loadKW"] = loads
        if rng.random() < 0.5:
            pvs = []
            for k in chosen:
                v = value(scalar(people[k].get("pvKW", 0.0)) + 0.2)
                people[k]["pvKW"] = v
                pvs.append(v)
            columns["pvKW"] = pvs
        update["prosumers"] = columns
    elif form == "flex_columns" and any("flex" in p for p in people):
        # a flex column over the prosumers that have flex (the new maxKW stays above minKW)
        flex_people = [k for k in range(len(people)) if "flex" in people[k]]
        maxes = []
        for k in flex_people:
            lo = people[k]["flex"].get("minKW", 0.0)
            lo = max(lo) if isinstance(lo, list) else lo
            v = round(lo + rng.uniform(0.5, 4.0), 6)
            _set_flex(people[k], "maxKW", v)
            maxes.append(v)
        update["prosumers"] = {"id": [people[k]["id"] for k in flex_people], "flex": {"maxKW": maxes}}
    elif form in ("rows", "flex_columns"):
        rows = []
        for k in rng.sample(range(len(people)), max(1, len(people) // 4)):
            row = {"id": people[k]["id"]}
            v = value(scalar(people[k].get("loadKW", 1.0)) or 1.0)
            people[k]["loadKW"] = v
            row["loadKW"] = v
            if "flex" in people[k] and rng.random() < 0.5:
                b = round(rng.uniform(0.01, 0.3), 6)
                _set_flex(people[k], "costB", b)
                row["flex"] = {"costB": b}
            rows.append(row)
        update["prosumers"] = rows
    else:
        grid = problem["grid"]
        if "buyPrice" in grid and "sellPrice" in grid:
            buy = scalar(grid["buyPrice"])
            sell = scalar(grid["sellPrice"])
            new_buy = round(max(sell + 0.01, buy * rng.uniform(0.9, 1.3)), 6)
            grid["buyPrice"] = new_buy
            update["grid"] = {"buyPrice": new_buy}
        tol = rng.choice([1e-6, 1e-7, 1e-8])
        problem.setdefault("options", {})["tolerance"] = tol
        update["options"] = {"tolerance": tol}
    return update


@pytest.mark.parametrize("mechanism,spec", CASES, ids=[c[0] for c in CASES])
def test_steps_equal_fresh_clears(mechanism, spec):
    problem = esmarket.generate_case(mechanism, **spec)
    if mechanism == "p2p_reconfiguration":
        problem.setdefault("options", {})["reconfigure"] = False
    rng = random.Random(sum(map(ord, mechanism)))   # str hash() changes between runs
    forms = set()
    with esmarket.Session(problem) as session:
        assert session.state() == problem
        for k in range(8):
            update = _random_update(rng, problem, FORMS[(k + rng.randrange(5)) % 5])
            forms.add(tuple(sorted(update)))
            stepped = session.step(update)
            fresh = esmarket.clear(copy.deepcopy(problem))
            assert stepped.status == fresh.status
            assert _comparable(stepped.document) == _comparable(fresh.document), update
            # The session's document is the equivalent document (numbers as the update wrote them).
            assert session.state() == problem
    assert len(forms) >= 2   # prosumer and grid/options updates both ran


def test_failed_steps_leave_the_session_unchanged():
    problem = esmarket.generate_case("two_layer", prosumers=12, communities=2, feeder="ieee33bw", seed=2)
    first = problem["prosumers"][0]["id"]
    n = len(problem["prosumers"])
    bad = [
        ({"prosumers": {"loadKW": [1.0] * (n - 1)}}, "prosumers.loadKW"),
        ({"prosumers": {"loadKW": [1.0] * (n - 1) + [-2.0]}}, f"prosumers.loadKW[{n - 1}]"),
        ({"prosumers": [{"id": "nobody", "loadKW": 1.0}]}, "prosumers[0].id"),
        ({"prosumers": [{"id": first, "bus": "2"}]}, "prosumers[0].bus"),
        ({"prosumers": [{"id": first, "loadKW": 2.0, "flex": {"minKW": 5.0, "maxKW": 1.0}}]}, "prosumers[0].flex.maxKW"),
        ({"prosumers": [{"id": first, "storage": {"socKWh": 1.0}}]}, "prosumers[0].storage.socKWh"),
        ({"grid": {"buyPrice": 0.0}}, "grid.buyPrice"),
        ({"options": {"colour": "red"}}, "options.colour"),
        ({"network": {}}, "network"),
    ]
    with esmarket.Session(problem) as session:
        before = session.state()
        reference = _comparable(session.step({}).document)
        for update, path in bad:
            with pytest.raises(esmarket.EsmarketError) as caught:
                session.step(update)
            assert caught.value.path == path, (update, caught.value)
            assert session.state() == before
        # A valid step after the failures clears the unchanged market.
        assert _comparable(session.step({}).document) == reference
        assert _comparable(esmarket.clear(before).document) == reference


def test_update_touching_one_prosumer_only_changes_that_prosumer():
    problem = esmarket.generate_case("energy_sharing", prosumers=8, seed=11)
    target = problem["prosumers"][5]
    with esmarket.Session(problem) as session:
        session.step({"prosumers": [{"id": target["id"], "pvKW": 7.5}]})
        state = session.state()
    assert state["prosumers"][5]["pvKW"] == 7.5
    for k, (a, b) in enumerate(zip(state["prosumers"], problem["prosumers"])):
        if k != 5:
            assert a == b


def test_session_state_restarts_an_equal_session():
    problem = esmarket.generate_case("social_optimum", prosumers=10, feeder="ieee33bw", seed=12)
    update = {"prosumers": {"loadKW": [round(1.0 + 0.1 * k, 3) for k in range(10)]}}
    with esmarket.Session(problem) as a:
        first = a.step(update)
        with esmarket.Session(a.state()) as b:
            again = b.step({})
    assert _comparable(first.document) == _comparable(again.document)
