"""Error documents (api.md §4) surface as esmarket.EsmarketError with code, path and message."""
import json
import pickle

import pytest

from conftest import t1_problem


def raises(esm, problem, code):
    with pytest.raises(esm.EsmarketError) as info:
        esm.clear(problem)
    e = info.value
    assert e.code == code, str(e)
    assert isinstance(e.message, str) and e.message
    return e


@pytest.mark.parametrize("text", [
    "{",                                   # truncated
    "",                                    # empty
    "   ",
    "not json at all",
    '{"schema": "esmarket/1",}',           # trailing comma
    '{"schema": NaN}',                     # NaN token
    '{"a": Infinity}',
    '{"a": -Infinity}',
    '{"a": 1} // comment',
    '/* c */ {"a": 1}',
    "{'schema': 'esmarket/1'}",            # single quotes
    '{"a": 1} {"b": 2}',                   # two documents
    '{"a": 01}',                           # leading zero
    '{"a": 0x10}',                         # hex
    '{"a": "tab\there"}',                  # raw control character in a string
], ids=lambda s: repr(s)[:30])
def test_invalid_json(esm, text):
    e = raises(esm, text, "invalid_json")
    assert e.path is None
    assert e.return_code == 1
    assert e.document["status"] == "error"
    assert e.document["schema"] == "esmarket/1"
    assert e.document["error"]["path"] is None
    assert "invalid_json" in str(e)
    assert "byte" in e.message  # the message gives the byte offset (esmarket.h)


def test_invalid_json_bytes(esm):
    for raw in (b'{"schema": "esmarket/1", "mechanism": "energy_sharing", "x": "\xff\xfe"}',
                b'{"a": "\xc0\xaf"}',          # overlong encoding
                b'{"a": "\xed\xa0\x80"}',      # UTF-16 surrogate encoded in UTF-8
                b'{"a": "\xe2\x82"}'):         # truncated sequence
        e = raises(esm, raw, "invalid_json")
        assert e.path is None


def test_deep_nesting(esm):
    e = raises(esm, "[" * 100_000 + "]" * 100_000, "invalid_json")
    assert e.path is None
    deep = '{"schema": "esmarket/1", "extra": ' + "[" * 600 + "]" * 600 + "}"
    raises(esm, deep, "invalid_json")


def test_nul_byte_is_rejected_by_the_binding(esm, t1):
    e = raises(esm, json.dumps(t1) + "\x00garbage", "invalid_json")
    assert e.path is None


def test_bad_field_has_json_path(esm, t1):
    t1["prosumers"][1]["flex"]["minKW"] = 3
    t1["prosumers"][1]["flex"]["maxKW"] = 2
    e = raises(esm, t1, "invalid_input")
    assert e.path == "prosumers[1].flex.maxKW"
    assert e.return_code == 2
    assert e.document["error"]["path"] == "prosumers[1].flex.maxKW"
    s = str(e)
    assert "invalid_input" in s and "prosumers[1].flex.maxKW" in s and e.message in s


def test_unknown_mechanism(esm, t1):
    t1["mechanism"] = "energy_shareing"
    e = raises(esm, t1, "invalid_input")
    assert e.path == "mechanism"
    assert "energy_shareing" in e.message


def test_unknown_keys(esm, t1):
    p = t1_problem()
    p["prosumers"][0]["flex"]["foo"] = 1
    assert raises(esm, p, "invalid_input").path == "prosumers[0].flex.foo"
    p = t1_problem()
    p["prosumers"][2]["loadkw"] = 1  # wrong case is an unknown key, not an alias
    assert raises(esm, p, "invalid_input").path == "prosumers[2].loadkw"
    p = t1_problem()
    p["foo"] = {"bar": 1}
    assert raises(esm, p, "invalid_input").path == "foo"
    p = t1_problem()
    p["communities"][0]["slope"] = 0.1
    assert raises(esm, p, "invalid_input").path == "communities[0].slope"


