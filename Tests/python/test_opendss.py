"""esmarket.from_opendss: circuits written here as DSS text, solved by OpenDSS, imported, and
solved again (1) by an independent backward/forward sweep written below and (2) by esmarket's
`power_flow` mechanism. Where the models are the same (balanced, constant PQ or constant Z,
positive sequence) the voltages agree to 1e-6 pu and the losses to 1e-4 relative; where they are
not (the Vsource impedance neglected, a transformer's antifloat reactance) the tests measure by
how much (docs/opendss.md quotes these figures).
"""
import cmath
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

odd = pytest.importorskip("opendssdirect")

import esmarket  # noqa: E402
from esmarket import OpenDSSImportError, from_opendss  # noqa: E402

VTOL = 1e-6      # pu
LOSS_RTOL = 1e-4  # relative
SCHEMA = Path(__file__).resolve().parents[2] / "schema"


def assert_valid(document, name):
    """An imported problem (name="problem") or its result validates against the contract."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMA / f"{name}.schema.json").read_text(encoding="utf-8"))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
              for e in jsonschema.Draft202012Validator(schema).iter_errors(document)]
    assert not errors, errors[:5]

HEAD = """clear
new circuit.{name} basekv=12.47 pu=1.02 phases=3 bus1=src MVAsc3=200 MVAsc1=180
set tolerance=1e-12
"""
TAIL = """set voltagebases=[12.47 4.16]
calcvoltagebases
"""

CIRCUITS = {
    # a 3-bus balanced line feeder with constant-PQ loads (vminpu lowered so that OpenDSS keeps
    # them constant PQ: below vminpu it switches a load to constant Z)
    "lines": """
new linecode.oh nphases=3 r1=0.3 x1=0.6 r0=0.8 x0=1.6 c1=0 c0=0 units=km
new line.l1 bus1=src bus2=b1 linecode=oh length=2 units=km
new line.l2 bus1=b1 bus2=b2 linecode=oh length=1500 units=m
new load.ld1 bus1=b1 phases=3 kv=12.47 kw=500 kvar=100 model=1 vminpu=0.8
new load.ld2 bus1=b2 phases=3 kv=12.47 kw=900 kvar=300 model=1 vminpu=0.8
""",
    # a 12.47/4.16 kV delta-wye transformer with magnetizing losses, a 4.16 kV capacitor and a
    # constant-impedance load
    "transformer": """
new linecode.oh nphases=3 r1=0.3 x1=0.6 r0=0.8 x0=1.6 units=km
new line.l1 bus1=src bus2=b1 linecode=oh length=1 units=km
new transformer.t1 phases=3 windings=2 buses=[b1 lv] conns=[delta wye] kvs=[12.47 4.16]
~ kvas=[1000 1000] xhl=6 %Rs=[0.6 0.6] %noloadloss=0.3 %imag=1 ppm_antifloat=0
new line.l2 bus1=lv bus2=lv2 r1=0.05 x1=0.08 c1=0 c0=0 length=1 units=km
new load.ld1 bus1=lv2 phases=3 kv=4.16 kw=600 kvar=250 model=1 vminpu=0.8
new load.ldz bus1=lv phases=3 kv=4.16 kw=100 kvar=30 model=2
new capacitor.c1 bus1=lv2 phases=3 kvar=300 kv=4.16
""",
    # an off-nominal tap on the transformer fed by the source bus (folded into vSubstationPu)
    "source_tap": """
new transformer.sub phases=3 windings=2 buses=[src lv] conns=[delta wye] kvs=[12.47 4.16]
~ kvas=[2000 2000] xhl=7 %Rs=[0.5 0.5] taps=[1.0 1.0375] %noloadloss=0.2 %imag=0.8 ppm_antifloat=0
new line.l1 bus1=lv bus2=lv1 r1=0.1 x1=0.2 length=1 units=km
new load.ld1 bus1=lv1 phases=3 kv=4.16 kw=1200 kvar=500 model=1 vminpu=0.8
""",
    # an underground cable feeder with line charging (C1), folded into bus shunts at both ends
    "charging": """
new linecode.cable nphases=3 units=km rmatrix=[0.25 | 0.05 0.25 | 0.05 0.05 0.25]
~ xmatrix=[0.15 | 0.03 0.15 | 0.03 0.03 0.15] cmatrix=[300 | -40 300 | -40 -40 300]
new line.c1 bus1=src bus2=b1 linecode=cable length=3 units=km
new line.c2 bus1=b1 bus2=b2 linecode=cable length=4 units=km
new line.c3 bus1=b1 bus2=b3 linecode=cable length=2500 units=m
new load.ld2 bus1=b2 phases=3 kv=12.47 kw=800 kvar=200 model=1 vminpu=0.8
new load.ld3 bus1=b3 phases=3 kv=12.47 kw=400 kvar=100 model=1 vminpu=0.8
""",
    # a PV system (its solved output is the generation) on a lightly loaded feeder
    "pv": """
