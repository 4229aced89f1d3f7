"""esmarket.plot: every plot rendered to PNG (Agg) for every mechanism that has its data, and
what is drawn checked against the result it was drawn from."""
import json
from pathlib import Path

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from feeder_documents import network_document  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "docs" / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


def example(name):
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def render(fig, path):
    fig.savefig(path, dpi=60)
    plt.close(fig)
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 2000
    return data


@pytest.fixture(scope="module")
def results():
    """A result of every mechanism that has something to plot, with its full network."""
    import esmarket as esm
    cases = {}
    for name in ("social_optimum", "two_layer", "two_layer_voltage", "p2p_gne", "p2p_reconfiguration", "p2p_online"):
        doc = example(name)
        cases[name] = (esm.clear(doc), doc.get("network"))
    gen = esm.generate_case("p2p_online", prosumers=6, seed=2, periods=4)
    cases["p2p_online_feeder"] = (esm.clear(gen), network_document(gen))
    gen = esm.generate_case("social_optimum", prosumers=80, seed=3, feeder="ieee37")
    cases["social_optimum_ieee37"] = (esm.clear(gen), network_document(gen))
    gen = esm.generate_case("p2p_gne", prosumers=5, seed=1, periods=3)
    cases["p2p_gne_generated"] = (esm.clear(gen), network_document(gen))
    for name, (r, _) in cases.items():
        assert r.status == "solved", (name, r.status, r.message)
    return cases


def line_count_of_tree(net, in_service=None):
    return sum(1 for line in net["lines"] if (line.get("closed", True) if in_service is None else in_service[line["id"]]))


VOLTAGES = ["social_optimum", "social_optimum_ieee37", "two_layer_voltage", "p2p_gne", "p2p_gne_generated",
            "p2p_reconfiguration", "p2p_online_feeder"]


@pytest.mark.parametrize("name", VOLTAGES)
def test_voltage_profile(esm, results, name, tmp_path):
    result, net = results[name]
    fig = esm.plot.voltage_profile(result, network=net, period=0)
    ax = fig.axes[0]
    lines = ax.get_lines()
    limits = [l for l in lines if l.get_linestyle() == "--"]
    assert sorted(l.get_ydata()[0] for l in limits) == [net.get("vMinPu", 0.95), net.get("vMaxPu", 1.05)]
    segments = [l for l in lines if l.get_linestyle() == "-" and len(l.get_xdata()) == 2]
    service = None
    if any("inService" in l for l in result.lines):
        service = {l["id"]: bool(l["inService"][0] if isinstance(l["inService"], list) else l["inService"]) for l in result.lines}
    assert len(segments) == line_count_of_tree(net, service)
    drawn = sorted({y for l in segments for y in l.get_ydata()})
    v = sorted({b["vPu"][0] if isinstance(b["vPu"], list) else b["vPu"] for b in result.buses})
    assert drawn == pytest.approx(v)
    render(fig, tmp_path / f"{name}_voltage.png")
    # every period at once renders too
    render(esm.plot.voltage_profile(result, network=net), tmp_path / f"{name}_voltage_all.png")


def test_voltage_profile_needs_the_topology_of_a_builtin_feeder(esm, results):
    result, _ = results["social_optimum_ieee37"]
    with pytest.raises(ValueError, match="built-in feeder"):
        esm.plot.voltage_profile(result)
    with pytest.raises(ValueError, match="no bus voltages"):
        esm.plot.voltage_profile(results["two_layer"][0])


PRICES = ["social_optimum", "social_optimum_ieee37", "two_layer", "two_layer_voltage", "p2p_gne", "p2p_reconfiguration"]


@pytest.mark.parametrize("name", PRICES)
def test_bus_prices(esm, results, name, tmp_path):
    result, _ = results[name]
    fig = esm.plot.bus_prices(result)
    ax = fig.axes[0]
    parts = [k for k in ("priceEnergy", "priceLoss", "priceCongestion", "priceVoltage") if "priceEnergy" in result.buses[0]]
    assert len(ax.patches) == len(result.buses) * max(1, len(parts))
    heights = [p.get_height() for p in ax.patches]
    if parts:
        # the stacked parts add up to the price of each bus
        n = len(result.buses)
        for i, bus in enumerate(result.buses):
            total = sum(heights[k * n + i] for k in range(len(parts)))
            price = bus["price"][0] if isinstance(bus["price"], list) else bus["price"]
            assert total == pytest.approx(price, abs=1e-6)
    else:
        assert heights == pytest.approx([b["price"][0] if isinstance(b["price"], list) else b["price"] for b in result.buses])
    render(fig, tmp_path / f"{name}_prices.png")


TRADES = ["p2p_gne", "p2p_gne_generated", "p2p_reconfiguration", "p2p_online", "p2p_online_feeder"]


