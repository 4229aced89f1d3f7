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