new line.l1 bus1=src bus2=b1 r1=0.3 x1=0.6 length=2 units=km
new line.l2 bus1=b1 bus2=b2 r1=0.3 x1=0.6 length=2 units=km
new load.ld1 bus1=b1 phases=3 kv=12.47 kw=200 kvar=50 model=1 vminpu=0.8
new pvsystem.pv1 bus1=b2 phases=3 kv=12.47 pmpp=800 kva=900 irradiance=0.9 pf=0.98
new generator.g1 bus1=b1 phases=3 kv=12.47 kw=100 pf=1 model=1
""",
    # a 3-phase regulator at the substation under a RegControl: OpenDSS moves its tap while
    # solving, the importer reads the solved tap and folds it into vSubstationPu
    "regulator": """
new transformer.reg phases=3 windings=2 buses=[src rg] conns=[wye wye] kvs=[12.47 12.47]
~ kvas=[5000 5000] xhl=0.1 %loadloss=0.01 ppm_antifloat=0
new regcontrol.rc transformer=reg winding=2 vreg=124 band=1 ptratio=60
new line.l1 bus1=rg bus2=b1 r1=0.3 x1=0.6 c1=0 c0=0 length=3 units=km
new line.l2 bus1=b1 bus2=b2 r1=0.3 x1=0.6 c1=0 c0=0 length=3 units=km
new load.ld1 bus1=b1 phases=3 kv=12.47 kw=1500 kvar=600 model=1 vminpu=0.8
new load.ld2 bus1=b2 phases=3 kv=12.47 kw=1000 kvar=400 model=1 vminpu=0.8
""",
    # a bank of three single-phase regulators (wye, 7.2 kV windings) with equal fixed taps,
    # merged into one 3-phase transformer, behind a line and a capacitor: the tap is folded
    # through that unbranched chain
    "regulator_bank": """
new line.l0 bus1=src bus2=head r1=0.1 x1=0.3 length=1 units=km
new capacitor.c0 bus1=head phases=3 kvar=200 kv=12.47
new transformer.rega phases=1 windings=2 buses=[head.1 rg.1] kvs=[7.2 7.2] kvas=[1667 1667]
~ xhl=0.2 %loadloss=0.02 taps=[1 1.0125] ppm_antifloat=0
new transformer.regb like=rega buses=[head.2 rg.2] ppm_antifloat=0
new transformer.regc like=rega buses=[head.3 rg.3] ppm_antifloat=0
new line.l1 bus1=rg bus2=b1 r1=0.3 x1=0.6 length=3 units=km
new load.ld1 bus1=b1 phases=3 kv=12.47 kw=1500 kvar=600 model=1 vminpu=0.8
""",
    # a tie switch left open between two energized buses (kept, closed: false), a disabled line
    # and an open line feeding a dead section (both dropped with what hangs on them)
    "switches": """
new line.l1 bus1=src bus2=b1 r1=0.3 x1=0.6 length=1 units=km
new line.l2 bus1=b1 bus2=b2 r1=0.3 x1=0.6 length=1 units=km
new line.l3 bus1=b1 bus2=b3 r1=0.3 x1=0.6 length=1 units=km
new line.tie bus1=b2 bus2=b3 switch=yes
open line.tie 1
new line.dead bus1=b3 bus2=b4 r1=0.3 x1=0.6 length=1 units=km
open line.dead 2
new load.ld4 bus1=b4 phases=3 kv=12.47 kw=100 kvar=10
new line.off bus1=b2 bus2=b5 r1=0.3 x1=0.6 length=1 units=km enabled=no
new load.ld2 bus1=b2 phases=3 kv=12.47 kw=300 kvar=100 model=1 vminpu=0.8
new load.ld3 bus1=b3 phases=3 kv=12.47 kw=250 kvar=80 model=1 vminpu=0.8
""",
}


def dss_text(name):
    return HEAD.format(name=name) + CIRCUITS[name] + TAIL


def solve_opendss(text):
    """A private OpenDSS context with the circuit solved (snapshot)."""
    dss = odd.NewContext()
    for line in text.replace("\n~", " ").splitlines():
        if line.strip():
            dss.Text.Command(line.strip())
    dss.Solution.Solve()
    assert dss.Solution.Converged()
    return dss


def opendss_voltages(dss, network):
    """|V| in pu of each imported bus's nominal kV (mean over the three phases)."""
    out = {}
    present = set(dss.Circuit.AllBusNames())
    for bus in network["buses"]:
        if bus["id"] not in present:
            continue
        dss.Circuit.SetActiveBus(bus["id"])
        mags = dss.Bus.VMagAngle()[0::2][:3]
        out[bus["id"]] = sum(mags) / len(mags) / (bus["extra"]["kV"] * 1000 / math.sqrt(3))
    return out


