"""Import an OpenDSS circuit as an esmarket problem document (OpenDSSDirect.py, optional).

    >>> import esmarket
    >>> problem = esmarket.from_opendss("feeder.dss")            # a power_flow problem
    >>> result = esmarket.clear(problem)

The circuit is compiled in a private OpenDSS context (``opendssdirect.NewContext()``), solved once
in snapshot mode (so regulator taps, capacitor states and PV outputs are the solved ones) and
reduced to esmarket's balanced single-phase equivalent by the rule the built-in ieee37/ieee123
feeders follow: positive-sequence series impedance ``zs - zm`` of each branch's phase matrix,
loads summed over phases as constant power. What is exact and what is approximated is in
docs/opendss.md; everything esmarket cannot represent is an ``OpenDSSImportError`` that names the
OpenDSS element.
"""
from __future__ import annotations

import math
import os
import re
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = ["from_opendss", "OpenDSSImportError"]


class OpenDSSImportError(ValueError):
    """The circuit has something esmarket's balanced radial model cannot represent (the message
    names the OpenDSS element, e.g. ``Line.l7``)."""


def _opendssdirect():
    try:
        import opendssdirect  # noqa: F401  (imported only when an import is asked for)
    except ImportError as e:  # pragma: no cover - exercised only without the package
        raise ImportError(
            "esmarket.from_opendss needs OpenDSSDirect.py: pip install OpenDSSDirect.py") from e
    return opendssdirect


# Element classes that carry no power-flow data of their own (their effect is in the solved state:
# a RegControl's tap, a CapControl's capacitor state, a SwtControl's open switch) or none at all.
_IGNORED = {"regcontrol", "capcontrol", "swtcontrol", "fuse", "recloser", "relay", "energymeter",
            "monitor", "sensor", "invcontrol", "expcontrol", "storagecontroller", "gencontrol",
            "upfccontrol", "esp"}
_GENERATION = {"pvsystem", "generator", "storage", "windgen"}
_SQRT3 = math.sqrt(3.0)


def _bus(name: str) -> str:
    return name.split(".", 1)[0].lower()


def _nodes(name: str) -> List[int]:
    return [int(n) for n in name.split(".")[1:] if n.strip().isdigit()]


def _series(bus2: str) -> bool:
    """A 2-terminal shunt element (Capacitor, Reactor) is in series unless bus2 is all ground."""
    nodes = _nodes(bus2)
    return not nodes or any(n != 0 for n in nodes)


def _kv_ll(kv: float, phases: int, delta: bool) -> float:
    """An element's rated kV line to line (OpenDSS rates a 1-phase wye element line to neutral)."""
    return kv * _SQRT3 if phases == 1 and not delta else kv


def _matrix(flat: Sequence[float], n: int) -> List[List[float]]:
    return [list(flat[i * n:(i + 1) * n]) for i in range(n)]


def _kron(z: List[List[complex]], keep: int) -> List[List[complex]]:
    """Reduce a conductor matrix to its first `keep` (phase) conductors (neutrals eliminated)."""
    import numpy as np
    m = np.array(z, dtype=complex)
    if m.shape[0] <= keep:
        return z
    a, b = m[:keep, :keep], m[:keep, keep:]
    c, d = m[keep:, :keep], m[keep:, keep:]
    return (a - b @ np.linalg.solve(d, c)).tolist()


def _sequence_equivalent(m: List[List[complex]], phases: int) -> complex:
    """The built-in feeders' reduction: zs - zm for 3 phases; for an n-phase lateral the
    per-conductor value zs - zm (n-1)/2 times 3/n (so that the lateral's load, spread over three
    phases, keeps its per-unit drop and losses)."""
    n = len(m)
    zs = sum(m[i][i] for i in range(n)) / n
    off = [m[i][j] for i in range(n) for j in range(n) if i != j]
    zm = sum(off) / len(off) if off else 0
    per_conductor = zs - zm * (n - 1) / 2.0
    return per_conductor * 3.0 / phases if phases < 3 else zs - zm


