"""The column form of `prosumers` (README "Columns"): an object of equal-length arrays gives
the result the row form gives, bit for bit, for every mechanism; errors name the element
(`prosumers.loadKW[17]`); sessions work on column documents too.

The conversion rows -> columns is written here, independently of the library.
"""
import copy
import json

import pytest

import esmarket

GROUPS = ("flex", "storage")


def to_columns(rows):
    """prosumers as rows -> the column form (None where a prosumer has no value)."""
    keys = []
    for row in rows:
        for key in row:
            if key not in keys:
                keys.append(key)
    table = {}
    for key in keys:
        if key in GROUPS:
            fields = []
            for row in rows:
                for field in row.get(key) or {}:
                    if field not in fields:
                        fields.append(field)
            table[key] = {f: [(row.get(key) or {}).get(f) for row in rows] for f in fields}
        else:
            table[key] = [row.get(key) for row in rows]
    return table


CASES = [
    ("energy_sharing", dict(prosumers=30, seed=3)),
    ("energy_sharing", dict(prosumers=20, seed=4, two_periods=True)),
    ("two_layer", dict(prosumers=40, communities=4, feeder="ieee33bw", seed=4)),
    ("two_layer_voltage", dict(prosumers=30, feeder="ieee33bw", seed=5)),
    ("social_optimum", dict(prosumers=25, feeder="ieee37", seed=6)),
    ("p2p_gne", dict(prosumers=6, periods=3, feeder="ieee33bw", seed=7)),
    ("p2p_online", dict(prosumers=8, periods=4, seed=8)),
]


def _comparable(document):
    out = dict(document)
    out.pop("stats", None)
    return out


