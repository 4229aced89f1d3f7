"""The `esmarket` command-line tool (bin/esmarket): every flag, the exit codes of each error class,
`--summary` on every mechanism (its numbers read back and compared with the result document),
and its linkage (the Swift runtime is linked in, as in libesmarket.so)."""
import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

MECHANISMS = {  # small generated cases, each cleared in well under a few seconds
    "energy_sharing": ["--prosumers", "30"],
    "two_layer": ["--feeder", "ieee33bw", "--prosumers", "60", "--congestion"],
    "two_layer_voltage": ["--feeder", "ieee33bw", "--prosumers", "60"],
    "social_optimum": ["--feeder", "ieee33bw", "--prosumers", "60"],
    "p2p_gne": ["--prosumers", "6", "--periods", "3"],
    "p2p_reconfiguration": ["--prosumers", "4", "--periods", "1"],
    "p2p_online": ["--prosumers", "6", "--periods", "4"],
}


def _cli():
    for candidate in (REPO / "bin" / "esmarket", REPO / ".build" / "release" / "esmarket-cli"):
        if candidate.is_file():
            return candidate
    return None


CLI = _cli()
pytestmark = pytest.mark.skipif(CLI is None, reason="the esmarket CLI is not built (make build)")


def run(*args, stdin=None, timeout=120):
    return subprocess.run([str(CLI), *map(str, args)], input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def masked(document):
    """The result without its wall-clock timings (the only part that changes between runs)."""
    document = json.loads(json.dumps(document))
    for key in list(document.get("stats", {})):
        if key.endswith("Seconds"):
            del document["stats"][key]
    return document


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-cases")
    paths = {}
    for mechanism, options in MECHANISMS.items():
        path = folder / f"{mechanism}.json"
        out = run("generate", "--mechanism", mechanism, "--seed", 3, *options, "-o", path)
        assert out.returncode == 0, out.stderr
        paths[mechanism] = path
    return paths


# --- version, help, linkage -------------------------------------------------------------------

def test_version_is_the_librarys(esm):
    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == esm.version()
    source = (REPO / "Sources" / "esmarket" / "CAPI.swift").read_text()
    assert f'let libraryVersion: StaticString = "{esm.version()}"' in source


EXIT_CODES = {0: "success", 1: "invalid_json", 2: "invalid_input", 3: "unsupported", 4: "internal",
              10: "not \"solved\"", 64: "usage", 74: "read or written"}


def test_help_documents_the_exit_codes_and_readme_agrees():
    out = run("--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    for code, words in EXIT_CODES.items():
        assert re.search(rf"\b{code} [^0-9]*{re.escape(words)}", text), (code, words)
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Command line"):readme.index("## JSON contract")]
    for code, words in EXIT_CODES.items():
        assert re.search(rf"^\| {code} \|", section, re.M), f"README's CLI section lacks exit code {code}"


def test_the_executable_carries_the_swift_runtime():
    ldd = subprocess.run(["ldd", str(CLI)], capture_output=True, text=True, check=True).stdout
    assert "libswift" not in ldd and "libFoundation" not in ldd and "libdispatch" not in ldd, ldd
    needed = {line.split()[0] for line in ldd.splitlines() if line.strip()}
    allowed = re.compile(r"^(linux-vdso\.so|/lib64/ld-linux|libc\.so|libm\.so|libstdc\+\+\.so|libgcc_s\.so|libjson-c\.so)")
    assert all(allowed.match(name) for name in needed), needed


# --- exit codes and error messages ------------------------------------------------------------

def test_invalid_json_exits_1(tmp_path):
    path = tmp_path / "truncated.json"
    path.write_text('{"schema": "esmarket/1", "mechanism": ')
    out = run("clear", path)
    assert out.returncode == 1
    assert "invalid_json" in out.stderr and out.stdout == ""


def test_invalid_input_exits_2_with_the_path(esm, t1, tmp_path):
    problem = dict(t1)
    del problem["grid"]
    path = tmp_path / "no-grid.json"
    path.write_text(json.dumps(problem))
    out = run("clear", path)
    assert out.returncode == 2
    assert "invalid_input" in out.stderr and "(path: grid)" in out.stderr


def test_unsupported_exits_3():
    out = run("generate", "--mechanism", "conic")
    assert out.returncode == 3
    assert "unsupported" in out.stderr and "(path: mechanism)" in out.stderr


def test_not_solved_exits_10_and_still_writes_the_result(tmp_path, cases):
    problem = json.loads(cases["social_optimum"].read_text())
    problem["network"]["vMinPu"] = 0.9999  # the feeder cannot be held this high
    path = tmp_path / "infeasible.json"
    path.write_text(json.dumps(problem))
    out = run("clear", path)
    assert out.returncode == 10
    result = json.loads(out.stdout)
    assert result["status"] == "infeasible" and result["diagnosis"]["constraint"] == "vMinPu"


def test_usage_errors_exit_64(cases):
    assert run("clear", cases["energy_sharing"], "--no-such-flag").returncode == 64
    assert run("clear").returncode == 64
    assert run("clear", cases["energy_sharing"], "--threads", "two").returncode == 64
    assert run("clear", cases["energy_sharing"], "--time-limit", "nan").returncode == 64
    assert run("demo", "--mechanism", "conic").returncode == 64


def test_file_errors_carry_the_system_reason(tmp_path, cases):
    out = run("clear", tmp_path)
    assert out.returncode == 74
    assert out.stderr.strip() == f"esmarket: cannot read {tmp_path}: Is a directory"
    out = run("clear", tmp_path / "missing.json")
    assert out.returncode == 74
    assert "No such file or directory" in out.stderr
    out = run("clear", cases["energy_sharing"], "-o", tmp_path / "no" / "such" / "folder.json")
    assert out.returncode == 74
    assert "cannot write" in out.stderr and "No such file or directory" in out.stderr
    out = run("generate", "-o", tmp_path)
    assert out.returncode == 74 and "Is a directory" in out.stderr


@pytest.mark.parametrize("text", ["", "[]", "null", "[" * 100_000, '{"options":' * 2000, "\xff\xfe",
                                  '{"schema":"esmarket/1","mechanism":"energy_sharing","options":[1,2]}'])
def test_bad_input_never_crashes(text, cases):
    for flags in ([], ["--summary", "--algorithm", "exact", "--pretty"]):
        out = run("clear", "-", *flags, stdin=text)
        assert out.returncode in (1, 2), (text[:40], out.returncode, out.stderr)
        assert out.stderr.startswith("esmarket: invalid_")


# --- clear's flags ----------------------------------------------------------------------------

def test_algorithm_flag_replaces_the_documents_option(esm, cases, tmp_path):
    problem = json.loads(cases["energy_sharing"].read_text())
    problem["options"] = {"algorithm": "exact", "tolerance": 1e-8}
    path = tmp_path / "with-options.json"
    path.write_text(json.dumps(problem))
    out = run("clear", path, "--algorithm", "centralized")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["stats"]["algorithm"] == "centralized"
    # The same as the library given the document with that option; the exact route agrees.
    problem["options"]["algorithm"] = "centralized"
    assert masked(result) == masked(esm.clear(problem).document)
    exact = esm.clear(cases["energy_sharing"])
    assert abs(result["communities"][0]["price"] - exact.communities[0]["price"]) <= 1e-6


def test_algorithm_flag_is_checked_like_the_document(cases):
    out = run("clear", cases["two_layer"], "--algorithm", "exact")
    assert out.returncode == 2
    assert "(path: options.algorithm)" in out.stderr and "direct" in out.stderr


def test_option_flags_reach_the_library(esm, cases):
    problem = json.loads(cases["two_layer"].read_text())
    out = run("clear", cases["two_layer"], "--algorithm", "bidding", "--tolerance", "1e-7", "--threads", "2",
              "--time-limit", "60")
    assert out.returncode == 0, out.stderr
    problem["options"] = {"algorithm": "bidding", "tolerance": 1e-7, "threads": 2, "timeLimitSeconds": 60}
    assert masked(json.loads(out.stdout)) == masked(esm.clear(problem).document)
    for flag, value, path in (("--threads", "0", "options.threads"), ("--tolerance", "2", "options.tolerance"),
                              ("--time-limit=-1", None, "options.timeLimitSeconds")):
        out = run("clear", cases["two_layer"], *([flag] if value is None else [flag, value]))
        assert out.returncode == 2 and f"(path: {path})" in out.stderr, (flag, out.stderr)


def test_option_flags_rewrite_only_the_options_member():
    # json-c writes a parsed number from its source text: none of these may be rewritten.
    numbers = '[0.1,1e-7,12345678901234567,3.0,-0.0,1E5,2.5e+300,0.30000000000000004,-12]'
    head = '{"schema":"esmarket/1","mechanism":"energy_sharing","series":' + numbers + ','
    tail = r',"names":["a/b","\u00e9\u00e8","quote\"d"],"nested":{"x":[{"y":1.50}]}}'
    document = head + '"options":{"tolerance":1e-8,"algorithm":"exact","threads":3}' + tail
    out = run("clear", "-", "--print-problem", "--tolerance", "1e-7", "--algorithm", "centralized", stdin=document)
    assert out.returncode == 0, out.stderr
    # The flags replace the members in place; the rest keeps its order and its bytes (strings
    # are written by json-c: the same text, with non-ASCII characters as UTF-8).
    expected_options = '"options":{"tolerance":1e-07,"algorithm":"centralized","threads":3}'
    assert out.stdout.strip() == head + expected_options + tail.replace(r"\u00e9\u00e8", "éè")
    # No options member: one is added, the document otherwise byte-identical.
    document = head + '"prosumers":[]' + tail
    out = run("clear", "-", "--print-problem", "--threads", "2", "--time-limit", "0.5", stdin=document)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (document[:-1] + ',"options":{"timeLimitSeconds":0.5,"threads":2}}').replace(
        r"\u00e9\u00e8", "éè")
    assert json.loads(out.stdout)["series"] == json.loads(numbers)
    # A null options member is read as absent by the library: the flag must still reach it.
    document = head + '"options":null' + tail
    out = run("clear", "-", "--print-problem", "--algorithm", "exact", stdin=document)
    assert json.loads(out.stdout)["options"] == {"algorithm": "exact"}


@pytest.mark.parametrize("text,offset", [
    ('{"schema":"esmarket/1","mechanism":"energy_sharing",}', 52),
    ('{"schema":"esmarket/1","mechanism":"energy_sharing","x":"a\tb"}', None),  # json-c alone reads it
    ('{"schema":"esmarket/1","mechanism":"energy_sharing","x":NaN}', None),
])
def test_option_flags_leave_text_that_is_not_json_to_the_library(text, offset):
    direct = run("clear", "-", stdin=text)
    flagged = run("clear", "-", "--algorithm", "exact", stdin=text)
    assert direct.returncode == flagged.returncode == 1
    assert flagged.stderr == direct.stderr and flagged.stderr.startswith("esmarket: invalid_json: not valid JSON at byte")
    if offset is not None:
        assert f"at byte {offset}:" in flagged.stderr
    assert run("clear", "-", "--print-problem", "--algorithm", "exact", stdin=text).stdout.strip() == text


def test_option_flags_leave_a_key_with_nul_to_the_library(cases):
    # json-c cuts keys at NUL: rewritten, "id\u0000x" would silently become a second "id".
    text = cases["energy_sharing"].read_text().strip()
    text = text.replace('"prosumers":[{', r'"prosumers":[{"id\u0000x":"other",', 1)
    direct = run("clear", "-", stdin=text)
    flagged = run("clear", "-", "--algorithm", "centralized", stdin=text)
    assert direct.returncode == flagged.returncode == 2
    assert flagged.stderr == direct.stderr and "NUL" in flagged.stderr, flagged.stderr


def test_deep_nesting_is_refused_with_the_depth(cases):
    for flags in ([], ["--algorithm", "exact", "--pretty"]):
        out = run("clear", "-", *flags, stdin='{"a":' * 600 + "1" + "}" * 600)
        assert out.returncode == 1
        assert "nesting deeper than 512 levels" in out.stderr, out.stderr


def test_time_limit_stops_a_long_search(tmp_path):
    path = tmp_path / "reconfiguration.json"
    assert run("generate", "--mechanism", "p2p_reconfiguration", "--prosumers", 6, "--periods", 2, "--seed", 3,
               "-o", path).returncode == 0
    out = run("clear", path, "--time-limit", "0.3", timeout=60)
    assert out.returncode == 10, out.stderr
    result = json.loads(out.stdout)
    assert result["status"] == "time_limit"
    assert result["stats"]["totalSeconds"] < 3


def test_progress_draws_the_events(cases):
    out = run("clear", cases["two_layer"], "--algorithm", "bidding", "--progress")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    lines = out.stderr.strip().splitlines()  # not a terminal: one line per shown event
    assert re.match(r"^\[ +\d+\.\d s\] two_layer start: prosumers 60 \(event 1\)$", lines[0]), lines[0]
    done = re.match(r"^\[ +\d+\.\d s\] two_layer done: iterations (\d+) \(event (\d+)\)$", lines[-1])
    assert done, lines[-1]
    assert int(done.group(1)) == result["stats"]["iterations"]


def test_pretty_only_adds_whitespace(cases):
    compact = run("generate", "--mechanism", "p2p_gne", "--prosumers", 4, "--periods", 3)
    pretty = run("generate", "--mechanism", "p2p_gne", "--prosumers", 4, "--periods", 3, "--pretty")
    assert compact.returncode == pretty.returncode == 0
    assert "\n  \"schema\": \"esmarket/1\"," in pretty.stdout
    assert len(pretty.stdout.splitlines()) > 50
    assert re.sub(r'\s+(?=(?:[^"]*"[^"]*")*[^"]*$)', "", pretty.stdout) == compact.stdout.strip()
    cleared = run("clear", cases["p2p_gne"], "--pretty")
    assert cleared.returncode == 0
    assert masked(json.loads(cleared.stdout)) == masked(json.loads(run("clear", cases["p2p_gne"]).stdout))


# --- schema --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["problem", "result"])
def test_schema_prints_the_contract_file(name, cases, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    out = run("schema", name)
    assert out.returncode == 0, out.stderr
    assert out.stdout == (REPO / "schema" / f"{name}.schema.json").read_text(encoding="utf-8")
    assert run("schema", name, "-o", tmp_path / "s.json").returncode == 0
    assert (tmp_path / "s.json").read_text(encoding="utf-8") == out.stdout
    # The printed schema is usable as it stands: a generated case and its result pass it.
    validator = jsonschema.Draft202012Validator(json.loads(out.stdout))
    problem = json.loads(cases["two_layer"].read_text())
    document = problem if name == "problem" else json.loads(run("clear", cases["two_layer"]).stdout)
    assert not list(validator.iter_errors(document))
    problem["prosumers"][0]["noSuchKey"] = 1
    if name == "problem":
        assert list(validator.iter_errors(problem))


def test_schema_refuses_an_unknown_name():
    out = run("schema", "options")
    assert out.returncode == 64 and "problem, result" in out.stderr


# --- generate: every option of the case generator -------------------------------------------

@pytest.mark.parametrize("options,spec", [
    (["--mechanism", "two_layer", "--feeder", "ieee33bw", "--prosumers", "40", "--congestion"],
     {"mechanism": "two_layer", "feeder": "ieee33bw", "prosumers": 40, "congestion": True}),
    (["--mechanism", "two_layer", "--feeder", "ieee37", "--prosumers", "30", "--communities", "3",
      "--sensitivity", "0.07"],
     {"mechanism": "two_layer", "feeder": "ieee37", "prosumers": 30, "communities": 3, "sensitivity": 0.07}),
    (["--mechanism", "p2p_gne", "--prosumers", "5", "--periods", "2", "--connectivity", "0.25"],
     {"mechanism": "p2p_gne", "prosumers": 5, "periods": 2, "connectivity": 0.25}),
    (["--mechanism", "p2p_online", "--prosumers", "3", "--periods", "8", "--feeder", "ieee37"],
     {"mechanism": "p2p_online", "prosumers": 3, "periods": 8, "feeder": "ieee37"}),
])
def test_generate_passes_every_option(esm, options, spec):
    out = run("generate", *options, "--seed", 11)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == esm.generate_case_json(seed=11, **spec)
    document = json.loads(out.stdout)
    if "communities" in spec:
        assert len(document["communities"]) == spec["communities"]
        assert all(c["sensitivity"] == spec["sensitivity"] for c in document["communities"])
    if spec.get("congestion"):
        assert any(line.get("rateKVA") for line in document["network"]["lines"])


def test_generate_errors_name_the_key():
    out = run("generate", "--mechanism", "energy_sharing", "--congestion")
    assert out.returncode == 2 and "(path: congestion)" in out.stderr
    out = run("generate", "--mechanism", "p2p_gne", "--connectivity", "1.5")
    assert out.returncode == 2 and "(path: connectivity)" in out.stderr


# --- summary ----------------------------------------------------------------------------------

NUMBER = r"-?(?:\d+\.?\d*(?:e[-+]?\d+)?|inf)"


def summary_sections(text):
    """{section title: {label: value text}} of a summary."""
    sections, current = {}, None
    for line in text.splitlines():
        if not line.startswith("  "):
            current = sections.setdefault(line.split(" (")[0], {})
            continue
        match = re.match(r"^  (.{28}) (.*)$", line) or re.match(r"^  (\S+) +(.*)$", line)
        current[match.group(1).strip()] = match.group(2)
    return sections


def close(shown, value):
    return abs(float(shown) - value) <= 5e-6 * abs(value) + 1e-9


def cells(rows, column):
    for row in rows:
        name = row["id"] if "id" in row else f"{row['from']}→{row['to']}"
        values = row.get(column)
        if isinstance(values, list):
            for t, v in enumerate(values):
                yield v, f"{name} period {t}"
        elif isinstance(values, (int, float)) and not isinstance(values, bool):
            yield values, name


def check_range(text, rows, column):
    values = [v for v, _ in cells(rows, column)]
    every = re.match(rf"^all ({NUMBER}) ", text)
    if every:
        assert all(close(every.group(1), v) for v in values), (column, text)
        return
    match = re.match(rf"^min ({NUMBER}) \((?:bus )?(.+?)\) … max ({NUMBER}) \((?:bus )?(.+?)\) ", text)
    assert match, (column, text)
    assert close(match.group(1), min(values)) and close(match.group(3), max(values)), (column, text)
    named = dict((where, v) for v, where in cells(rows, column))
    assert close(match.group(1), named[match.group(2)]) and close(match.group(3), named[match.group(4)])


@pytest.mark.parametrize("mechanism", sorted(MECHANISMS))
def test_summary_shows_the_result(mechanism, cases, tmp_path):
    saved = tmp_path / "result.json"
    out = run("clear", cases[mechanism], "--summary", "-o", saved)
    assert out.returncode == 0, out.stderr
    result = json.loads(saved.read_text())
    problem = json.loads(cases[mechanism].read_text())
    sections = summary_sections(out.stdout)
    head = sections[f"esmarket result: {mechanism}"]
    assert head["status"] == result["status"] == "solved"
    assert head["algorithm"].startswith(result["stats"]["algorithm"])

    objective = sections["Objective"]
    assert set(objective) >= set(result["objective"])
    for key, value in result["objective"].items():
        shown = objective[key]
        if isinstance(value, list):
            numbers = re.findall(NUMBER, shown.split("]")[0]) if shown.startswith("[") else None
            if numbers is not None:
                assert len(numbers) == len(value) and all(close(a, b) for a, b in zip(numbers, value)), (key, shown)
            else:
                check_range(shown.replace(" currency", "").replace(" kW", ""), [{"id": "x", key: value}], key)
        else:
            assert close(shown.split()[0], value), (key, shown, value)
    units = {"socialCost": "currency", "lossesKW": "kW", "tradedKWh": "kWh"}
    for key, unit in units.items():
        if key in objective and not objective[key].startswith("["):
            assert objective[key].endswith(" " + unit), (key, objective[key])

    prices = sections.get("Prices", {})
    for table in ("communities", "buses", "trades"):
        rows = result.get(table, [])
        for column in ("price", "upperPrice", "priceVoltage"):
            if any(column in row for row in rows):
                check_range(prices[f"{table}.{column}"], rows, column)
    if result.get("buses") and "vPu" in result["buses"][0]:
        voltages = sections["Voltages"]
        check_range(voltages["buses.vPu"], result["buses"], "vPu")
        if "vAcPu" in result["buses"][0]:
            check_range(voltages["buses.vAcPu"], result["buses"], "vAcPu")

    quality = sections.get("Quality", {})
    for key, value in result.get("quality", {}).items():
        if isinstance(value, (int, float)):
            assert float(quality[key].split()[0]) == pytest.approx(value, rel=1e-5, abs=1e-300), key
    timings = sections["Timings"]
    assert close(timings["totalSeconds"].split()[0], result["stats"]["totalSeconds"])

    binding = sections.get("Binding limits", {})
    if mechanism == "two_layer_voltage":
        # The generator sets the voltage floor where it binds: the summary names that bus.
        floor = problem["network"]["vMinPu"]
        label = next(k for k in binding if k.startswith("vMinPu"))
        assert close(label.split()[1], floor)
        bus = re.match(r"binds at bus (\S+) ", binding[label]).group(1)
        v = next(b["vAcPu"] for b in result["buses"] if b["id"] == bus)
        assert abs(v - floor) <= 1e-5
    if mechanism == "two_layer":
        # --congestion halves the rating of the busiest line: it binds, with a nonzero price.
        congested = [line for line in result["lines"] if abs(line["congestionPrice"]) > 1e-6]
        assert congested
        for line in congested:
            shown = binding[f"line {line['id']}"]
            assert close(re.search(rf"congestionPrice ({NUMBER})", shown).group(1), line["congestionPrice"])
    if mechanism in ("social_optimum", "p2p_online"):
        assert "none" in binding  # nothing binds in these generated cases (and none is invented)


def test_summary_of_a_result_that_is_not_solved(cases, tmp_path):
    problem = json.loads(cases["social_optimum"].read_text())
    problem["network"]["vMinPu"] = 0.9999
    path = tmp_path / "infeasible.json"
    path.write_text(json.dumps(problem))
    out = run("clear", path, "--summary")
    assert out.returncode == 10
    head = summary_sections(out.stdout)["esmarket result: social_optimum"]
    assert head["status"] == "infeasible"
    assert head["diagnosis"] == "constraint vMinPu, bus 18"


# --- demo -------------------------------------------------------------------------------------

@pytest.mark.parametrize("mechanism,options", [("energy_sharing", ["--prosumers", "200"]),
                                               ("two_layer_voltage", ["--prosumers", "300", "--feeder", "ieee33bw"]),
                                               ("p2p_online", ["--prosumers", "5", "--periods", "8"])])
def test_demo_reads_with_units(mechanism, options):
    out = run("demo", "--mechanism", mechanism, *options)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith(f"esmarket demo: {mechanism} on a generated case (seed 7)")
    assert re.search(r"grid buyPrice +\S.* per kWh .*\(prosumers pay the grid per kWh imported\)", text)
    assert re.search(r"grid sellPrice +\S+ per kWh \(the grid pays prosumers per kWh exported\)", text)
    assert "status                       solved" in text
    assert "wall time" in text
    if mechanism == "two_layer_voltage":
        assert re.search(r"lossesKW +\S+ kW$", text, re.M)          # losses on their own line, in kW
        assert re.search(r"socialCost +\S+ currency$", text, re.M)
        assert re.search(r"^  vMinPu \S+ pu +binds at bus \S+", text, re.M)


def test_summary_of_the_conic_solver(tmp_path):
    """A result with no market tables: its top-level numbers are shown as they are."""
    problem = {"schema": "esmarket/1", "mechanism": "conic",
               "conic": {"q": [-5, -4, -3], "A": {"m": 1, "n": 3, "colptr": [0, 1, 2, 3], "rowval": [0, 0, 0],
                                                "nzval": [2, 3, 1]},
                         "b": [4], "cones": [{"type": "nonneg", "dim": 1}], "integers": [0, 1, 2]}}
    path, saved = tmp_path / "mip.json", tmp_path / "result.json"
    path.write_text(json.dumps(problem))
    out = run("clear", path, "--summary", "-o", saved)
    assert out.returncode == 0, out.stderr
    result = json.loads(saved.read_text())
    sections = summary_sections(out.stdout)
    assert sections["esmarket result: conic"]["status"] == "solved"
    other = sections["Other results"]
    assert close(other["objective"], result["objective"]) and abs(result["objective"] + 8) <= 1e-6
    shown = [float(v) for v in re.findall(NUMBER, other["x"])]
    assert len(shown) == 3 and all(close(a, b) for a, b in zip(shown, result["x"]))
    assert other["hasIncumbent"] == "true"


def test_updates_replay_a_session(tmp_path):
    """clear --updates: each JSON line stepped in a session, the results as JSON Lines, equal to
    esmarket.Session's steps; a bad line stops with its line number and the error's exit code."""
    import esmarket
    problem = esmarket.generate_case("two_layer", prosumers=12, communities=2, feeder="ieee33bw", seed=4)
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(problem))
    ids = [p["id"] for p in problem["prosumers"]]
    updates = [{"prosumers": {"loadKW": [1.0 + 0.1 * k for k in range(len(ids))]}},
               {"prosumers": [{"id": ids[3], "pvKW": 2.5}], "grid": {"buyPrice": 1.1}},
               {}]
    lines = tmp_path / "updates.jsonl"
    lines.write_text("\n".join(json.dumps(u) for u in updates[:2]) + "\n\n" + json.dumps(updates[2]) + "\n")
    out = run("clear", path, "--updates", lines)
    assert out.returncode == 0, out.stderr
    results = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(results) == 3
    with esmarket.Session(problem) as session:
        for update, result in zip(updates, results):
            assert masked(result) == masked(session.step(update).document)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{}\n" + json.dumps({"prosumers": [{"id": "nobody"}]}) + "\n{}\n")
    out = run("clear", path, "--updates", bad)
    assert out.returncode == 2
    assert "updates line 2: invalid_input" in out.stderr and "prosumers[0].id" in out.stderr
    assert len([line for line in out.stdout.splitlines() if line.strip()]) == 1   # the step before