class _Reader:
    """Reads the active circuit of one OpenDSSDirect context."""

    def __init__(self, dss: Any, unbalanced: str, load_models: str):
        self.dss = dss
        self.unbalanced = unbalanced
        self.load_models = load_models
        self.notes: List[str] = []

    def prop(self, element: str, name: str) -> str:
        self.dss.Text.Command(f"? {element}.{name}")
        return self.dss.Text.Result()

    def prop_float(self, element: str, name: str) -> float:
        return float(self.prop(element, name))

    def check_phases(self, element: str, phases: int, what: str) -> None:
        if phases == 3:
            return
        if self.unbalanced == "error":
            raise OpenDSSImportError(
                f"{element} is a {phases}-phase {what} in a 3-phase circuit: esmarket models "
                f"balanced circuits; pass unbalanced='balanced_equivalent' to spread it over three "
                f"phases by the built-in feeders' rule (docs/opendss.md)")


def _run(dss: Any, source: Union[str, "os.PathLike[str]", Sequence[str]]) -> None:
    dss.Text.Command("clear")
    if isinstance(source, (list, tuple)):
        lines: Iterable[str] = source
    else:
        text = os.fspath(source) if not isinstance(source, str) else source
        if "\n" not in text and Path(text).is_file():
            lines = [f'compile "{Path(text).resolve()}"']
        elif "\n" not in text and text.lower().endswith(".dss"):
            raise FileNotFoundError(text)
        else:
            lines = text.splitlines()
    for line in lines:
        line = line.strip()
        if not line or line.startswith("!") or line.startswith("//"):
            continue
        dss.Text.Command(line)


def from_opendss(source: Any, *, mechanism: str = "power_flow",
                 prosumers: Any = None, grid: Optional[Mapping[str, Any]] = None,
                 communities: Optional[Sequence[Mapping[str, Any]]] = None,
                 options: Optional[Mapping[str, Any]] = None, periods: Optional[int] = None,
                 source_impedance: bool = True, unbalanced: str = "error", taps: str = "fold",
                 load_models: str = "error", ratings: bool = True,
                 v_min_pu: Optional[float] = None, v_max_pu: Optional[float] = None,
                 solve: bool = True) -> Dict[str, Any]:
    """An esmarket problem document (a dict) from an OpenDSS circuit.

    `source` is a path to a .dss file (compiled with ``compile``), DSS text (several lines, or a
    list of commands), or an OpenDSSDirect object (``opendssdirect`` itself or a context from
    ``NewContext()``) whose active circuit is read as it stands. Text and files are compiled in a
    new private context, so the caller's OpenDSS state is never touched.

    * `source_impedance`: True models the Vsource's Thevenin impedance (positive sequence) as a
      line ``Vsource.<name>`` from a virtual slack bus ``<name>~source``; False neglects it (the
      Vsource bus is then the slack at the Vsource's ``pu``).
    * `unbalanced`: ``"error"`` (default) refuses 1- and 2-phase elements naming them;
      ``"balanced_equivalent"`` spreads them over three phases (docs/opendss.md).
    * `load_models`: ``"error"`` (default) refuses loads other than model 1 (constant PQ) and 2
      (constant impedance, imported exactly as a shunt); ``"constant_power"`` takes them at their
      rated kW/kvar.
    * `taps`: ``"fold"`` (default) folds off-nominal transformer taps (a regulator's solved tap)
      into vSubstationPu where that is exact, through an unbranched chain from the source, and
      refuses them elsewhere; ``"nominal"`` takes every tap at 1.0 (the built-in feeders' rule).
    * `ratings`: line NormAmps and transformer kVA as ``rateKVA`` (False: no limits).
    * `solve`: solve the circuit (snapshot) before reading it; needed for regulator taps under
      RegControl, switched capacitors and PV/generator outputs.
    * `prosumers`, `grid`, `communities`, `options`, `periods`: copied into the document.
    """
    if unbalanced not in ("error", "balanced_equivalent"):
        raise ValueError(f"unbalanced must be 'error' or 'balanced_equivalent', not {unbalanced!r}")
    if taps not in ("fold", "nominal"):
        raise ValueError(f"taps must be 'fold' or 'nominal', not {taps!r}")
    if load_models not in ("error", "constant_power"):
        raise ValueError(f"load_models must be 'error' or 'constant_power', not {load_models!r}")
    if hasattr(source, "Text") and hasattr(source, "Circuit"):
        dss = source
    else:
        dss = _opendssdirect().NewContext()
        _run(dss, source)
    if solve:
        dss.Solution.Solve()
        if not dss.Solution.Converged():
            raise OpenDSSImportError("OpenDSS did not converge on the circuit (Solution.Solve)")
    network = _network(_Reader(dss, unbalanced, load_models), source_impedance, ratings, taps)
    if v_min_pu is not None:
        network["vMinPu"] = v_min_pu
    if v_max_pu is not None:
        network["vMaxPu"] = v_max_pu
    doc: Dict[str, Any] = {"schema": "esmarket/1", "mechanism": mechanism, "network": network}
    for key, value in (("grid", grid), ("communities", communities), ("prosumers", prosumers),
                       ("periods", periods), ("options", options)):
        if value is not None:
            doc[key] = value
    return doc