def opendss_series_losses(dss, network):
    """kW lost in each imported branch's series impedance: OpenDSS's element losses, without a
    transformer's no-load loss (esmarket has it as the bus shunt pShuntKW), and the Vsource's
    internal loss (EMF power minus terminal power)."""
    out = {}
    for line in network["lines"]:
        name = line["id"]
        if line["extra"]["kind"] == "vsource":
            dss.Circuit.SetActiveElement(name)
            current = dss.CktElement.Currents()
            kv, pu = dss.Vsources.BasekV(), dss.Vsources.PU()
            angle = math.radians(dss.Vsources.AngleDeg())
            emf = pu * kv * 1000 / math.sqrt(3)
            p_emf = -sum((emf * cmath.exp(1j * (angle - 2 * math.pi / 3 * k))
                          * complex(current[2 * k], current[2 * k + 1]).conjugate()).real
                         for k in range(3)) / 1000
            p_terminal = -sum(dss.CktElement.Powers()[0:6:2])
            out[name] = p_emf - p_terminal
            continue
        if not line.get("closed", True):
            continue
        loss = 0.0
        for element in line["extra"].get("bank", [name]):  # a bank: its units' losses
            dss.Circuit.SetActiveElement(element)
            loss += dss.CktElement.Losses()[0] / 1000
            if line["extra"]["kind"] == "transformer":
                dss.Transformers.Name(element.split(".", 1)[1])
                dss.Transformers.Wdg(2)
                kva, tap = dss.Transformers.kVA(), dss.Transformers.Tap()
                dss.Text.Command(f"? {element}.%noloadloss")
                noload = float(dss.Text.Result()) / 100 * kva
                dss.Circuit.SetActiveBus(line["to"])
                v = sum(dss.Bus.puVmagAngle()[0::2][:3]) / 3 / tap
                loss -= noload * v * v
        out[name] = loss
    return out


def sweep(network, tol=1e-13):
    """Independent balanced power flow of an esmarket network document (backward/forward sweep,
    per unit on 1 MVA): {bus: |V|}, {line: series loss kW}, substation kW."""
    sbase = 1000.0
    zbase = network["baseKV"] ** 2 / (sbase / 1000.0)
    buses = {b["id"]: b for b in network["buses"]}
    adjacency = {}
    for line in network["lines"]:
        if line.get("closed", True):
            adjacency.setdefault(line["from"], []).append((line["to"], line))
            adjacency.setdefault(line["to"], []).append((line["from"], line))
    root = network["substationBus"]
    order, parent = [root], {root: None}
    for b in order:
        for other, line in adjacency.get(b, []):
            if other not in parent:
                parent[other] = (b, line)
                order.append(other)
    assert set(order) == set(buses), "the imported network is not one energized tree"
    v = {b: complex(network.get("vSubstationPu", 1.0)) for b in order}
    for _ in range(500):
        current = {}
        for b in order:
            d = buses[b]
            s = complex(d.get("pLoadKW", 0.0), d.get("qLoadKVAr", 0.0)) / sbase
            y = complex(d.get("pShuntKW", 0.0), d.get("qCapKVAr", 0.0)) / sbase
            current[b] = (s / v[b]).conjugate() + y * v[b]
        flow = {}
        for b in reversed(order[1:]):
            flow[b] = current[b]
            current[parent[b][0]] += current[b]
        new = dict(v)
        for b in order[1:]:
            p, line = parent[b]
            new[b] = new[p] - complex(line["rOhm"], line["xOhm"]) / zbase * flow[b]
        change = max(abs(new[b] - v[b]) for b in order)
        v = new
        if change < tol:
            break
    else:
        raise AssertionError("sweep did not converge")
    losses = {parent[b][1]["id"]: abs(flow[b]) ** 2 * parent[b][1]["rOhm"] / zbase * sbase
              for b in order[1:]}
    substation = (v[root] * current[root].conjugate()).real * sbase
    return {b: abs(x) for b, x in v.items()}, losses, substation


