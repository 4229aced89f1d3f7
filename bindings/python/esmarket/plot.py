"""Plots of a cleared market (matplotlib, an optional dependency imported only here).

Each function takes a ``Result`` (from ``esmarket.clear``, which keeps the problem it was cleared
from) and returns a ``matplotlib.figure.Figure``; pass ``ax=`` to draw into an existing axes.

* ``voltage_profile`` — bus voltages along the feeder (electrical distance from the substation)
  with the voltage limits;
* ``bus_prices`` — locational prices per bus, stacked into their energy, loss, congestion and
  voltage parts where the mechanism decomposes them;
* ``trade_graph`` — the P2P trades as a graph (arrows from seller to buyer, width ∝ energy);
* ``storage_trajectories`` — each battery's state of charge over the periods with its bounds;
* ``export_curves`` — each community's supply curve (total export against the sharing price) with
  the point where it cleared (needs ``options.exportCurves``).

A problem whose network is ``{"builtin": name}`` holds no topology or limits in the document:
pass the feeder's full network document as ``network=``.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Any, Dict, List, Optional, Sequence

from .result import Result

#: Contract defaults of the network's voltage limits (docs/reference.md).
DEFAULT_VMIN_PU = 0.95
DEFAULT_VMAX_PU = 1.05


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("esmarket.plot needs matplotlib (pip install matplotlib, or pip install "
                          "'esmarket[plot]')") from e
    return plt


def _axes(ax):
    if ax is not None:
        return ax.figure, ax
    fig, ax = _pyplot().subplots(figsize=(8, 4.5), layout="constrained")
    return fig, ax


def _at(value: Any, period: int) -> Optional[float]:
    """A per-period field's value in `period` (a scalar is the same in every period)."""
    if isinstance(value, list):
        return value[period] if period < len(value) else None
    return value


def _periods(rows: Sequence[Dict[str, Any]], key: str) -> int:
    return max((len(r[key]) for r in rows if isinstance(r.get(key), list)), default=1)