def _network(r: _Reader, source_impedance: bool, ratings: bool, taps: str) -> Dict[str, Any]:
    import numpy as np
    dss = r.dss
    names = list(dss.Circuit.AllElementNames())
    omega = 2.0 * math.pi * dss.Solution.Frequency()

    # --- the source -------------------------------------------------------------------------
    vsources = [n for n in names if n.lower().startswith("vsource.")]
    enabled_sources = []
    for n in vsources:
        dss.Circuit.SetActiveElement(n)
        if dss.CktElement.Enabled():
            enabled_sources.append(n)
    if len(enabled_sources) != 1:
        raise OpenDSSImportError(
            f"esmarket needs exactly one enabled Vsource (the substation); found "
            f"{len(enabled_sources)}: {', '.join(enabled_sources) or 'none'}"
            + (f" — {enabled_sources[1]} is a second slack" if len(enabled_sources) > 1 else ""))
    src = enabled_sources[0]
    dss.Circuit.SetActiveElement(src)
    source_bus = _bus(dss.CktElement.BusNames()[0])
    if dss.CktElement.NumPhases() != 3:
        raise OpenDSSImportError(f"{src} has {dss.CktElement.NumPhases()} phases: esmarket imports "
                                 f"3-phase circuits")
    src_kv = r.prop_float(src, "basekv")
    src_pu = r.prop_float(src, "pu")
    src_z = None
    if source_impedance:
        y = np.array(dss.CktElement.YPrim()).reshape(-1, 2)
        size = int(round(math.sqrt(len(y))))
        y = (y[:, 0] + 1j * y[:, 1]).reshape(size, size)
        z = np.linalg.inv(-y[:3, 3:6])
        src_z = _sequence_equivalent(z.tolist(), 3)

    # --- branches: lines, transformers, series reactors ---------------------------------------
    # Each: dict(name, kind, b1, b2, closed, switchable, phases, data...)
    branches: List[Dict[str, Any]] = []
    shunts: List[Tuple[str, str, Dict[str, float]]] = []   # (element, bus, {"kind": value})
    injections: List[Tuple[str, str, float, float]] = []    # (element, bus, P into bus kW, Q)
    for name in names:
        cls, _, short = name.partition(".")
        cls_l = cls.lower()
        if cls_l == "vsource" or cls_l in _IGNORED:
            continue
        dss.Circuit.SetActiveElement(name)
        enabled = bool(dss.CktElement.Enabled())
        buses = list(dss.CktElement.BusNames())
        phases = int(dss.CktElement.NumPhases())
        if cls_l == "line":
            branches.append(_line(r, name, short, enabled, buses, phases, omega))
        elif cls_l == "transformer":
            branches.append(_transformer(r, name, short, enabled, buses, phases))
        elif cls_l == "reactor":
            if not enabled:
                continue
            b2 = buses[1] if len(buses) > 1 else ""
            if b2 and _series(b2):
                raise OpenDSSImportError(f"{name} is a series reactor: not supported (give it as "
                                         f"a Line with its R and X)")
            r.check_phases(name, phases, "shunt reactor")
            kv, kvar = r.prop_float(name, "kv"), r.prop_float(name, "kvar")
            delta = r.prop(name, "conn").strip().lower().startswith("d")
            shunts.append((name, _bus(buses[0]), {"kv": _kv_ll(kv, phases, delta),
                                                  "qCapKVAr": -kvar}))
        elif cls_l == "capacitor":
            if not enabled:
                continue
            b2 = buses[1] if len(buses) > 1 else ""
            if b2 and _series(b2):
                raise OpenDSSImportError(f"{name} is a series capacitor: not supported")
            r.check_phases(name, phases, "capacitor")
            kv = r.prop_float(name, "kv")
            dss.Capacitors.Name(short)
            steps = [float(v) for v in re.findall(r"[-+0-9.eE]+", r.prop(name, "kvar"))]
            states = list(dss.Capacitors.States())
            if len(steps) != len(states):  # one total kvar split evenly over the steps
                total = float(dss.Capacitors.kvar())
                steps = [total / len(states)] * len(states)
            kvar = sum(k for k, s in zip(steps, states) if s)
            shunts.append((name, _bus(buses[0]), {"kv": _kv_ll(kv, phases,
                                                                bool(dss.Capacitors.IsDelta())),
                                                  "qCapKVAr": kvar}))
        elif cls_l == "load":
            if not enabled:
                continue
            _load(r, name, short, buses, phases, shunts, injections)
        elif cls_l in _GENERATION:
            if not enabled:
                continue
            if cls_l == "generator":
                dss.Generators.Name(short)
                if int(dss.Generators.Model()) == 3:
                    raise OpenDSSImportError(f"{name} is a voltage-regulating (model 3, PV bus) "
                                             f"generator: esmarket has no PV buses")
            r.check_phases(name, phases, "generator")
            power = dss.CktElement.Powers()
            k = len(power) // 2 // max(1, len(buses))  # conductors per terminal
            p = sum(power[2 * i] for i in range(k))
            q = sum(power[2 * i + 1] for i in range(k))
            injections.append((name, _bus(buses[0]), p, q))
        else:
            if not enabled:
                continue
            raise OpenDSSImportError(f"{name}: element class {cls} is not supported by the "
                                     f"esmarket importer (docs/opendss.md lists what is)")

    _single_phase_transformers(r, branches)

    # --- topology: a tree of closed branches rooted at the source ----------------------------
    parent: Dict[str, str] = {}

    def find(b: str) -> str:
        while parent.setdefault(b, b) != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        return b

    for br in branches:
        if not br["closed"]:
            continue
        a, b = find(br["b1"]), find(br["b2"])
        if a == b:
            raise OpenDSSImportError(
                f"{br['name']} closes a loop (between buses {br['b1']} and {br['b2']}): esmarket "
                f"models radial feeders; open it (open {br['name']}) or disable it")
        parent[a] = b
    adjacency: Dict[str, List[Dict[str, Any]]] = {}
    for br in branches:
        if br["closed"]:
            adjacency.setdefault(br["b1"], []).append(br)
            adjacency.setdefault(br["b2"], []).append(br)
    # Nominal voltage (kV line to line) of every energized bus, through transformer ratios.
    kv: Dict[str, float] = {source_bus: src_kv}
    upstream: Dict[str, Tuple[str, Dict[str, Any]]] = {}
    order = [source_bus]
    for bus in order:
        for br in adjacency.get(bus, []):
            other = br["b2"] if br["b1"] == bus else br["b1"]
            if other in kv:
                continue
            if br["kind"] == "transformer":
                if br["b1"] != bus:
                    raise OpenDSSImportError(
                        f"{br['name']}: its winding 1 ({br['b1']}) is on the load side; esmarket "
                        f"needs winding 1 toward the source")
                kv[other] = kv[bus] * br["kv2"] / br["kv1"]
            else:
                kv[other] = kv[bus]
            upstream[other] = (bus, br)
            order.append(other)
    dropped = []
    base_kv = src_kv

    def to_base(ohm: complex, bus: str) -> complex:  # keeps the per-unit value on `bus`'s level
        return ohm * (base_kv / kv[bus]) ** 2

    # --- off-nominal taps ----------------------------------------------------------------------
    # An ideal ratio n = t2/t1 (V2 = n V1 - t2^2 Z I2, checked against OpenDSS) can be moved
    # toward the source through a chain of buses with nothing branching off: the chain's
    # impedances scale by n^2, its shunts by 1/n^2, its voltages are reported times n, and the
    # source voltage becomes n vSubstationPu. Exact; anywhere else a tap has no esmarket model.
    v_sub = src_pu
    chain_scale: Dict[str, float] = {}   # bus -> product of the ratios folded through it
    for br in branches:
        if br["kind"] != "transformer" or not br["closed"] or br["b1"] not in kv:
            continue
        t1, t2 = br["taps"]
        if abs(t1 - 1.0) < 1e-12 and abs(t2 - 1.0) < 1e-12:
            continue
        if taps == "nominal":
            r.notes.append(f"{br['name']}: taps {t1:g}/{t2:g} taken at 1.0 (taps='nominal')")
            br["taps"] = (1.0, 1.0)
            continue
        path = [br["b1"]]
        while path[-1] != source_bus:
            path.append(upstream[path[-1]][0])
        branching = [b for b in path
                     if len(adjacency[b]) > (1 if b == source_bus else 2)]
        if branching:
            raise OpenDSSImportError(
                f"{br['name']} has an off-nominal tap ({t1:g}/{t2:g}) where the feeder branches "
                f"upstream (at bus {branching[0]}): esmarket has no tap ratios; a tap is folded "
                f"into vSubstationPu only through an unbranched chain from the source. Pass "
                f"taps='nominal' to take every tap at 1.0 (the built-in feeders' rule)")
        ratio = t2 / t1
        v_sub *= ratio
        for b in path:
            chain_scale[b] = chain_scale.get(b, 1.0) * ratio
        r.notes.append(f"{br['name']}: taps {t1:g}/{t2:g} folded into vSubstationPu; buses "
                       f"{', '.join(path)} are reported on the far side of the ratio (vPu x "
                       f"{ratio:.6g})")

    # --- buses ---------------------------------------------------------------------------------
    bus_rows: Dict[str, Dict[str, Any]] = {}
    for b in order:
        bus_rows[b] = {"id": b, "pLoadKW": 0.0, "qLoadKVAr": 0.0, "qCapKVAr": 0.0, "pShuntKW": 0.0}

    def add(bus: str, key: str, value: float, element: str) -> None:
        if bus not in bus_rows:
            dropped.append(element)
            return
        bus_rows[bus][key] += value

    for element, bus, data in shunts:
        if bus not in kv:
            dropped.append(element)
            continue
        scale = (kv[bus] / data["kv"]) ** 2 if data["kv"] > 0 else 1.0
        for key in ("qCapKVAr", "pShuntKW"):
            if key in data:
                add(bus, key, data[key] * scale, element)
    for element, bus, p, q in injections:
        add(bus, "pLoadKW", p, element)
        add(bus, "qLoadKVAr", q, element)

    # --- lines ----------------------------------------------------------------------------------
    line_rows: List[Dict[str, Any]] = []
    if src_z is not None:
        virtual = f"{src.split('.', 1)[1].lower()}~source"
        zs = src_z * chain_scale.get(source_bus, 1.0) ** 2
        line_rows.append({"id": src, "from": virtual, "to": source_bus,
                          "rOhm": zs.real, "xOhm": zs.imag, "rateKVA": None,
                          "extra": {"kind": "vsource"}})
        substation = virtual
        kv[virtual] = src_kv
        bus_rows = {virtual: {"id": virtual, "pLoadKW": 0.0, "qLoadKVAr": 0.0, "qCapKVAr": 0.0,
                              "pShuntKW": 0.0}, **bus_rows}
    else:
        substation = source_bus
    for br in branches:
        if br["kind"] != "transformer" and br["b_total"] != 0.0 and sum(br["opened"]) == 1:
            # open at one end: the line hangs on the other as an open-ended pi section, whose
            # input admittance y/2 + (y/2)/(1 + z y/2) is (to (zy)^2) its whole charging
            live = br["b2"] if br["opened"][0] else br["b1"]
            if live in bus_rows:
                half = 1j * br["b_total"] / 2.0
                z = br["z"]
                y_in = half + half / (1.0 + z * half)
                bus_rows[live]["qCapKVAr"] += kv[live] ** 2 * 1000.0 * y_in.imag
        if br["b1"] not in kv or br["b2"] not in kv:
            dropped.append(br["name"])
            continue
        if br["kind"] == "transformer":
            t2 = br["taps"][1]
            z = br["zpu"] * br["kv2"] ** 2 / (br["kva"] / 1000.0) * t2 ** 2  # ohm on winding 2
            z = to_base(z, br["b2"])
            # magnetizing branch: OpenDSS connects it at the last winding (measured: at winding 1
            # the voltage behind the transformer is off by 6.5e-4 pu, at winding 2 it agrees)
            if br["closed"]:
                sc = (kv[br["b2"]] / (br["kv2"] * t2)) ** 2
                bus_rows[br["b2"]]["pShuntKW"] += br["noload_kw"] * sc
                bus_rows[br["b2"]]["qCapKVAr"] -= br["imag_kvar"] * sc
            rate = br["kva"] if ratings else None
        else:
            z = to_base(br["z"], br["b1"])
            if br["closed"] and br["b_total"] != 0.0:
                half = kv[br["b1"]] ** 2 * 1000.0 * br["b_total"] / 2.0
                bus_rows[br["b1"]]["qCapKVAr"] += half
                bus_rows[br["b2"]]["qCapKVAr"] += half
            rate = _SQRT3 * kv[br["b1"]] * br["amps"] if ratings and br["amps"] > 0 else None
        if br["closed"] and br["b1"] in chain_scale and br["b2"] in chain_scale:
            z *= (chain_scale[br["b2"]] if upstream.get(br["b2"], ("",))[0] == br["b1"]
                  else chain_scale[br["b1"]]) ** 2  # scaled by the ratios folded through it
        row = {"id": br["name"], "from": br["b1"], "to": br["b2"], "rOhm": z.real, "xOhm": z.imag,
               "rateKVA": rate, "closed": br["closed"], "switchable": br["switchable"],
               "extra": {"kind": br["kind"], "phases": br["phases"]}}
        if "bank" in br:
            row["extra"]["bank"] = br["bank"]
        line_rows.append(row)

    for b, ratio in chain_scale.items():  # a folded chain's shunts see vPu x ratio: keep power
        for key in ("qCapKVAr", "pShuntKW"):
            bus_rows[b][key] /= ratio ** 2

    buses = []
    for b, row in bus_rows.items():
        out = {"id": b}
        for key in ("pLoadKW", "qLoadKVAr", "qCapKVAr", "pShuntKW"):
            if row[key] != 0.0:
                out[key] = row[key]
        if out.get("pShuntKW", 0.0) < 0:
            raise OpenDSSImportError(f"bus {b}: a negative shunt conductance (a constant-impedance "
                                     f"load that generates) is not supported")
        out["extra"] = {"kV": kv[b]}
        buses.append(out)
    network: Dict[str, Any] = {"baseKV": base_kv, "substationBus": substation,
                               "vSubstationPu": v_sub, "buses": buses, "lines": line_rows}
    extra: Dict[str, Any] = {"source": "OpenDSS", "circuit": dss.Circuit.Name()}
    if chain_scale:
        extra["foldedTapRatio"] = chain_scale  # bus -> factor its reported vPu carries
    if r.notes:
        extra["notes"] = r.notes
    if dropped:
        extra["deenergized"] = sorted(set(dropped))
    network["extra"] = extra
    return network