@pytest.mark.parametrize("mechanism,spec", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_column_form_gives_the_row_forms_result(mechanism, spec):
    spec = dict(spec)
    two_periods = spec.pop("two_periods", False)
    rows = esmarket.generate_case(mechanism, **spec)
    if two_periods:   # series in some cells, scalars in others
        rows["periods"] = 2
        for k, p in enumerate(rows["prosumers"]):
            if k % 2:
                p["loadKW"] = [p.get("loadKW", 0), 1.5 * p.get("loadKW", 0)]
    columns = copy.deepcopy(rows)
    columns["prosumers"] = to_columns(rows["prosumers"])
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(columns, esmarket.schema("problem"))   # the contract's schema has the form
    a, b = esmarket.clear(rows), esmarket.clear(columns)
    assert a.status == b.status
    assert _comparable(a.document) == _comparable(b.document)
    # and the column document is smaller: one key per column, not per prosumer
    assert len(json.dumps(columns)) < len(json.dumps(rows))


def _small():
    return {"schema": "esmarket/1", "mechanism": "energy_sharing",
            "grid": {"buyPrice": 0.3, "sellPrice": 0.1},
            "communities": [{"id": "c", "sensitivity": 0.05}],
            "prosumers": {"id": ["a", "b", "c"], "loadKW": [4, 1, 2], "pvKW": [0, 6, None],
                          "flex": {"maxKW": [5, 2, None], "costA": [0.2, 0.1, None], "costB": [0.05, 0.05, None]}}}


@pytest.mark.parametrize("change,path", [
    (lambda p: p["prosumers"]["loadKW"].__setitem__(1, -1), "prosumers.loadKW[1]"),
    (lambda p: p["prosumers"]["loadKW"].pop(), "prosumers.loadKW"),
    (lambda p: p["prosumers"]["flex"]["maxKW"].append(3), "prosumers.flex.maxKW"),
    (lambda p: p["prosumers"]["flex"].__setitem__("minKW", [0, 3, None]), "prosumers.flex.maxKW[1]"),
    (lambda p: p["prosumers"]["flex"]["costA"].__setitem__(2, 0.1), "prosumers.flex.maxKW[2]"),
    (lambda p: p["prosumers"]["id"].__setitem__(2, "a"), "prosumers.id[2]"),
    (lambda p: p["prosumers"].__setitem__("colour", [1, 2, 3]), "prosumers.colour"),
    (lambda p: p["prosumers"].pop("id"), "prosumers"),
    (lambda p: p["prosumers"].__setitem__("flex", [1, 2, 3]), "prosumers.flex"),
])
def test_errors_name_the_element(change, path):
    problem = _small()
    assert esmarket.clear(problem).status == "solved"
    change(problem)
    with pytest.raises(esmarket.EsmarketError) as caught:
        esmarket.clear(problem)
    assert caught.value.path == path, caught.value


def test_a_null_is_the_default_and_a_missing_group_is_none():
    """pvKW null = 0; a prosumer whose flex columns are all null has no flex (like a row without)."""
    rows = {"schema": "esmarket/1", "mechanism": "energy_sharing",
            "grid": {"buyPrice": 0.3, "sellPrice": 0.1}, "communities": [{"id": "c", "sensitivity": 0.05}],
            "prosumers": [{"id": "a", "loadKW": 4, "flex": {"maxKW": 5, "costA": 0.2, "costB": 0.05}},
                          {"id": "b", "loadKW": 1, "pvKW": 6, "flex": {"maxKW": 2, "costA": 0.1, "costB": 0.05}},
                          {"id": "c", "loadKW": 2}]}
    assert _comparable(esmarket.clear(rows).document) == _comparable(esmarket.clear(_small()).document)


@pytest.mark.parametrize("mechanism,spec", [CASES[0], CASES[3]], ids=["energy_sharing", "two_layer_voltage"])
def test_sessions_on_column_documents(mechanism, spec):
    rows = esmarket.generate_case(mechanism, **spec)
    problem = copy.deepcopy(rows)
    problem["prosumers"] = to_columns(rows["prosumers"])
    n = len(rows["prosumers"])
    ids = rows["prosumers"]
    with esmarket.Session(problem) as session:
        loads = [round(0.9 * (p.get("loadKW") or 0) + 0.1, 6) for p in ids]
        problem["prosumers"]["loadKW"] = loads
        step = session.step({"prosumers": {"loadKW": loads}})
        assert _comparable(step.document) == _comparable(esmarket.clear(copy.deepcopy(problem)).document)
        # rows by id: a field whose column the document lacks (created, null elsewhere) and a
        # flex field of a prosumer with flex
        k = next(i for i, p in enumerate(ids) if (p.get("flex") or {}).get("maxKW") is not None)
        who = ids[k]["id"]
        step = session.step({"prosumers": [{"id": who, "tradeCost": 0.01, "flex": {"costB": 0.123}}]})
        problem["prosumers"].setdefault("tradeCost", [None] * n)[k] = 0.01
        problem["prosumers"]["flex"].setdefault("costB", [None] * n)[k] = 0.123
        assert _comparable(step.document) == _comparable(esmarket.clear(copy.deepcopy(problem)).document)
        assert session.state() == problem
        # a bad value: the error is at the update's path, and the session is unchanged
        before = session.state()
        with pytest.raises(esmarket.EsmarketError) as caught:
            session.step({"prosumers": {"id": [who], "loadKW": [-1]}})
        assert caught.value.path == "prosumers.loadKW[0]"
        assert session.state() == before


def test_python_builds_columns_from_a_dataframe():
    pd = pytest.importorskip("pandas")
    problem = esmarket.generate_case("two_layer", prosumers=30, communities=3, feeder="ieee33bw", seed=9)
    rows = problem["prosumers"]
    frame = pd.DataFrame.from_records([
        {"id": p["id"], "community": p["community"], "loadKW": p.get("loadKW"), "pvKW": p.get("pvKW"),
         "flex.maxKW": (p.get("flex") or {}).get("maxKW"), "flex.minKW": (p.get("flex") or {}).get("minKW"),
         "flex.costA": (p.get("flex") or {}).get("costA"), "flex.costB": (p.get("flex") or {}).get("costB")}
        for p in rows])
    # the same prosumers, only the fields the frame has
    trimmed = dict(problem, prosumers=[{k: v for k, v in p.items() if k in ("id", "community", "loadKW", "pvKW", "flex")}
                                       for p in rows])
    a = esmarket.clear(trimmed)
    b = esmarket.clear(problem, prosumers=frame)
    assert a.status == b.status == "solved"
    assert _comparable(a.document) == _comparable(b.document)
    # join keys come from the columns too
    table = b.table("prosumers")
    assert list(table["community"]) == [p["community"] for p in rows]
    # a numpy/mapping table works the same way
    np = pytest.importorskip("numpy")
    mapping = {c: np.asarray(frame[c]) for c in frame.columns}
    assert _comparable(esmarket.clear(problem, prosumers=mapping).document) == _comparable(a.document)


@pytest.mark.parametrize("mechanism,spec", [CASES[0], CASES[3], CASES[5], CASES[6]],
                         ids=["energy_sharing", "two_layer_voltage", "p2p_gne", "p2p_online"])
def test_column_output_holds_the_row_outputs_numbers(mechanism, spec):
    """options.output "columns": every table as an object of columns, the same numbers."""
    problem = esmarket.generate_case(mechanism, **spec)
    rows = esmarket.clear(problem)
    problem.setdefault("options", {})["output"] = "columns"
    cols = esmarket.clear(problem)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(cols.document, esmarket.schema("result"))
    assert cols.status == rows.status
    tables = [k for k, v in rows.document.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
    assert tables
    for name in tables:
        table = cols.document[name]
        assert isinstance(table, dict)
        for key in rows.document[name][0]:
            assert table[key] == [row[key] for row in rows.document[name]], (name, key)
    # the Python tables read either form alike
    assert cols.prosumers == rows.prosumers
    assert cols.rows("prosumers") == rows.rows("prosumers")
    pd = pytest.importorskip("pandas")
    for name in tables:   # the DataFrames (built straight from the columns when single-period)
        pd.testing.assert_frame_equal(cols.table(name), rows.table(name))
    assert len(json.dumps(cols.document)) < len(json.dumps(rows.document))


def test_output_must_be_rows_or_columns():
    problem = _small()
    problem["options"] = {"output": "table"}
    with pytest.raises(esmarket.EsmarketError) as caught:
        esmarket.clear(problem)
    assert caught.value.path == "options.output"
