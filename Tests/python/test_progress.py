"""The progress callback of esmarket.clear (esm_clear_with_progress)."""
import threading

import pytest

from conftest import without_timing


@pytest.fixture(scope="module")
def big(esm_module):
    return esm_module.generate_case("energy_sharing", prosumers=2000, seed=4)


@pytest.fixture(scope="module")
def esm_module():
    import esmarket
    return esmarket


def test_events_are_delivered(esm, t1):
    events = []
    r = esm.clear(t1, progress=events.append)  # list.append returns None: never interrupts
    assert r.status == "solved"
    assert events, "no progress event"
    assert all(isinstance(e, dict) for e in events)
    assert all(e.get("event") in ("start", "iteration", "done") for e in events), events
    assert all(e.get("mechanism") == "energy_sharing" for e in events), events
    assert events[0]["event"] == "start"
    assert events[-1]["event"] == "done"


def test_progress_does_not_change_the_result(esm, big):
    plain = esm.clear(big)
    observed = esm.clear(big, progress=lambda e: False)
    assert without_timing(observed.document) == without_timing(plain.document)


def test_interrupt_at_first_event(esm, big):
    calls = []

    def stop(event):
        calls.append(event)
        return True

    r = esm.clear(big, progress=stop)
    assert r.status == "interrupted"
    assert calls and calls[0]["event"] == "start"
    # an interrupted result is still a result document
    assert r.document["schema"] == "esmarket/1"
    assert r.mechanism == "energy_sharing"


@pytest.mark.parametrize("truthy", [1, "yes", [0], object()])
def test_any_truthy_value_interrupts(esm, t1, truthy):
    assert esm.clear(t1, progress=lambda e: truthy).status == "interrupted"


def test_exception_in_callback_is_reraised(esm, big):
    seen = []

    class Boom(RuntimeError):
        pass

    def explode(event):
        seen.append(event)
        raise Boom("from the callback")

    with pytest.raises(Boom, match="from the callback"):
        esm.clear(big, progress=explode)
    assert len(seen) == 1, "the callback must not be called again after it raised"
    # the library is still usable
    assert esm.clear(big).status == "solved"


def test_keyboard_interrupt_in_callback_is_reraised(esm, t1):
    def ctrl_c(event):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        esm.clear(t1, progress=ctrl_c)


def test_not_callable(esm, t1):
    with pytest.raises(TypeError):
        esm.clear(t1, progress="print")


def test_errors_still_raise_with_progress(esm):
    events = []
    with pytest.raises(esm.EsmarketError) as info:
        esm.clear("{", progress=events.append)
    assert info.value.code == "invalid_json"


def test_callbacks_from_several_threads(esm, t1):
    counts = {}
    lock = threading.Lock()
    errors = []

    def run(k):
        try:
            n = [0]

            def cb(e):
                n[0] += 1

            r = esm.clear(t1, progress=cb)
            assert r.status == "solved"
            with lock:
                counts[k] = n[0]
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(counts) == 8 and all(v > 0 for v in counts.values())