@pytest.mark.parametrize("name", TRADES)
def test_trade_graph(esm, results, name, tmp_path):
    result, _ = results[name]
    fig = esm.plot.trade_graph(result)
    ax = fig.axes[0]
    arrows = [c for c in ax.texts if getattr(c, "arrow_patch", None) is not None]
    totals = [sum(t["kW"]) if isinstance(t["kW"], list) else t["kW"] for t in result.trades]
    largest = max(abs(x) for x in totals)
    assert len(arrows) == sum(1 for x in totals if abs(x) > 1e-9 * largest)
    assert len(arrows) >= 1
    render(fig, tmp_path / f"{name}_trades.png")
    render(esm.plot.trade_graph(result, period=0), tmp_path / f"{name}_trades0.png")


STORAGE = ["p2p_gne", "p2p_gne_generated", "p2p_online", "p2p_online_feeder"]


@pytest.mark.parametrize("name", STORAGE)
def test_storage_trajectories(esm, results, name, tmp_path):
    result, _ = results[name]
    problem = result.problem
    batteries = {p["id"]: p["storage"] for p in problem["prosumers"] if "storage" in p}
    fig = esm.plot.storage_trajectories(result)
    ax = fig.axes[0]
    curves = [l for l in ax.get_lines() if l.get_marker() == "."]
    assert len(curves) == len(batteries) >= 1
    rows = {p["id"]: p for p in result.prosumers}
    for curve in curves:
        pid = curve.get_label()
        soc = rows[pid]["socKWh"]
        assert list(curve.get_ydata()) == pytest.approx([batteries[pid]["socKWh"]] + (soc if isinstance(soc, list) else [soc]))
    render(fig, tmp_path / f"{name}_storage.png")


def test_headline_case(esm, tmp_path):
    """The headline case (two_layer_voltage, ieee123, 123 communities × 100 prosumers): the voltage
    profile touches its generated floor, and the price decomposition adds up."""
    doc = esm.generate_case("two_layer_voltage", feeder="ieee123", prosumers=12300, seed=1)
    result = esm.clear(doc)
    assert result.status == "solved"
    fig = esm.plot.voltage_profile(result)
    drawn = [y for l in fig.axes[0].get_lines() if l.get_linestyle() == "-" for y in l.get_ydata()]
    floor = doc["network"]["vMinPu"]
    assert min(drawn) == pytest.approx(floor, abs=1e-6)
    render(fig, tmp_path / "headline_voltage.png")
    render(esm.plot.bus_prices(result), tmp_path / "headline_prices.png")


@pytest.mark.parametrize("mechanism,periods", [("energy_sharing", 1), ("two_layer", 1), ("two_layer_voltage", 1),
                                               ("two_layer", 3)])
def test_export_curves(mechanism, periods, tmp_path):
    """The curves the library writes pass through each community's cleared point (its price and
    unclearedExportKW, two outputs computed separately), are non-decreasing, span the tariff, and
    the plot draws one line and one dot per community."""
    import numpy as np
    import esmarket as esm
    doc = esm.generate_case(mechanism, prosumers=60, seed=4)
    if periods > 1:  # the same prosumers over a day-like load shape
        doc["periods"] = periods
        for p in doc["prosumers"]:
            p["loadKW"] = [p.get("loadKW", 0) * f for f in (0.6, 1.0, 1.4)[:periods]]
    doc.setdefault("options", {})["exportCurves"] = True
    result = esm.clear(doc)
    assert result.status == "solved"
    curves = result.document["exportCurves"]
    assert len(curves) == len(result.communities) * periods
    buy, sell = doc["grid"]["buyPrice"], doc["grid"]["sellPrice"]
    for curve in curves:
        price, export = np.array(curve["price"]), np.array(curve["exportKW"])
        assert price[0] == pytest.approx(sell) and price[-1] == pytest.approx(buy)
        assert np.all(np.diff(price) > 0) and np.all(np.diff(export) >= -1e-9 * max(1, np.abs(export).max()))
        row = next(c for c in result.communities if c["id"] == curve["community"])
        t = curve["period"]
        at = lambda v: v[t] if isinstance(v, list) else v  # noqa: E731
        scale = max(1.0, np.abs(export).max())
        assert np.interp(at(row["price"]), price, export) == pytest.approx(at(row["unclearedExportKW"]), abs=1e-6 * scale)
    fig = esm.plot.export_curves(result)
    ax = fig.axes[0]
    assert len(ax.lines) == 2 * len(result.communities) + 1  # curve and dot per community, the zero axis
    render(fig, tmp_path / "curves.png")


def test_export_curves_need_the_option():
    import esmarket as esm
    result = esm.clear(esm.generate_case("energy_sharing", prosumers=10, seed=1))
    with pytest.raises(ValueError, match="exportCurves"):
        esm.plot.export_curves(result)
    doc = esm.generate_case("social_optimum", prosumers=10, seed=1)
    doc.setdefault("options", {})["exportCurves"] = True
    with pytest.raises(esm.EsmarketError, match="exportCurves"):
        esm.clear(doc)