def reported_scale(network, bus):
    """A bus upstream of a folded tap is reported through its ratio (docs/opendss.md)."""
    return network["extra"].get("foldedTapRatio", {}).get(bus, 1.0)


def agreement(name, **kw):
    text = dss_text(name)
    doc = from_opendss(text, **kw)
    assert_valid(doc, "problem")
    network = doc["network"]
    dss = solve_opendss(text)
    v_dss = opendss_voltages(dss, network)
    v_ref, loss_ref, sub_ref = sweep(network)
    dv = max(abs(v_ref[b] - v_dss[b] * reported_scale(network, b)) for b in v_dss)
    loss_dss = opendss_series_losses(dss, network)
    total_dss, total_ref = sum(loss_dss.values()), sum(loss_ref[k] for k in loss_dss)
    return doc, dss, v_dss, v_ref, dv, loss_dss, loss_ref, total_dss, total_ref, sub_ref


@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_import_agrees_with_opendss(name):
    doc, dss, v_dss, v_ref, dv, loss_dss, loss_ref, total_dss, total_ref, _ = agreement(name)
    print(f"{name}: max |dV| {dv:.2e} pu, losses {total_ref:.6f} vs OpenDSS {total_dss:.6f} kW "
          f"(rel {abs(total_ref - total_dss) / total_dss:.2e})")
    assert len(v_dss) >= 3
    assert dv < VTOL
    for line, loss in loss_dss.items():
        assert loss_ref[line] == pytest.approx(loss, rel=LOSS_RTOL, abs=1e-9), line
    assert total_ref == pytest.approx(total_dss, rel=LOSS_RTOL)


def test_neglected_source_impedance_is_measured():
    """source_impedance=False: the Vsource bus becomes the slack at the Vsource's pu; the
    difference is the Thevenin drop (200 MVA short-circuit level, ~1.4 MW load: ~3.7e-3 pu)."""
    doc = from_opendss(dss_text("lines"), source_impedance=False)
    net = doc["network"]
    assert net["substationBus"] == "src" and net["vSubstationPu"] == 1.02
    assert not any(l["extra"]["kind"] == "vsource" for l in net["lines"])
    v_dss = opendss_voltages(solve_opendss(dss_text("lines")), net)
    v_ref, _, _ = sweep(net)
    dv = max(abs(v_ref[b] - v_dss[b]) for b in v_dss)
    print(f"Vsource impedance neglected: max |dV| {dv:.2e} pu")
    assert 1e-3 < dv < 1e-2
    # the same circuit with a stiff source (1e6 MVA) agrees again
    stiff = dss_text("lines").replace("MVAsc3=200 MVAsc1=180", "MVAsc3=1e9 MVAsc1=1e9")
    net = from_opendss(stiff, source_impedance=False)["network"]
    v_dss = opendss_voltages(solve_opendss(stiff), net)
    v_ref, _, _ = sweep(net)
    dv = max(abs(v_ref[b] - v_dss[b]) for b in v_dss)
    print(f"Vsource impedance neglected, 1e9 MVA source: max |dV| {dv:.2e} pu")
    assert dv < 1e-8


def test_antifloat_reactance_is_neglected():
    """A transformer's ppm_antifloat (default 1 ppm of its kVA to ground) is not imported: the
    voltages still agree to a few 1e-8 pu."""
    text = dss_text("transformer").replace("ppm_antifloat=0", "")
    net = from_opendss(text)["network"]
    v_dss = opendss_voltages(solve_opendss(text), net)
    v_ref, _, _ = sweep(net)
    dv = max(abs(v_ref[b] - v_dss[b]) for b in v_dss)
    print(f"ppm_antifloat=1 not imported: max |dV| {dv:.2e} pu")
    assert 0 < dv < 1e-7


UNTRANSPOSED = """
new linecode.601 nphases=3 units=mi
~ rmatrix=[0.3465 | 0.1560 0.3375 | 0.1580 0.1535 0.3414]
~ xmatrix=[1.0179 | 0.5017 1.0478 | 0.4236 0.3849 1.0348]
~ cmatrix=[6.2998 | -1.9958 5.9597 | -1.2595 -0.7417 5.6386]
new line.l1 bus1=src bus2=b1 linecode=601 length=1 units=mi
new line.l2 bus1=b1 bus2=b2 linecode=601 length=1 units=mi
new load.ld1 bus1=b1 phases=3 kv=12.47 kw=1500 kvar=600 model=1 vminpu=0.8
new load.ld2 bus1=b2 phases=3 kv=12.47 kw=1000 kvar=400 model=1 vminpu=0.8
"""