def test_wrong_types(esm):
    p = t1_problem()
    p["prosumers"][0]["loadKW"] = "2"
    assert raises(esm, p, "invalid_input").path == "prosumers[0].loadKW"
    p = t1_problem()
    p["prosumers"][1]["flex"]["costA"] = "NaN"
    assert raises(esm, p, "invalid_input").path == "prosumers[1].flex.costA"
    p = t1_problem()
    p["prosumers"][0]["flex"]["maxKW"] = None
    assert raises(esm, p, "invalid_input").path == "prosumers[0].flex.maxKW"
    p = t1_problem()
    p["prosumers"][0]["id"] = 17  # ids are strings
    assert raises(esm, p, "invalid_input").path == "prosumers[0].id"
    p = t1_problem()
    p["prosumers"] = {"p1": {}}
    assert raises(esm, p, "invalid_input").path == "prosumers"


def test_root_not_an_object(esm):
    for text in ("[]", "[1, 2]", "3", '"esmarket/1"', "null", "true"):
        e = raises(esm, text, "invalid_input")
        assert e.return_code == 2


def test_number_overflowing_to_infinity(esm, t1):
    text = json.dumps(t1).replace('"loadKW": 4.0', '"loadKW": 1e400')
    assert "1e400" in text
    assert raises(esm, text, "invalid_input").path == "prosumers[1].loadKW"


def test_non_finite_float_in_dict_is_caught_by_the_binding(esm, t1):
    t1["prosumers"][2]["flex"]["costB"] = float("nan")
    e = raises(esm, t1, "invalid_input")
    assert e.path == "prosumers[2].flex.costB"
    t1["prosumers"][2]["flex"]["costB"] = 0.1
    t1["grid"]["buyPrice"] = float("inf")
    assert raises(esm, t1, "invalid_input").path == "grid.buyPrice"


def test_contract_violations(esm):
    p = t1_problem()
    del p["schema"]
    assert raises(esm, p, "invalid_input").path == "schema"
    p = t1_problem()
    del p["mechanism"]
    assert raises(esm, p, "invalid_input").path == "mechanism"
    p = t1_problem()
    p["grid"]["sellPrice"] = 1.0  # sellPrice >= buyPrice -> the second member
    assert raises(esm, p, "invalid_input").path == "grid.buyPrice"
    p = t1_problem()
    p["prosumers"][2]["id"] = "p1"  # duplicate id -> the later occurrence
    assert raises(esm, p, "invalid_input").path == "prosumers[2].id"
    p = t1_problem()
    p["prosumers"][1]["community"] = "nowhere"  # dangling reference
    assert raises(esm, p, "invalid_input").path == "prosumers[1].community"
    p = t1_problem()
    p["communities"].append({"id": "c2", "sensitivity": 0.1})  # exactly one community
    raises(esm, p, "invalid_input")


def test_error_is_an_exception_with_useful_str(esm):
    assert issubclass(esm.EsmarketError, Exception)
    e = esm.EsmarketError("invalid_input", "maxKW (2) is below minKW (3)",
                          path="prosumers[1].flex.maxKW")
    assert str(e) == "invalid_input at prosumers[1].flex.maxKW: maxKW (2) is below minKW (3)"
    assert str(esm.EsmarketError("invalid_json", "byte 3")) == "invalid_json: byte 3"
    back = pickle.loads(pickle.dumps(e))
    assert (back.code, back.path, back.message) == (e.code, e.path, e.message)


def test_library_keeps_working_after_errors(esm, t1):
    for _ in range(50):
        with pytest.raises(esm.EsmarketError):
            esm.clear("{")
    assert esm.clear(t1).status == "solved"


@pytest.mark.parametrize("text", ['{"schema": "esmarket/1", "mech', '{"a": [1, 2', '{"a": {"b": ', '[', '{"a": "unterminated'])
def test_truncated_json_names_the_byte_where_the_data_ended(esm, text):
    with pytest.raises(esm.EsmarketError) as caught:
        esm.clear(text)
    assert caught.value.code == "invalid_json"
    assert f"at byte {len(text.encode())}:" in caught.value.message, caught.value.message


def test_a_name_that_is_no_file_says_it_was_read_as_json_text(esm):
    with pytest.raises(esm.EsmarketError) as caught:
        esm.clear("no_such_problem_file")
    assert "read as JSON text" in caught.value.message and "no file of that name" in caught.value.message
