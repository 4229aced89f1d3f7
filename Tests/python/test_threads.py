"""Concurrent esmarket.clear calls from Python threads give the serial results."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import t1_problem, without_timing


@pytest.fixture(scope="module")
def documents():
    import esmarket
    docs = [esmarket.generate_case("energy_sharing", prosumers=1500 + 250 * k, seed=100 + k)
            for k in range(6)]
    docs.append(t1_problem())
    docs.append(t1_problem(intercept=None, buy=0.55, sell=0.45))
    return docs


def test_threads_match_serial(esm, documents):
    serial = [without_timing(esm.clear(d).document) for d in documents]
    assert all(s["status"] == "solved" for s in serial)
    for _ in range(3):
        with ThreadPoolExecutor(max_workers=8) as pool:
            parallel = list(pool.map(lambda d: without_timing(esm.clear(d).document), documents))
        assert parallel == serial


def test_threads_errors_and_results_mixed(esm, documents):
    inputs = []
    for d in documents:
        inputs.append(d)
        inputs.append("{broken")
    def run(d):
        try:
            return without_timing(esm.clear(d).document)
        except esm.EsmarketError as e:
            return ("error", e.code, e.path)
    serial = [run(d) for d in inputs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(run, inputs)) == serial
    assert serial[1] == ("error", "invalid_json", None)


@pytest.fixture(scope="module")
def mechanism_documents():
    """Documents of every mechanism the library clears, and of the error codes."""
    import esmarket
    docs = []
    for k, algorithm in enumerate(("direct", "centralized", "bidding")):
        d = esmarket.generate_case("two_layer", feeder="ieee33bw", prosumers=200 + 50 * k, communities=5, seed=20 + k)
        d["options"] = {"algorithm": algorithm}
        docs.append(d)
    for k, model in enumerate(("socp", "lindistflow")):
        d = esmarket.generate_case("social_optimum", feeder="ieee33bw", prosumers=150, seed=30 + k)
        d["network"]["model"] = model
        docs.append(d)
    d = esmarket.generate_case("social_optimum", feeder="ieee123", prosumers=100, seed=32)
    d["network"]["vMinPu"] = 0.95  # infeasible, diagnosed by a second solve
    docs.append(d)
    docs.append(esmarket.generate_case("energy_sharing", prosumers=800, seed=33))
    docs.append({"schema": "esmarket/1", "mechanism": "conic",
                 "conic": {"q": [1, 0, 0], "A": {"m": 4, "n": 3, "colptr": [0, 1, 2, 3], "rowval": [1, 2, 3],
                                               "nzval": [-1, -1, -1]},
                           "b": [0, 0, 1, 1], "cones": [{"type": "zero", "dim": 1}, {"type": "soc", "dim": 3}]}})
    docs.append({"schema": "esmarket/1", "mechanism": "conic",
                 "conic": {"q": [-5, -4, -3], "A": {"m": 1, "n": 3, "colptr": [0, 1, 2, 3], "rowval": [0, 0, 0],
                                                  "nzval": [2, 3, 1]},
                           "b": [4], "cones": [{"type": "nonneg", "dim": 1}], "integers": [0, 1, 2]}})
    docs.append(esmarket.generate_case("two_layer_voltage", feeder="ieee33bw", prosumers=60, seed=34))
    d = esmarket.generate_case("p2p_gne", feeder="ieee37", prosumers=10, periods=6, seed=35)
    docs.append(d)
    docs.append(dict(d, options={"algorithm": "proximal_point", "maxIterations": 200}))
    docs.append('{"schema":"esmarket/1","mechanism":"energy_sharing","x":NaN}')
    docs.append({"schema": "esmarket/1", "mechanism": "two_layer", "grid": {"buyPrice": 1, "sellPrice": 0}})
    return docs


def test_threads_several_mechanisms(esm, mechanism_documents):
    def run(d):
        try:
            return without_timing(esm.clear(d).document)
        except esm.EsmarketError as e:
            return ("error", e.code, e.path)
    serial = [run(d) for d in mechanism_documents]
    mechanisms = {s["mechanism"] for s in serial if isinstance(s, dict)}
    assert {"two_layer", "social_optimum", "energy_sharing", "conic", "p2p_gne"} <= mechanisms
    assert {s["status"] for s in serial if isinstance(s, dict)} >= {"solved", "infeasible"}
    assert {s[1] for s in serial if isinstance(s, tuple)} >= {"invalid_json", "invalid_input"}
    inputs = mechanism_documents * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(run, inputs))
    assert parallel == serial * 4
