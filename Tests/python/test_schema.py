"""The JSON Schemas of the contract (schema/*.schema.json) against the library.

* the schemas are valid draft 2020-12, their embedded Swift copy and the Python package's copy are
  the files byte for byte;
* the schema is kept in step with the decoder: every allow-list of keys in the decoder's Swift
  sources is the property set of one object of the schema and the other way round, and the
  mechanism, algorithm, feeder and network-model names are the Swift enums' (all read from the
  sources, nothing copied into this file);
* every document the generator writes (every mechanism, several seeds, feeders and options), the
  docs/ examples and the documents a sample of the Python tests build validate against
  problem.schema.json, and every result and error document of clearing them against
  result.schema.json;
* documents the library rejects for an unknown key, a missing key or a wrong type are rejected
  by the schema too.

The capture of the other tests' documents runs those test files in a child pytest with this file
as a plugin (`ESM_SCHEMA_CAPTURE`): it records what `esmarket.clear` was given and returned.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "schema"
DOCS_EXAMPLES = REPO / "docs" / "examples"
JSON_SOURCES = REPO / "Sources" / "ESMJSON"


def _load(name):
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))


PROBLEM = _load("problem")
RESULT = _load("result")
PROBLEM_V = jsonschema.Draft202012Validator(PROBLEM)
RESULT_V = jsonschema.Draft202012Validator(RESULT)


def _errors(validator, document):
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(document)]


def assert_valid_problem(document):
    errors = _errors(PROBLEM_V, document)
    assert not errors, errors[:5]


def assert_valid_result(document):
    errors = _errors(RESULT_V, document)
    assert not errors, errors[:5]


def definition(name, schema=PROBLEM):
    """A validator of one definition of a schema (its references resolved in that schema)."""
    return jsonschema.Draft202012Validator({"$schema": schema["$schema"], "$defs": schema["$defs"],
                                            "$ref": f"#/$defs/{name}"})


def _clear(esm, document):
    """The result or error document of clearing `document`."""
    try:
        return esm.clear(document).document
    except esm.EsmarketError as e:
        return e.document


# ---------------------------------------------------------------------------------------------
# the schema files and their copies
# ---------------------------------------------------------------------------------------------
def test_schemas_are_draft_2020_12():
    for schema in (PROBLEM, RESULT):
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)


def test_swift_copy_equals_the_files():
    """ContractSchema.swift holds each file's text byte for byte (read from the Swift literal
    itself, not from embed.py's renderer), and embed.py --check agrees."""
    swift = (JSON_SOURCES / "ContractSchema.swift").read_text(encoding="utf-8")
    literals = dict(re.findall(r'public static let (\w+) = #"""\n(.*?)\n"""#', swift, flags=re.S))
    assert set(literals) == {"problem", "result"}
    for name, text in literals.items():
        assert text == (SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"), name
    check = subprocess.run([sys.executable, str(SCHEMA_DIR / "embed.py"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_compiled_swift_constants_print_the_files(tmp_path):
    """What Swift makes of the literals: ContractSchema.swift compiled on its own with a main
    that prints each constant gives the files byte for byte."""
    import shutil
    swiftc = shutil.which("swiftc")
    if swiftc is None:
        pytest.skip("no swiftc")
    shutil.copy(JSON_SOURCES / "ContractSchema.swift", tmp_path / "ContractSchema.swift")
    (tmp_path / "main.swift").write_text(
        "import Foundation\n"
        "FileHandle.standardOutput.write(ContractSchema.text(named: CommandLine.arguments[1])!.data(using: .utf8)!)\n")
    build = subprocess.run([swiftc, "ContractSchema.swift", "main.swift", "-o", "print_schema"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    for name in ("problem", "result"):
        printed = subprocess.run([str(tmp_path / "print_schema"), name], capture_output=True, check=True).stdout
        assert printed == (SCHEMA_DIR / f"{name}.schema.json").read_bytes(), name


def test_field_reference_is_generated_from_the_schemas():
    """docs/reference.md is schema/reference.py's rendering of the current schemas."""
    check = subprocess.run([sys.executable, str(SCHEMA_DIR / "reference.py"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_python_schema_accessor(esm):
    assert esm.schema() == "esmarket/1"
    assert esm.schema("problem") == PROBLEM
    assert esm.schema("result") == RESULT
    with pytest.raises(ValueError):
        esm.schema("nope")


def test_python_build_ships_the_schema_files(tmp_path):
    """setup.py's build step copies schema/*.schema.json into the package (one source)."""
    build = subprocess.run([sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path),
                            "build_py", "--build-lib", str(tmp_path)],
                           cwd=REPO / "bindings" / "python", capture_output=True, text=True,
                           env=dict(os.environ, ESMARKET_BUNDLE_LIB="0"))
    assert build.returncode == 0, build.stderr
    for name in ("problem", "result"):
        shipped = tmp_path / "esmarket" / "schema" / f"{name}.schema.json"
        assert shipped.read_bytes() == (SCHEMA_DIR / f"{name}.schema.json").read_bytes()


# ---------------------------------------------------------------------------------------------
# in step with the decoder (read from the Swift sources)
# ---------------------------------------------------------------------------------------------
def _swift_strings(text):
    return re.findall(r'"([^"\\]*)"', text)


DECODER_FILES = ("ProblemDecoder", "ProsumerDecoder", "NetworkDecoder", "ConicDecoder", "SessionService",
                 "MarketSession")


def decoder_allow_lists():
    """Every list of keys the decoders accept, as (file, frozenset): each `object(allowing: ...)`
    argument resolved — literal lists, `static let name: [StaticString]` lists (bare, `Self.` or
    `Type.` qualified), their concatenation with `+` and either branch of a `?:`."""
    sources = {name: (JSON_SOURCES / f"{name}.swift").read_text(encoding="utf-8") for name in DECODER_FILES}
    named, owner = {}, {}
    for file, source in sources.items():
        for name, body in re.findall(r"static let (\w+): \[StaticString\] = \[(.*?)\]", source, flags=re.S):
            named[(file, name)] = frozenset(_swift_strings(body))
        for kind in re.findall(r"(?:enum|struct|class) (\w+)", source):
            owner[kind] = file

    def resolve(term, file):
        term = term.strip()
        if term.startswith("["):
            return frozenset(_swift_strings(term))
        qualifier, _, name = term.rpartition(".")
        home = file if qualifier in ("", "Self") else owner[qualifier]
        return named[(home, name)]

    lists = []
    for file, source in sources.items():
        # a prosumer's flex / storage group, read in the row or the column form (ProsumerFields)
        for expression in re.findall(r'group\("\w+", allowing:\s*([\w.]+)\)', source):
            lists.append((file, resolve(expression, file)))
        for expression in re.findall(r"object\(allowing:\s*((?:\[[^\]]*\]|[^()\[\]])*)\)", source, flags=re.S):
            if re.fullmatch(r"\s*\w+\s*", expression) and (file, expression.strip()) not in named:
                continue  # a local variable holding one of the lists resolved elsewhere
            branches = expression.split("?", 1)[1].split(" : ") if "?" in expression else [expression]
            for branch in branches:
                keys = frozenset().union(*(resolve(term, file) for term in branch.split("+")))
                lists.append((file, keys))
    return lists


def schema_objects(schema):
    """Every closed object of the schema (additionalProperties false), as pointer -> its keys
    without `extra`."""
    found = {}

    def walk(node, pointer):
        if isinstance(node, dict):
            if node.get("additionalProperties") is False and "properties" in node:
                found[pointer] = frozenset(node["properties"]) - {"extra"}
            for key, value in node.items():
                walk(value, f"{pointer}/{key}")
        elif isinstance(node, list):
            for k, value in enumerate(node):
                walk(value, f"{pointer}/{k}")

    walk(schema, "#")
    return found


def test_every_decoder_allow_list_is_a_schema_object_and_back():
    lists = decoder_allow_lists()
    assert len(lists) >= 15, lists
    objects = schema_objects(PROBLEM)
    by_keys = {}
    for pointer, keys in objects.items():
        by_keys.setdefault(keys, []).append(pointer)
    # SessionService's probe reads a document that is a problem or a session state: its list is
    # the union of those two objects' keys.
    root, state = objects["#"], objects["#/$defs/sessionState"]
    matched = set()
    for source, keys in lists:
        if keys == root | state and "session" in keys and "mechanism" in keys:
            continue
        assert keys in by_keys, f"{source}: allow-list {sorted(keys)} is no object of problem.schema.json"
        matched.add(keys)
    unmatched = {p: sorted(k) for p, k in objects.items() if k not in matched}
    assert not unmatched, f"schema objects with no allow-list in the decoder: {unmatched}"


def test_every_closed_object_accepts_extra():
    """The reader accepts `extra` in every object (JSONReader.object(allowing:))."""
    reader = (JSON_SOURCES / "JSONReader.swift").read_text(encoding="utf-8")
    assert 'strcmp(name, "extra") != 0' in reader
    def walk(node, pointer):
        if isinstance(node, dict):
            if node.get("additionalProperties") is False and "properties" in node:
                assert "extra" in node["properties"], pointer
            for key, value in node.items():
                walk(value, f"{pointer}/{key}")
        elif isinstance(node, list):
            for k, value in enumerate(node):
                walk(value, f"{pointer}/{k}")
    walk(PROBLEM, "#")


def _swift_enum_cases(source, enum):
    body = re.search(rf"enum {enum}: String[^{{]*\{{(.*?)\n\}}", source, flags=re.S).group(1)
    names = []
    for name, raw in re.findall(r"^\s*case (\w+)(?: = \"([^\"]+)\")?\s*$", body, flags=re.M):
        names.append(raw or name)
    return names


def test_names_match_the_swift_enums():
    problem_swift = (REPO / "Sources" / "ESMMarkets" / "Core" / "Problem.swift").read_text(encoding="utf-8")
    mechanisms = _swift_enum_cases(problem_swift, "Mechanism")
    assert set(PROBLEM["properties"]["mechanism"]["enum"]) == set(mechanisms)
    assert set(RESULT["$defs"]["result"]["properties"]["mechanism"]["enum"]) == set(mechanisms)
    # options.algorithm per mechanism: the `algorithms` switch of Mechanism
    switch = re.search(r"public var algorithms: \[String\] \{(.*?)\n    \}", problem_swift, flags=re.S).group(1)
    swift_cases = {c: n for n, c in re.findall(r"^\s*case (\w+): ", problem_swift, flags=re.M)}
    raw = {name: value for name, value in re.findall(r'case (\w+) = "(\w+)"', problem_swift)}
    algorithms = {}
    for case, body in re.findall(r"case \.(\w+): return \[(.*?)\]", switch):
        algorithms[raw.get(case, case)] = set(_swift_strings(body))
    assert set(algorithms) == set(mechanisms)
    in_schema = {}
    for rule in PROBLEM["allOf"]:
        mech = rule.get("if", {}).get("properties", {}).get("mechanism", {}).get("const")
        alg = rule.get("then", {}).get("properties", {}).get("options", {}).get("properties", {}).get("algorithm")
        if mech and alg:
            in_schema[mech] = set(alg["enum"])
    assert in_schema == algorithms
    assert set(PROBLEM["$defs"]["options"]["properties"]["algorithm"]["enum"]) == set().union(*algorithms.values())
    grid_swift = (REPO / "Sources" / "ESMGrid" / "Network.swift").read_text(encoding="utf-8")
    assert set(PROBLEM["$defs"]["network"]["properties"]["model"]["enum"]) == set(_swift_enum_cases(grid_swift, "NetworkModel"))
    feeders = (REPO / "Sources" / "ESMGrid" / "BuiltinFeeders.swift").read_text(encoding="utf-8")
    assert set(PROBLEM["$defs"]["network"]["properties"]["builtin"]["enum"]) == set(_swift_enum_cases(feeders, "BuiltinFeeder"))
    markets = (REPO / "Sources" / "ESMMarkets" / "Core" / "MarketResult.swift").read_text(encoding="utf-8")
    statuses = _swift_enum_cases(markets, "ResultStatus")
    assert set(RESULT["$defs"]["result"]["properties"]["status"]["enum"]) == set(statuses)


def test_builtin_feeders_validate_as_networks():
    from feeder_documents import builtin_network
    for name in PROBLEM["$defs"]["network"]["properties"]["builtin"]["enum"]:
        doc = {"schema": "esmarket/1", "mechanism": "social_optimum", "network": builtin_network(name),
               "grid": {"buyPrice": 1, "sellPrice": 0.3}}
        assert_valid_problem(doc)


# ---------------------------------------------------------------------------------------------
# generated documents and their results
# ---------------------------------------------------------------------------------------------
GENERATED = [
    dict(mechanism="energy_sharing", prosumers=40, seed=1),
    dict(mechanism="energy_sharing", prosumers=300, seed=2),
    dict(mechanism="two_layer", prosumers=150, seed=1, feeder="ieee33bw", communities=6),
    dict(mechanism="two_layer", prosumers=300, seed=3, congestion=True),
    dict(mechanism="two_layer_voltage", prosumers=80, seed=1, feeder="ieee33bw"),
    dict(mechanism="two_layer_voltage", prosumers=120, seed=2, feeder="ieee37"),
    dict(mechanism="social_optimum", prosumers=60, seed=1, feeder="ieee37"),
    dict(mechanism="social_optimum", prosumers=120, seed=2, feeder="ieee123"),
    dict(mechanism="p2p_gne", prosumers=5, seed=1, periods=3),
    dict(mechanism="p2p_gne", prosumers=6, seed=2, periods=2, feeder="ieee33bw", connectivity=0.5),
    dict(mechanism="p2p_reconfiguration", prosumers=3, seed=1, periods=2),
    dict(mechanism="p2p_online", prosumers=5, seed=1, periods=4),
    dict(mechanism="p2p_online", prosumers=8, seed=2, periods=3, feeder="ieee37"),
    dict(mechanism="power_flow", prosumers=50, seed=1, feeder="ieee37"),
]
OPTIONS = {
    "energy_sharing": [{"algorithm": "centralized"}, {"priceTaking": True}],
    "two_layer": [{"algorithm": "bidding"}, {"algorithm": "centralized"}],
    "social_optimum": [{"verifyPowerFlow": False}],
    "p2p_gne": [{"equilibrium": "wardrop"}],
    "p2p_online": [{"algorithm": "admm"}],
    "power_flow": [{"output": "columns", "threads": 2}],
}


def _spec_id(spec):
    return "-".join(f"{v}" for k, v in spec.items() if k != "mechanism") and spec["mechanism"] + "-" + "-".join(
        f"{k}={v}" for k, v in spec.items() if k != "mechanism")


@pytest.mark.parametrize("spec", GENERATED, ids=_spec_id)
def test_generated_documents_and_results_validate(esm, spec):
    spec = dict(spec)
    mechanism = spec.pop("mechanism")
    document = esm.generate_case(mechanism, **spec)
    assert_valid_problem(document)
    variants = [document] + [dict(document, options=dict(document.get("options", {}), **o))
                             for o in OPTIONS.get(mechanism, [])]
    for variant in variants:
        assert_valid_problem(variant)
        result = _clear(esm, variant)
        assert result["status"] not in ("error",), result
        assert_valid_result(result)


def test_special_results_validate(esm):
    """Infeasible diagnoses, conic certificates and mixed-integer fields, multi-period tables."""
    infeasible = esm.generate_case("social_optimum", prosumers=50, seed=1, feeder="ieee33bw")
    infeasible["network"].update(vMinPu=1.0, vMaxPu=1.01)
    r = _clear(esm, infeasible)
    assert r["status"] == "infeasible" and "diagnosis" in r
    assert_valid_result(r)
    csc = {"m": 2, "n": 2, "colptr": [0, 1, 2], "rowval": [0, 1], "nzval": [-1, -1]}
    for conic, status in (({"q": [1, 1], "A": csc, "b": [0, 0], "cones": [{"type": "nonneg", "dim": 2}]}, "solved"),
                          ({"q": [-1, 1], "A": csc, "b": [0, 0], "cones": [{"type": "nonneg", "dim": 2}]}, "dual_infeasible"),
                          ({"q": [1, 1], "A": csc, "b": [0, 0], "cones": [{"type": "nonneg", "dim": 2}], "integers": [0, 1]}, "solved")):
        doc = {"schema": "esmarket/1", "mechanism": "conic", "conic": conic}
        assert_valid_problem(doc)
        r = _clear(esm, doc)
        assert r["status"] == status, r
        assert_valid_result(r)


def test_session_documents_validate(esm):
    config = esm.generate_case("p2p_online", prosumers=4, seed=3, periods=3)
    assert_valid_problem(config)
    period_schema = definition("sessionPeriod")
    state_schema = definition("sessionState")
    with esm.Session(config) as session:
        step = {"pvKW": [1, 0, 2, 0], "loadKW": [1, 2, 1, 3], "buyPrice": 0.3, "sellPrice": 0.05}
        assert not list(period_schema.iter_errors(step))
        r = session.step(step).document
        assert_valid_result(r)
        assert "slot" in r
        state = session.state()
        assert not list(state_schema.iter_errors(state))
    # a period document with an unknown key: the session and the schema refuse it
    bad = {"pvKW": [1, 0, 2, 0], "windKW": [0, 0, 0, 0]}
    assert list(period_schema.iter_errors(bad))
    with esm.Session(config) as session, pytest.raises(esm.EsmarketError) as e:
        session.step(bad)
    assert e.value.path == "windKW"


# ---------------------------------------------------------------------------------------------
# docs/ examples
# ---------------------------------------------------------------------------------------------
DOCUMENTED_STATUS = {"solved"}


def test_docs_have_one_example_per_mechanism():
    names = {p.stem for p in DOCS_EXAMPLES.glob("*.json")}
    assert set(PROBLEM["properties"]["mechanism"]["enum"]) <= names


@pytest.mark.parametrize("path", sorted(DOCS_EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_docs_examples_validate_and_clear(esm, path):
    document = json.loads(path.read_text(encoding="utf-8"))
    assert_valid_problem(document)
    assert document["mechanism"] == path.stem
    result = _clear(esm, document)
    assert result["status"] in DOCUMENTED_STATUS, result
    assert_valid_result(result)


# ---------------------------------------------------------------------------------------------
# invalid documents: what the decoder rejects for keys and types, the schema rejects too
# ---------------------------------------------------------------------------------------------
def _example(name):
    return json.loads((DOCS_EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def _mutations():
    """(name, document, expected error path) — each breaks one key or type rule."""
    es = _example("energy_sharing")
    cases = []
    d = json.loads(json.dumps(es)); del d["grid"]
    cases.append(("missing grid", d, "grid"))
    d = json.loads(json.dumps(es)); del d["prosumers"][0]["flex"]["maxKW"]
    cases.append(("missing flex.maxKW", d, "prosumers[0].flex.maxKW"))
    d = json.loads(json.dumps(es)); d["prosumers"][1]["flex"]["maxKw"] = 3
    cases.append(("unknown key maxKw", d, "prosumers[1].flex.maxKw"))
    d = json.loads(json.dumps(es)); d["colour"] = "red"
    cases.append(("unknown root key", d, "colour"))
    d = json.loads(json.dumps(es)); d["prosumers"][0]["loadKW"] = "2"
    cases.append(("string for a number", d, "prosumers[0].loadKW"))
    d = json.loads(json.dumps(es)); d["communities"][0]["sensitivity"] = [0.1]
    cases.append(("array for a number", d, "communities[0].sensitivity"))
    d = json.loads(json.dumps(es)); d["prosumers"][0]["tradeCostA"] = 0.01
    cases.append(("P2P key in energy_sharing", d, "prosumers[0].tradeCostA"))
    d = json.loads(json.dumps(es)); d["communities"].append({"id": "c2", "sensitivity": 0.1})
    cases.append(("two communities in energy_sharing", d, "prosumers[0].community"))
    d = json.loads(json.dumps(es)); d["options"] = {"algorithm": "bidding"}
    cases.append(("another mechanism's algorithm", d, "options.algorithm"))
    so = _example("social_optimum")
    d = json.loads(json.dumps(so)); del d["network"]["lines"][0]["rOhm"]
    cases.append(("missing line rOhm", d, "network.lines[0].rOhm"))
    d = json.loads(json.dumps(so)); d["network"]["lines"][0]["closed"] = 1
    cases.append(("number for a boolean", d, "network.lines[0].closed"))
    d = json.loads(json.dumps(so)); del d["network"]
    cases.append(("missing network", d, "network"))
    d = json.loads(json.dumps(so)); d["options"] = {"priceFloor": 0.1}
    cases.append(("p2p_online option in social_optimum", d, "options.priceFloor"))
    on = _example("p2p_online")
    d = json.loads(json.dumps(on)); del d["prosumers"][0]["storage"]["socKWh"]
    cases.append(("missing storage.socKWh", d, "prosumers[0].storage.socKWh"))
    cn = _example("conic")
    d = json.loads(json.dumps(cn)); d["conic"]["cones"][0]["type"] = "psd"
    cases.append(("unknown cone type", d, "conic.cones[0].type"))
    d = json.loads(json.dumps(cn)); d["grid"] = {"buyPrice": 1, "sellPrice": 0}; d["conic"]["A"]["nnz"] = 2
    cases.append(("unknown CSC key", d, "conic.A.nnz"))
    return cases


@pytest.mark.parametrize("name,document,path", _mutations(), ids=[c[0] for c in _mutations()])
def test_rejected_by_library_and_schema(esm, name, document, path):
    with pytest.raises(esm.EsmarketError) as e:
        esm.clear(document)
    assert e.value.code == "invalid_input"
    assert e.value.path == path, e.value
    assert _errors(PROBLEM_V, document), f"{name}: the schema accepts what the library rejects"


# ---------------------------------------------------------------------------------------------
# documents the other Python tests build
# ---------------------------------------------------------------------------------------------
CAPTURED_TESTS = ["test_threads.py", "test_p2p_online.py", "test_energy_sharing.py", "test_robustness.py",
                  "test_errors.py", "test_result.py", "test_sessions.py"]
KEY_OR_TYPE = re.compile(r"^(unknown key|missing required key|expected (an object|an array|a number|a string|true or false))")


def pytest_sessionstart(session):
    """Plugin hook (child pytest only): record every problem given to esmarket.clear."""
    out = os.environ.get("ESM_SCHEMA_CAPTURE")
    if not out:
        return
    import esmarket
    from esmarket import _api
    original = _api.clear

    def recording(problem, *args, **kwargs):
        entry = {"problem": problem if isinstance(problem, dict) else None}
        if isinstance(problem, (str, bytes)) and str(problem[:1]) in ("{", "b'{'"):
            try:
                entry["problem"] = json.loads(problem)
            except ValueError:
                pass
        try:
            result = original(problem, *args, **kwargs)
            entry["reply"] = result.document
            return result
        except esmarket.EsmarketError as e:
            entry["reply"] = e.document
            raise
        finally:
            try:
                line = json.dumps(entry, allow_nan=False)
            except (TypeError, ValueError):
                line = None
            if line is not None and entry["problem"] is not None and "reply" in entry:
                with open(out, "a", encoding="utf-8") as f:
                    f.write(line + "\n")

    esmarket.clear = recording
    _api.clear = recording

    original_step = _api.Session.step

    def recording_step(self, update=None):
        mechanism = esmarket.Result({}, problem=self._config).problem.get("mechanism")
        entry = {"update": dict(update or {}), "mechanism": mechanism}
        try:
            result = original_step(self, update)
            entry["reply"] = result.document
            return result
        except esmarket.EsmarketError as e:
            entry["reply"] = e.document
            raise
        finally:
            try:
                line = json.dumps(entry, allow_nan=False, default=lambda v: v.tolist())
            except (TypeError, ValueError):
                line = None
            if line is not None and "reply" in entry:  # not a Python error raised before the library
                with open(out + ".steps", "a", encoding="utf-8") as f:
                    f.write(line + "\n")

    _api.Session.step = recording_step


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    out = tmp_path_factory.mktemp("capture") / "documents.jsonl"
    here = Path(__file__).resolve().parent
    env = dict(os.environ, ESM_SCHEMA_CAPTURE=str(out),
               PYTHONPATH=os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "test_schema",
                          *[str(here / name) for name in CAPTURED_TESTS]],
                         cwd=here, env=env, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # The same document is cleared many times over (threads, repeats): validate each once.
    unique = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        stats = entry["reply"].get("stats")
        if isinstance(stats, dict):
            stats = {k: v for k, v in stats.items() if not k.endswith("Seconds")}
        key = json.dumps([entry["problem"], dict(entry["reply"], stats=stats)], sort_keys=True)
        unique.setdefault(key, entry)
    steps_file = Path(str(out) + ".steps")
    steps = [json.loads(line) for line in steps_file.read_text(encoding="utf-8").splitlines()] if steps_file.exists() else []
    return list(unique.values()), steps


def test_documents_of_the_python_tests_validate(captured):
    captured, _ = captured
    accepted = [c for c in captured if c["reply"].get("status") != "error"]
    assert len(accepted) >= 50, len(accepted)
    mechanisms = set()
    for entry in accepted:
        assert_valid_problem(entry["problem"])
        mechanisms.add(entry["problem"]["mechanism"])
    assert {"energy_sharing", "two_layer", "social_optimum", "conic", "p2p_online"} <= mechanisms


def test_replies_to_the_python_tests_validate(captured):
    documents, steps = captured
    for entry in documents + steps:
        assert_valid_result(entry["reply"])


def test_key_and_type_errors_of_the_python_tests_are_schema_errors(captured):
    captured, _ = captured
    rejected = [c for c in captured if c["reply"].get("status") == "error"
                and c["reply"]["error"]["code"] == "invalid_input"
                and KEY_OR_TYPE.match(c["reply"]["error"]["message"])
                and isinstance(c["problem"], dict)]
    assert len(rejected) >= 5, len(rejected)
    for entry in rejected:
        assert _errors(PROBLEM_V, entry["problem"]), entry["reply"]["error"]


# ---------------------------------------------------------------------------------------------
# keys of one mechanism family: the schema's per-mechanism refusals against the library's
# ---------------------------------------------------------------------------------------------
def schema_refusals():
    """(location, mechanisms whose rule refuses it) read from problem.schema.json's allOf: every
    `false` (or `not` const) a rule puts on a key, with the mechanisms its `if` selects."""
    every = set(PROBLEM["properties"]["mechanism"]["enum"])
    refusals = {}

    def selected(rule):
        cond = rule["if"]["properties"]["mechanism"]
        if "const" in cond:
            return {cond["const"]}
        if "enum" in cond:
            return set(cond["enum"])
        inner = cond["not"]
        return every - ({inner["const"]} if "const" in inner else set(inner["enum"]))

    def walk(node, path, mechanisms):
        for key, sub in (node.get("properties") or {}).items():
            here = path + (key,)
            if sub is False:
                refusals.setdefault(here, set()).update(mechanisms)
            elif isinstance(sub, dict):
                if "not" in sub and "const" in sub["not"]:
                    refusals.setdefault(here + ("=" + sub["not"]["const"],), set()).update(mechanisms)
                walk(sub.get("items", sub) if "items" in sub else sub, here, mechanisms)

    for rule in PROBLEM["allOf"]:
        if "if" in rule and "then" in rule and set(rule["if"].get("properties", {})) == {"mechanism"}:
            walk(rule["then"], (), selected(rule))
    return refusals


SAMPLE_VALUES = {"priceSlope": 0.001, "importMinKW": -1e6, "importMaxKW": 1e6, "equilibrium": "nash",
                 "tradeCostA": 0.01, "lyapunovV": 1.0, "socShiftKWh": 5.0, "priceFloor": 0.0, "priceCeiling": 1.0,
                 "lyapunovTheta": 1.0, "unsafeParameters": "allow", "hardSocBounds": True, "reconfigure": True,
                 "maxSwitchingOperations": 3, "intercept": 0.5,
                 # refused by power_flow (no market)
                 "grid": {"buyPrice": 1.0, "sellPrice": 0.1}, "communities": [{"id": "c0", "sensitivity": 0.1}],
                 "upperPriceRange": [0.0, 1.0], "verifyPowerFlow": True, "priceTaking": True,
                 "allLinesSwitchable": False, "verifyEquilibrium": True}


def _place(document, location):
    """(document with the key at `location` set, its path): in lists, the first element that has
    the next container (the first element for the key itself); None when the document has no
    such container. A location ending in "=value" sets that value (network.model)."""
    doc = json.loads(json.dumps(document))
    if location == ("conic",):
        doc["conic"] = _example("conic")["conic"]
        return doc, "conic"
    if location[-1].startswith("="):
        *parents, key, value = location
        value = value[1:]
    else:
        *parents, key = location
        value = SAMPLE_VALUES[key]
    node, path = doc, ""
    for k, part in enumerate(parents):
        if part not in node:
            if part != "options":
                return None
            node[part] = {}
        node, path = node[part], f"{path}.{part}" if path else part
        if isinstance(node, list):
            wanted = parents[k + 1] if k + 1 < len(parents) else None
            index = next((i for i, item in enumerate(node) if wanted is None or wanted in item), None)
            if index is None:
                return None
            node, path = node[index], f"{path}[{index}]"
    if location[-1].startswith("="):
        node[key] = value
    else:
        # a key the example already has is one its mechanism reads (grid, communities): keep it
        node.setdefault(key, value)
    return doc, f"{path}.{key}" if path else key


FOREIGN_KEY = re.compile(r"only read by|is p2p_gne's network model")


def test_family_keys_refused_by_library_and_schema_alike(esm):
    refusals = schema_refusals()
    assert ("grid", "priceSlope") in refusals and ("prosumers", "tradeCostA") in refusals
    checked = 0
    for mechanism in PROBLEM["properties"]["mechanism"]["enum"]:
        example = _example(mechanism)
        for location, refusing in sorted(refusals.items()):
            placed = _place(example, location)
            if placed is None:
                continue
            document, path = placed
            schema_ok = not _errors(PROBLEM_V, document)
            try:
                esm.clear(document)
                library_refuses = False
            except esm.EsmarketError as e:
                # refused as a key of another mechanism (a reader may refuse the sample value on
                # its merits, e.g. an unsafe Lyapunov parameter: that is not this test's concern)
                library_refuses = (e.code == "invalid_input" and e.path == path
                                   and bool(FOREIGN_KEY.search(e.message)))
            if mechanism in refusing:
                assert not schema_ok and library_refuses, (mechanism, location, path)
                checked += 1
            else:
                assert schema_ok, (mechanism, location, _errors(PROBLEM_V, document))
                assert not library_refuses, (mechanism, location)
    assert checked >= 25, checked


# ---------------------------------------------------------------------------------------------
# the documents and code shown in docs/
# ---------------------------------------------------------------------------------------------
def _blocks(language):
    for page in sorted((REPO / "docs").glob("*.md")):
        for block in re.findall(rf"```{language}\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S):
            yield page.name, block


def test_json_shown_in_docs_validates():
    """Every complete problem (or result/error) document shown in docs/*.md validates; fragments
    with placeholders ("...") are not documents and are skipped."""
    shown = 0
    for page, block in _blocks("json"):
        try:
            document = json.loads(block)
        except ValueError:
            continue
        if document.get("schema") != "esmarket/1":
            continue
        if "mechanism" in document and "status" not in document:
            assert_valid_problem(document)
        else:
            assert_valid_result(document)
        shown += 1
    assert shown >= 2, shown


def test_python_shown_in_docs_runs(esm, monkeypatch):
    monkeypatch.chdir(REPO)
    ran, namespaces = 0, {}
    for page, block in _blocks("python"):  # a page's blocks run in order, in one namespace
        if "esmarket" in block and "..." not in block:
            exec(compile(block, f"docs/{page}", "exec"), namespaces.setdefault(page, {"__name__": "docs_example"}))
            ran += 1
    assert ran >= 2, ran


def test_session_updates_of_the_python_tests_validate(captured):
    """The update (or slot) documents the session tests step with: accepted ones validate against
    $defs/sessionUpdate (p2p_online: $defs/sessionPeriod), those refused for a key or a type are
    refused by the schema too."""
    _, steps = captured
    update, period = definition("sessionUpdate"), definition("sessionPeriod")
    accepted = rejected = 0
    for entry in steps:
        validator = period if entry["mechanism"] == "p2p_online" else update
        errors = list(validator.iter_errors(entry["update"]))
        reply = entry["reply"]
        if reply.get("status") != "error":
            assert not errors, (entry["mechanism"], entry["update"], errors[:2])
            accepted += 1
        elif reply["error"]["code"] == "invalid_input" and KEY_OR_TYPE.match(reply["error"]["message"]):
            assert errors, (entry["mechanism"], entry["update"], reply["error"])
            rejected += 1
    assert accepted >= 20 and rejected >= 2, (accepted, rejected)