def _network(result: Result, network: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    if network is not None:
        return network
    problem = result.problem or {}
    net = problem.get("network")
    if not isinstance(net, dict):
        raise ValueError("the result's problem has no network: pass network=")
    if "buses" not in net or "lines" not in net:
        raise ValueError(f"the problem's network is the built-in feeder {net.get('builtin')!r}, whose "
                         "topology is not in the document: pass its full network document as network=")
    return net


def _distances(net: Dict[str, Any], in_service: Optional[Dict[str, bool]] = None):
    """Electrical distance (Σ rOhm along the path) from the substation to every bus of the
    closed lines' tree, and each bus's parent."""
    root = net["substationBus"]
    adjacent: Dict[str, List[tuple]] = {}
    for line in net.get("lines") or []:
        closed = line.get("closed", True) if in_service is None else in_service.get(line["id"], False)
        if not closed:
            continue
        adjacent.setdefault(line["from"], []).append((line["to"], line.get("rOhm", 0.0)))
        adjacent.setdefault(line["to"], []).append((line["from"], line.get("rOhm", 0.0)))
    distance, parent = {root: 0.0}, {root: None}
    queue = deque([root])
    while queue:
        bus = queue.popleft()
        for other, r in adjacent.get(bus, []):
            if other not in distance:
                distance[other] = distance[bus] + r
                parent[other] = bus
                queue.append(other)
    return distance, parent


def voltage_profile(result: Result, *, network: Optional[Dict[str, Any]] = None,
                    period: Optional[int] = None, ax=None):
    """Bus voltages against the electrical distance from the substation (Σ line resistance,
    ohm), each line drawn from its upstream to its downstream bus, with the network's vMinPu and
    vMaxPu as dashed lines. The AC power flow's voltages (``vAcPu``) are drawn as points where
    the result has them. Multi-period results: every period (or only ``period``)."""
    buses = result.buses
    if not buses or not any("vPu" in b for b in buses):
        raise ValueError(f"{result.mechanism} result has no bus voltages (vPu)")
    net = _network(result, network)
    periods = _periods(buses, "vPu")
    chosen = range(periods) if period is None else [period]
    fig, ax = _axes(ax)
    service_rows = {line["id"]: line.get("inService") for line in result.lines}
    for t in chosen:
        in_service = None
        if any(v is not None for v in service_rows.values()):
            in_service = {k: bool(_at(v, t)) for k, v in service_rows.items() if v is not None}
        distance, parent = _distances(net, in_service)
        v = {b["id"]: _at(b["vPu"], t) for b in buses}
        label = "vPu" if len(chosen) == 1 else f"vPu, period {t}"
        color = None
        for bus, up in parent.items():
            if up is None or v.get(bus) is None or v.get(up) is None:
                continue
            line, = ax.plot([distance[up], distance[bus]], [v[up], v[bus]], color=color,
                            lw=1.2, label=label, alpha=1.0 if len(chosen) == 1 else 0.6)
            color, label = line.get_color(), None
        ac = [(distance[b["id"]], _at(b["vAcPu"], t)) for b in buses if "vAcPu" in b and b["id"] in distance]
        if ac:
            ax.plot(*zip(*ac), ".", ms=4, color=color, label="vAcPu (AC power flow)" if t == chosen[0] else None)
    lo, hi = net.get("vMinPu", DEFAULT_VMIN_PU), net.get("vMaxPu", DEFAULT_VMAX_PU)
    ax.axhline(lo, ls="--", color="tab:red", lw=1, label=f"vMinPu {lo:g}")
    ax.axhline(hi, ls="--", color="tab:red", lw=1, label=f"vMaxPu {hi:g}")
    ax.set_xlabel("electrical distance from the substation (Σ rOhm, Ω)")
    ax.set_ylabel("voltage (pu)")
    ax.set_title(f"{result.mechanism}: voltage profile ({result.status})")
    ax.legend(loc="best", fontsize="small")
    return fig


PRICE_PARTS = (("priceEnergy", "energy"), ("priceLoss", "loss"), ("priceCongestion", "congestion"),
               ("priceVoltage", "voltage"))


def bus_prices(result: Result, *, period: int = 0, ax=None):
    """Locational price per bus (currency/kWh) in ``period``: stacked bars of its energy, loss,
    congestion and voltage parts where the result decomposes it, with the total as a marker;
    plain bars otherwise."""
    buses = [b for b in result.buses if "price" in b]
    if not buses:
        raise ValueError(f"{result.mechanism} result has no bus prices")
    fig, ax = _axes(ax)
    x = list(range(len(buses)))
    total = [_at(b["price"], period) for b in buses]
    parts = [(key, name) for key, name in PRICE_PARTS if all(key in b for b in buses)]
    if parts:
        up, down = [0.0] * len(buses), [0.0] * len(buses)
        for key, name in parts:
            values = [_at(b[key], period) or 0.0 for b in buses]
            bottoms = [up[i] if v >= 0 else down[i] for i, v in enumerate(values)]
            ax.bar(x, values, bottom=bottoms, label=name, width=0.8)
            for i, v in enumerate(values):
                if v >= 0:
                    up[i] += v
                else:
                    down[i] += v
        ax.plot(x, total, "k_", ms=8, label="price (total)")
    else:
        ax.bar(x, total, width=0.8, label="price")
    ax.set_xticks(x, [b["id"] for b in buses], rotation=90, fontsize="x-small" if len(buses) > 40 else "small")
    ax.set_xlabel("bus")
    ax.set_ylabel("price (currency/kWh)")
    ax.set_title(f"{result.mechanism}: locational prices" + (f", period {period}" if _periods(buses, "price") > 1 else ""))
    ax.legend(loc="best", fontsize="small")
    return fig


def trade_graph(result: Result, *, period: Optional[int] = None, ax=None):
    """The P2P trades: prosumers on a circle, an arrow from seller to buyer per trade whose
    width grows with the energy traded (summed over the periods, or in ``period``); trades of
    (numerically) zero energy are drawn as thin grey lines."""
    trades = result.trades
    if not trades:
        raise ValueError(f"{result.mechanism} result has no trades")
    names: List[str] = []
    for p in result.prosumers:
        names.append(p["id"])
    for t in trades:
        for end in (t["from"], t["to"]):
            if end not in names:
                names.append(end)
    n = len(names)
    place = {name: (math.cos(2 * math.pi * k / n), math.sin(2 * math.pi * k / n)) for k, name in enumerate(names)}
    flows = []
    for t in trades:
        kw = t["kW"]
        values = kw if isinstance(kw, list) else [kw]
        amount = values[period] if period is not None else sum(values)
        flows.append((t["from"], t["to"], amount) if amount >= 0 else (t["to"], t["from"], -amount))
    largest = max((f[2] for f in flows), default=0.0) or 1.0
    fig, ax = _axes(ax)
    for seller, buyer, amount in flows:
        (x0, y0), (x1, y1) = place[seller], place[buyer]
        if amount <= 1e-9 * largest:
            ax.plot([x0, x1], [y0, y1], color="0.85", lw=0.5, zorder=1)
            continue
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), zorder=2,
                    arrowprops=dict(arrowstyle="-|>", lw=0.5 + 4.0 * amount / largest, color="tab:blue",
                                    shrinkA=8, shrinkB=8))
    xs, ys = zip(*(place[name] for name in names))
    ax.scatter(xs, ys, s=120, color="tab:orange", zorder=3)
    for name in names:
        x, y = place[name]
        ax.annotate(name, (x, y), xytext=(1.12 * x, 1.12 * y), ha="center", va="center", fontsize="small")
    ax.set_aspect("equal")
    ax.set_xlim(-1.35, 1.35)
    ax.set_ylim(-1.35, 1.35)
    ax.axis("off")
    what = f"period {period}" if period is not None else "all periods"
    ax.set_title(f"{result.mechanism}: P2P trades ({what}; width ∝ kW, largest {largest:.3g})")
    return fig