def test_untransposed_line_is_approximated_by_zs_minus_zm(monkeypatch):
    """IEEE 13's line code 601 (not transposed): OpenDSS's phases spread by ~1e-3 pu; their
    mean agrees with the positive-sequence model to a few 1e-6 pu, losses to ~3e-5."""
    monkeypatch.setitem(CIRCUITS, "untransposed", UNTRANSPOSED)
    doc, dss, v_dss, v_ref, dv, _, _, total_dss, total_ref, _ = agreement("untransposed")
    dss.Circuit.SetActiveBus("b2")
    phases = [m / (12.47e3 / math.sqrt(3)) for m in dss.Bus.VMagAngle()[0::2]]
    spread = max(abs(p - v_ref["b2"]) for p in phases)
    rel = abs(total_ref - total_dss) / total_dss
    print(f"untransposed: mean |dV| {dv:.2e} pu, phase spread {spread:.2e} pu, "
          f"losses rel {rel:.2e}")
    assert dv < 1e-5 and 1e-4 < spread < 1e-2 and rel < 1e-4


def test_constant_current_load_taken_as_constant_power():
    text = dss_text("lines").replace("model=1 vminpu=0.8", "model=5 vminpu=0.8")
    with pytest.raises(OpenDSSImportError, match=r"Load\.ld1 has load model 5"):
        from_opendss(text)
    net = from_opendss(text, load_models="constant_power")["network"]
    v_dss = opendss_voltages(solve_opendss(text), net)
    v_ref, _, _ = sweep(net)
    dv = max(abs(v_ref[b] - v_dss[b]) for b in v_dss)
    print(f"model 5 as constant power: max |dV| {dv:.2e} pu")
    assert 1e-5 < dv < 1e-3  # measured 7.4e-5 at 0.99-1.02 pu


def test_mapping_of_the_transformer_circuit():
    net = from_opendss(dss_text("transformer"))["network"]
    buses = {b["id"]: b for b in net["buses"]}
    lines = {l["id"]: l for l in net["lines"]}
    assert net["baseKV"] == 12.47 and net["substationBus"] == "source~source"
    assert buses["lv"]["extra"]["kV"] == pytest.approx(4.16)
    # 1000 kVA, 1.2 % + j6 % referred to 12.47 kV
    zb = 12.47 ** 2 / 1.0
    assert lines["Transformer.t1"]["rOhm"] == pytest.approx(0.012 * zb)
    assert lines["Transformer.t1"]["xOhm"] == pytest.approx(0.06 * zb)
    assert lines["Transformer.t1"]["rateKVA"] == 1000
    # 0.05 + j0.08 ohm at 4.16 kV keeps its per-unit value at 12.47 kV
    assert lines["Line.l2"]["rOhm"] == pytest.approx(0.05 * (12.47 / 4.16) ** 2)
    # magnetizing (0.3 % and 1 % of 1000 kVA) and the constant-Z load as shunts at lv
    assert buses["lv"]["pShuntKW"] == pytest.approx(3.0 + 100.0)
    assert buses["lv"]["qCapKVAr"] == pytest.approx(-10.0 - 30.0)
    assert buses["lv2"]["qCapKVAr"] == pytest.approx(300.0)
    assert buses["lv2"]["pLoadKW"] == 600 and buses["lv2"]["qLoadKVAr"] == 250


def test_solved_regulator_tap_is_folded_into_the_source():
    text = dss_text("regulator")
    dss = solve_opendss(text)
    dss.Transformers.Name("reg")
    dss.Transformers.Wdg(2)
    tap = dss.Transformers.Tap()
    assert tap > 1.0  # the RegControl raised it
    net = from_opendss(text)["network"]
    assert net["vSubstationPu"] == pytest.approx(1.02 * tap)
    assert any("Transformer.reg" in note for note in net["extra"]["notes"])