def _line(r: _Reader, name: str, short: str, enabled: bool, buses: List[str], phases: int,
          omega: float) -> Dict[str, Any]:
    dss = r.dss
    dss.Lines.Name(short)
    r.check_phases(name, phases, "line")
    length = float(dss.Lines.Length())
    nc = int(round(math.sqrt(len(dss.Lines.RMatrix()))))
    rm, xm = _matrix(dss.Lines.RMatrix(), nc), _matrix(dss.Lines.XMatrix(), nc)
    cm = _matrix(dss.Lines.CMatrix(), nc)
    z = _kron([[complex(rm[i][j], xm[i][j]) * length for j in range(nc)] for i in range(nc)],
              phases)
    c = _kron([[complex(cm[i][j]) for j in range(nc)] for i in range(nc)], phases)
    z1 = _sequence_equivalent(z, phases)
    c1 = _sequence_equivalent(c, 3).real if phases == 3 else 0.0
    if phases < 3:  # keep the lateral's total charging: n conductors of zs - zm(n-1)/2 each
        c1 = (_sequence_equivalent(c, phases) * phases / 3.0).real * phases / 3.0
    b_total = omega * c1 * 1e-9 * length  # siemens per phase, both ends together
    opened = [bool(dss.CktElement.IsOpen(t, 0)) for t in (1, 2)] if enabled else [True, True]
    return {"name": name, "kind": "switch" if dss.Lines.IsSwitch() else "line",
            "b1": _bus(buses[0]), "b2": _bus(buses[1]), "closed": not any(opened),
            "opened": opened, "switchable": bool(dss.Lines.IsSwitch()), "phases": phases,
            "z": z1, "b_total": b_total, "amps": float(dss.Lines.NormAmps())}