def storage_trajectories(result: Result, *, ax=None):
    """State of charge of every battery (kWh): the initial ``socKWh`` of the problem at step 0,
    then the value after each period, with each battery's socMinKWh/socMaxKWh as thin dashed
    lines of the same colour."""
    problem = result.problem or {}
    storage = {p["id"]: p["storage"] for p in problem.get("prosumers") or []
               if isinstance(p, dict) and isinstance(p.get("storage"), dict)}
    rows = [p for p in result.prosumers if "socKWh" in p and p["id"] in storage]
    if not rows:
        raise ValueError(f"{result.mechanism} result has no storage trajectories (socKWh of prosumers with storage)")
    fig, ax = _axes(ax)
    for row in rows:
        soc = row["socKWh"] if isinstance(row["socKWh"], list) else [row["socKWh"]]
        battery = storage[row["id"]]
        values = [battery["socKWh"]] + list(soc)
        line, = ax.plot(range(len(values)), values, marker=".", label=row["id"])
        lo = battery.get("socMinKWh", 0.0)
        hi = battery.get("socMaxKWh", battery["capacityKWh"])
        for bound in (lo, hi):
            ax.axhline(bound, ls=":", lw=0.8, color=line.get_color())
    ax.set_xlabel("period (0: initial state)")
    ax.set_ylabel("state of charge (kWh)")
    ax.set_title(f"{result.mechanism}: storage trajectories")
    ax.legend(loc="best", fontsize="small", ncol=max(1, len(rows) // 12))
    return fig


def export_curves(result: Result, *, period: int = 0, communities: Optional[Sequence[str]] = None, ax=None):
    """Each community's supply curve in ``period``: its members' total export (kW, x axis) against
    the sharing price (y axis) from sellPrice to buyPrice, as the library wrote it with
    ``options.exportCurves: true``, and the cleared point (unclearedExportKW, price) as a marker.
    ``communities`` picks some by id (default: all)."""
    curves = result.document.get("exportCurves")
    if not curves:
        raise ValueError(f"{result.mechanism} result has no exportCurves: clear with options.exportCurves = true "
                         "(energy_sharing, two_layer, two_layer_voltage)")
    wanted = None if communities is None else set(communities)
    chosen = [c for c in curves if c["period"] == period and (wanted is None or c["community"] in wanted)]
    if not chosen:
        raise ValueError(f"no export curve for period {period}" + ("" if wanted is None else f" and communities {sorted(wanted)}"))
    cleared = {row["id"]: row for row in result.communities}
    fig, ax = _axes(ax)
    for curve in chosen:
        line, = ax.plot(curve["exportKW"], curve["price"], lw=1.2, label=curve["community"])
        row = cleared.get(curve["community"])
        if row is not None and "price" in row and "unclearedExportKW" in row:
            ax.plot([_at(row["unclearedExportKW"], period)], [_at(row["price"], period)], "o", ms=5,
                    color=line.get_color())
    ax.axvline(0, color="k", lw=0.6)
    ax.set_xlabel("total export to the community (kW; < 0: import)")
    ax.set_ylabel("sharing price (currency/kWh)")
    ax.set_title(f"{result.mechanism}: community supply curves (dots: cleared)"
                 + (f", period {period}" if any(c["period"] > 0 for c in curves) else ""))
    ax.legend(loc="best", fontsize="small", ncol=max(1, len(chosen) // 12))
    return fig


__all__ = ["voltage_profile", "bus_prices", "trade_graph", "storage_trajectories", "export_curves"]