def test_single_phase_regulator_bank_is_one_transformer():
    net = from_opendss(dss_text("regulator_bank"))["network"]
    bank = next(l for l in net["lines"] if l["extra"]["kind"] == "transformer")
    assert bank["id"] == "Transformer.rega+Transformer.regb+Transformer.regc"
    assert bank["extra"]["bank"] == ["Transformer.rega", "Transformer.regb", "Transformer.regc"]
    assert bank["rateKVA"] == pytest.approx(3 * 1667)
    assert net["vSubstationPu"] == pytest.approx(1.02 * 1.0125)
    assert net["extra"]["foldedTapRatio"] == {"src": pytest.approx(1.0125),
                                              "head": pytest.approx(1.0125)}
    head = next(b for b in net["buses"] if b["id"] == "head")
    assert head["qCapKVAr"] == pytest.approx(200 / 1.0125 ** 2, rel=3e-3)  # + l0 charging
    regc = "like=rega buses=[head.3 rg.3] ppm_antifloat=0"
    unequal = dss_text("regulator_bank").replace(regc, regc + " taps=[1 1.025]")
    with pytest.raises(OpenDSSImportError, match=r"Transformer\.rega\+Transformer\.regb\+"
                                                 r"Transformer\.regc: the bank's taps differ"):
        from_opendss(unequal)
    single = dss_text("lines").replace(TAIL, "new transformer.one phases=1 windings=2 buses=[b2.1 "
                                             "x.1] kvs=[7.2 0.24] kvas=[50 50]\n" + TAIL)
    with pytest.raises(OpenDSSImportError, match=r"Transformer\.one is a 1-phase transformer"):
        from_opendss(single)


def test_mapping_of_switches():
    net = from_opendss(dss_text("switches"))["network"]
    lines = {l["id"]: l for l in net["lines"]}
    assert lines["Line.tie"]["closed"] is False and lines["Line.tie"]["switchable"] is True
    assert lines["Line.l1"]["closed"] is True and lines["Line.l1"]["switchable"] is False
    assert {"Line.dead", "Line.off", "Load.ld4"} <= set(net["extra"]["deenergized"])
    assert {b["id"] for b in net["buses"]} == {"source~source", "src", "b1", "b2", "b3"}
    # a disabled line between two energized buses is kept, open
    text = dss_text("switches").replace(TAIL, "new line.spare bus1=b2 bus2=b3 r1=0.2 x1=0.4 "
                                              "length=1 units=km enabled=no\n" + TAIL)
    spare = next(l for l in from_opendss(text)["network"]["lines"] if l["id"] == "Line.spare")
    assert spare["closed"] is False and spare["switchable"] is False
    assert spare["rOhm"] == pytest.approx(0.2) and spare["xOhm"] == pytest.approx(0.4)


def test_line_charging_is_split_between_both_ends():
    net = from_opendss(dss_text("charging"))["network"]
    buses = {b["id"]: b for b in net["buses"]}
    omega = 2 * math.pi * 60
    c1 = (300 + 40) * 1e-9  # cs - cm, F per km
    q = lambda km: 12.47 ** 2 * 1000 * omega * c1 * km / 2  # kVAr at each end at 1 pu
    assert buses["b2"]["qCapKVAr"] == pytest.approx(q(4))
    assert buses["b1"]["qCapKVAr"] == pytest.approx(q(3) + q(4) + q(2.5))
    assert buses["src"]["qCapKVAr"] == pytest.approx(q(3))


def test_pv_and_generator_are_generation():
    net = from_opendss(dss_text("pv"))["network"]
    buses = {b["id"]: b for b in net["buses"]}
    assert buses["b2"]["pLoadKW"] == pytest.approx(-720.0, rel=1e-3)  # 800 kW x 0.9 sun
    assert buses["b2"]["qLoadKVAr"] < 0  # pf 0.98 producing vars
    assert buses["b1"]["pLoadKW"] == pytest.approx(200.0 - 100.0)


# --- esmarket's own power flow -----------------------------------------------------------------
def esmarket_power_flow(doc):
    try:
        return esmarket.clear(doc)
    except esmarket.EsmarketError as e:
        if e.path == "mechanism":
            pytest.skip(f"this libesmarket has no power_flow mechanism ({e})")
        raise


@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_esmarket_power_flow_agrees_with_opendss(name):
    doc, dss, v_dss, v_ref, dv, loss_dss, _, total_dss, _, sub_ref = agreement(name)
    result = esmarket_power_flow(doc)
    assert result.status == "solved", result.message
    assert_valid(result.document, "result")
    v = {row["id"]: row["vPu"] for row in result.buses}
    dv = max(abs(v[b] - v_dss[b] * reported_scale(doc["network"], b)) for b in v_dss)
    loss = {row["id"]: row["lossKW"] for row in result.lines}
    total = sum(loss[k] for k in loss_dss)
    print(f"{name}: esmarket power_flow vs OpenDSS max |dV| {dv:.2e} pu, losses {total:.6f} vs "
          f"{total_dss:.6f} kW (rel {abs(total - total_dss) / total_dss:.2e})")
    assert dv < VTOL
    assert total == pytest.approx(total_dss, rel=LOSS_RTOL)
    # lossesKW = series losses + shunt conductances (docs/mechanisms.md, power_flow)
    shunt = sum(b.get("pShuntKW", 0.0) * v[b["id"]] ** 2 for b in doc["network"]["buses"])
    assert result["shuntLossKW"] == pytest.approx(shunt, rel=1e-9, abs=1e-12)
    assert result["lossesKW"] == pytest.approx(sum(loss.values()) + shunt, rel=1e-9)
    assert result["substationKW"] == pytest.approx(sub_ref, rel=1e-6)