def _transformer(r: _Reader, name: str, short: str, enabled: bool, buses: List[str],
                 phases: int) -> Dict[str, Any]:
    dss = r.dss
    dss.Transformers.Name(short)
    if int(dss.Transformers.NumWindings()) != 2:
        raise OpenDSSImportError(f"{name} has {dss.Transformers.NumWindings()} windings: esmarket "
                                 f"imports two-winding transformers only")
    w = []
    for k in (1, 2):
        dss.Transformers.Wdg(k)
        w.append((float(dss.Transformers.kV()), float(dss.Transformers.kVA()),
                  float(dss.Transformers.R()), float(dss.Transformers.Tap())))
    kva = w[0][1]
    opened = [bool(dss.CktElement.IsOpen(t, 0)) for t in (1, 2)] if enabled else [True, True]
    nodes = [n for n in _nodes(buses[0]) if n != 0] or [1, 2, 3][:phases]
    return {"name": name, "kind": "transformer", "b1": _bus(buses[0]), "b2": _bus(buses[1]),
            "closed": not any(opened), "opened": opened, "switchable": False, "phases": phases,
            "nodes": nodes, "kv1": w[0][0], "kv2": w[1][0], "kva": kva,
            "zpu": complex((w[0][2] + w[1][2]) / 100.0, float(dss.Transformers.Xhl()) / 100.0),
            "taps": (w[0][3], w[1][3]),
            "noload_kw": r.prop_float(name, "%noloadloss") / 100.0 * kva,
            "imag_kvar": r.prop_float(name, "%imag") / 100.0 * kva}


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _single_phase_transformers(r: _Reader, branches: List[Dict[str, Any]]) -> None:
    """Three identical 1-phase transformers between the same two buses, one per phase (a
    regulator or distribution bank), become one 3-phase transformer; any other 1- or 2-phase
    transformer is refused (or, balanced_equivalent, taken as one unit of such a bank)."""
    groups: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
    for br in branches:
        if br["kind"] == "transformer" and br["phases"] < 3:
            groups.setdefault((br["b1"], br["b2"]), []).append(br)
    for units in groups.values():
        first = units[0]
        names = "+".join(u["name"] for u in units)
        alike = (all(u["phases"] == 1 for u in units)
                 and all(_same(u[k], first[k]) for u in units
                         for k in ("kv1", "kv2", "kva", "noload_kw", "imag_kvar"))
                 and all(u["zpu"] == first["zpu"] and u["closed"] == first["closed"]
                         for u in units))
        full = len(units) == 3 and sorted(n for u in units for n in u["nodes"][:1]) == [1, 2, 3]
        if alike and len(units) > 1 and not full and r.unbalanced != "error":
            # an open-delta (or two-phase) bank: balanced_equivalent takes it as a full bank of
            # the same units (same per-unit impedance on three times one unit's kVA)
            r.notes.append(f"{names}: {len(units)} single-phase units taken as a full 3-phase "
                           f"bank of the same units")
            full = True
        if alike and full:
            taps = [u["taps"] for u in units]
            if any(not (_same(t[0], taps[0][0]) and _same(t[1], taps[0][1])) for t in taps):
                if r.unbalanced == "error":
                    raise OpenDSSImportError(
                        f"{names}: the bank's taps differ by phase "
                        f"({', '.join(f'{a:g}/{b:g}' for a, b in taps)}): "
                        f"esmarket is balanced; pass unbalanced='balanced_equivalent' to use "
                        f"their mean")
                mean = (sum(t[0] for t in taps) / len(taps), sum(t[1] for t in taps) / len(taps))
                r.notes.append(f"{names}: per-phase taps replaced by their mean "
                               f"{mean[0]:.6g}/{mean[1]:.6g}")
                taps = [mean]
            merged = dict(first, name=names, phases=3, taps=taps[0], kva=first["kva"] * 3,
                          noload_kw=first["noload_kw"] * 3, imag_kvar=first["imag_kvar"] * 3,
                          bank=[u["name"] for u in units])
            if len(first["nodes"]) == 1:  # phase-to-ground windings: their kV is line to neutral
                merged["kv1"], merged["kv2"] = first["kv1"] * _SQRT3, first["kv2"] * _SQRT3
            index = branches.index(first)
            for u in units:
                branches.remove(u)
            branches.insert(index, merged)
            continue
        for u in units:
            r.check_phases(u["name"], u["phases"], "transformer")
            scale = 3.0 / u["phases"]  # as one unit of a bank spread over three phases
            if u["phases"] == 1 and len(u["nodes"]) == 1:
                u["kv1"], u["kv2"] = u["kv1"] * _SQRT3, u["kv2"] * _SQRT3
            u.update(kva=u["kva"] * scale, noload_kw=u["noload_kw"] * scale,
                     imag_kvar=u["imag_kvar"] * scale)