def test_power_flow_with_prosumers_matches_opendss_with_the_same_loads():
    """Prosumers given to from_opendss add their net demand at their bus: the same as an
    OpenDSS load of loadKW - pvKW, qLoadKVAr there."""
    prosumers = [{"id": "h1", "bus": "b2", "loadKW": 50.0, "pvKW": 20.0, "qLoadKVAr": 5.0},
                 {"id": "h2", "bus": "b1", "loadKW": 10.0, "pvKW": 60.0, "qLoadKVAr": -3.0}]
    doc = from_opendss(dss_text("lines"), prosumers=prosumers)
    result = esmarket_power_flow(doc)
    assert result.status == "solved", result.message
    extra = ("new load.h1 bus1=b2 phases=3 kv=12.47 kw=30 kvar=5 vminpu=0.8\n"
             "new load.h2 bus1=b1 phases=3 kv=12.47 kw=-50 kvar=-3 vminpu=0.8\n")
    text = dss_text("lines").replace(TAIL, extra + TAIL)
    v_dss = opendss_voltages(solve_opendss(text), doc["network"])
    v = {row["id"]: row["vPu"] for row in result.buses}
    assert max(abs(v[b] - v_dss[b]) for b in v_dss) < VTOL


@pytest.mark.parametrize("name,near,far", [("lines", "b1", "b2"), ("transformer", "lv", "lv2")])
def test_market_clears_on_an_imported_circuit(name, near, far):
    """social_optimum with two flexible prosumers on an imported circuit (the transformer one
    carries shunt conductances and reactors): each prosumer's marginal cost meets its bus's
    locational price (both are interior by construction: 0.05 + 0.02 p = ~0.12 at p ~ 3.5 kW)."""
    prosumers = [
        {"id": "home1", "bus": near, "loadKW": 40.0, "pvKW": 10.0,
         "flex": {"minKW": 0.0, "maxKW": 30.0, "costA": 0.02, "costB": 0.05}},
        {"id": "home2", "bus": far, "loadKW": 25.0,
         "flex": {"minKW": -10.0, "maxKW": 20.0, "costA": 0.03, "costB": 0.04}},
    ]
    doc = from_opendss(dss_text(name), mechanism="social_optimum", prosumers=prosumers,
                       grid={"buyPrice": 0.30, "sellPrice": 0.05, "substationPrice": 0.12},
                       v_min_pu=0.9, v_max_pu=1.1)
    assert_valid(doc, "problem")
    result = esmarket.clear(doc)
    assert result.status == "solved", result.message
    assert_valid(result.document, "result")
    flex = {p["id"]: p["flexKW"] for p in result.prosumers}
    prices = {b["id"]: b["price"] for b in result.buses}
    for p in prosumers:
        f = p["flex"]
        assert f["minKW"] + 0.1 < flex[p["id"]] < f["maxKW"] - 0.1, (p["id"], flex[p["id"]])
        marginal = f["costA"] * flex[p["id"]] + f["costB"]
        assert marginal == pytest.approx(prices[p["bus"]], abs=1e-5), p["id"]
    assert prices[far] > prices[near] > 0.12  # losses raise the price down the feeder
    print(f"{name}: prices {near} {prices[near]:.6f}, {far} {prices[far]:.6f}; flex {flex}")


# --- inputs: file, commands, an existing context; the optional dependency -------------------------
def test_sources_file_commands_and_context(tmp_path):
    text = dss_text("lines")
    path = tmp_path / "feeder.dss"
    path.write_text(text.replace("clear\n", ""))
    from_text = from_opendss(text)
    assert from_opendss(path) == from_text
    assert from_opendss(str(path)) == from_text
    assert from_opendss([l for l in text.splitlines()]) == from_text
    dss = solve_opendss(text)
    assert from_opendss(dss) == from_text
    with pytest.raises(FileNotFoundError):
        from_opendss(str(tmp_path / "missing.dss"))


def test_import_esmarket_does_not_import_opendssdirect():
    code = "import sys, esmarket; print('opendssdirect' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_opendssdirect_is_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "opendssdirect", None)
    with pytest.raises(ImportError, match="pip install OpenDSSDirect.py"):
        from_opendss(dss_text("lines"))


# --- what esmarket cannot model: errors that name the element -----------------------------------
ERRORS = {
    "meshed": ("new line.l3 bus1=b2 bus2=src r1=0.3 x1=0.6 length=1 units=km",
               r"Line\.l3 closes a loop"),
    "single_phase_load": ("new load.one bus1=b2.1 phases=1 kv=7.2 kw=50",
                          r"Load\.one is a 1-phase load"),
    "single_phase_line": ("new line.lat bus1=b2.2 bus2=b9.2 phases=1 r1=0.3 x1=0.6 length=1",
                          r"Line\.lat is a 1-phase line"),
    "load_model": ("new load.ci bus1=b2 phases=3 kv=12.47 kw=50 model=5",
                   r"Load\.ci has load model 5"),
    "three_winding": ("new transformer.t3 phases=3 windings=3 buses=[b2 x y] kvs=[12.47 4.16 0.48]"
                      " kvas=[500 500 500]", r"Transformer\.t3 has 3 windings"),
    "tap_behind_a_branch": ("new transformer.t2 phases=3 windings=2 buses=[b1 lv] kvs=[12.47 4.16]"
                            " kvas=[500 500] taps=[1 1.05]",
                            r"Transformer\.t2 has an off-nominal tap \(1/1\.05\) where the "
                            r"feeder branches upstream \(at bus b1\)"),
    "second_source": ("new vsource.other bus1=b2 basekv=12.47", r"Vsource\.other is a second"),
    "isource": ("new isource.inj bus1=b2 amps=5", r"Isource\.inj: element class"),
    "series_capacitor": ("new capacitor.sc bus1=b1 bus2=b2 kvar=300 kv=12.47",
                         r"Capacitor\.sc is a series capacitor"),
    "pv_bus_generator": ("new generator.pvg bus1=b2 kv=12.47 kw=100 model=3",
                         r"Generator\.pvg is a voltage-regulating"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_unsupported_elements_are_named(case):
    line, message = ERRORS[case]
    text = dss_text("lines").replace(TAIL, line + "\n" + TAIL)
    with pytest.raises(OpenDSSImportError, match=message):
        from_opendss(text)


def test_load_outside_its_constant_power_band_is_a_warning():
    """OpenDSS models a constant-PQ load as constant Z below its Vminpu (0.95 by default):
    the importer keeps constant power and warns, naming the load."""
    text = dss_text("lines").replace("kw=900 kvar=300 model=1 vminpu=0.8", "kw=900 kvar=300")
    text = text.replace("pu=1.02", "pu=0.96")
    with pytest.warns(UserWarning, match=r"Load\.ld2: OpenDSS solved it at 0\.9[0-4]\d+ pu"):
        from_opendss(text)


def test_balanced_equivalent_of_a_single_phase_lateral():
    """unbalanced='balanced_equivalent': the built-in feeders' rule, a 1-phase lateral's
    conductor impedance times 3 and its load summed as if spread over three phases."""
    text = dss_text("lines").replace(TAIL, "new line.lat bus1=b2.2 bus2=b9.2 phases=1 r1=0.3 "
                                           "x1=0.6 length=1 units=km\n"
                                           "new load.one bus1=b9.2 phases=1 kv=7.2 kw=50 kvar=10\n"
                                     + TAIL)
    net = from_opendss(text, unbalanced="balanced_equivalent")["network"]
    lat = next(l for l in net["lines"] if l["id"] == "Line.lat")
    assert (lat["rOhm"], lat["xOhm"]) == (pytest.approx(0.9), pytest.approx(1.8))
    assert lat["extra"]["phases"] == 1
    b9 = next(b for b in net["buses"] if b["id"] == "b9")
    assert (b9["pLoadKW"], b9["qLoadKVAr"]) == (50, 10)
    # the lateral's own drop is kept; the unbalance it causes upstream is not
    dss = solve_opendss(text)
    v_ref, _, _ = sweep(net)
    dss.Circuit.SetActiveBus("b2")
    b2_phase2 = dss.Bus.puVmagAngle()[2]
    dss.Circuit.SetActiveBus("b9")
    b9_dss = dss.Bus.puVmagAngle()[0]
    drop_dss, drop_ref = b2_phase2 - b9_dss, v_ref["b2"] - v_ref["b9"]
    print(f"1-phase lateral: drop {drop_ref:.6f} vs OpenDSS {drop_dss:.6f} pu, "
          f"|V| at its end {v_ref['b9']:.6f} vs {b9_dss:.6f}")
    assert drop_ref == pytest.approx(drop_dss, rel=2e-2)