def _load(r: _Reader, name: str, short: str, buses: List[str], phases: int,
          shunts: List[Tuple[str, str, Dict[str, float]]],
          injections: List[Tuple[str, str, float, float]]) -> None:
    dss = r.dss
    dss.Loads.Name(short)
    r.check_phases(name, phases, "load")
    model = int(dss.Loads.Model())
    mult = float(dss.Solution.LoadMult())
    kw, kvar = float(dss.Loads.kW()) * mult, float(dss.Loads.kvar()) * mult
    bus = _bus(buses[0])
    if model == 2:  # constant impedance: exactly a shunt (its kW/kvar at the load's rated kV)
        kv = _kv_ll(float(dss.Loads.kV()), phases, bool(dss.Loads.IsDelta()))
        shunts.append((name, bus, {"kv": kv, "pShuntKW": kw, "qCapKVAr": -kvar}))
        return
    if model != 1 and r.load_models == "error":
        raise OpenDSSImportError(
            f"{name} has load model {model}: esmarket imports model 1 (constant PQ) and 2 "
            f"(constant Z); pass load_models='constant_power' to take it at its rated kW/kvar")
    # OpenDSS turns a constant-power load into a constant impedance outside [Vminpu, Vmaxpu] of
    # its rated kV: say so when the solved circuit has such a load, esmarket keeps it constant.
    mags = dss.CktElement.VoltagesMagAng()[0::2][:phases]
    rated = float(dss.Loads.kV()) * 1000.0 / (_SQRT3 if phases > 1 or dss.Loads.IsDelta() else 1.0)
    if any(m > 0 for m in mags) and rated > 0 and dss.Solution.Converged():  # not de-energized
        v = sum(mags) / len(mags) / rated
        if not float(dss.Loads.Vminpu()) <= v <= float(dss.Loads.Vmaxpu()):
            band = f"{dss.Loads.Vminpu():g}/{dss.Loads.Vmaxpu():g}"
            warnings.warn(f"{name}: OpenDSS solved it at {v:.4f} pu, outside its Vminpu/Vmaxpu "
                          f"({band}) where OpenDSS models it as a constant impedance; esmarket "
                          f"keeps it constant power",
                          stacklevel=4)
    injections.append((name, bus, kw, kvar))
