"""Independent reference model of two_layer_voltage (spec: two_layer_voltage.md §3.2-3.10).

Written from the spec's equations, not from esmarket's code, with its own per-unit system
(by default a power of ten near the instance's total kW, ``auto_base``: the conic solvers'
accuracy depends on the scaling; the spec's hand numbers use 100 kVA, which only changes the
per-unit values, not the physics), its own tree orientation (breadth first from the substation) and kW /
currency units for the market part.

Three parts:

(a) Lower layer, numpy only (§3.5-3.7)
    * ``prosumer_kinks``, ``prosumer_breakpoints``: L_j, U_j and beta^1..beta^4 of every prosumer;
    * ``Community.phi``: a prosumer's sharing quantity x_j = phi_j(pi) at a sharing price pi;
    * ``Community.sweep`` / ``equilibrium``: the L-ESM equilibrium at an upper price pi_0 by the
      exact breakpoint sweep of H(pi) = pi + a sum_j phi_j(pi) (method="sweep") or by bisection
      (method="bisection");
    * ``Community.table``: the best-response table on [pi_min, pi_max] - pieces in pi_0 with
      their end points (Psi) and the affine pi, X, G and quadratic C coefficients.

(b) Upper layer (§3.8-3.9): the single-level MISOCP in CVXPY - one binary z per piece, copies
    w of pi_0, perspective rotated cones s z >= w^2 for the quadratic cost - with the SOC
    branch-flow network: P, Q, v, l per line, voltage limits, passive bus loads, capacitors
    (qCapKVAr v^2), thermal limits of rated lines, zero-impedance lines (v_j = v_par, no l).
    Objective SC = pi_g * P_0 (kW) + sum_i C_i. ``solve_upper(market, solver="SCIP")`` solves it
    with SCIP (binaries; ``time_limit`` seconds) and then, by default, polishes the continuous
    part with Clarabel at tight tolerances with every community fixed on the piece SCIP chose;
    ``solver="CLARABEL"`` relaxes the binaries to [0, 1].

(c) An exact AC power flow by forward/backward sweep on complex voltages and branch currents
    (``ac_power_flow``), for verification.

Mapping from an esmarket problem document (api.md §2), ``Market.from_problem``: pi+ =
grid.buyPrice, pi- = grid.sellPrice, pi_g = grid.substationPrice (absent: import valued at
buyPrice, export at sellPrice); prosumer j: D_j = loadKW - pvKW, p in [flex.minKW, flex.maxKW],
c = flex.costA, b = flex.costB (no flex: p fixed at 0); a_i = communities[i].sensitivity; a
community sits at communities[i].bus with reactive demand Q_i^L = sum of its members' qLoadKVAr;
the buses' own pLoadKW/qLoadKVAr are passive loads; network {"builtin": name, ...overrides}
reads the embedded feeder from Sources/ESMGrid/BuiltinFeeders.swift; voltage limits at every bus
but the substation; pi_0 range = options.upperPriceRange or [sellPrice, buyPrice].
"""
from __future__ import annotations

import math
import time
import warnings
from collections import deque
from pathlib import Path

import numpy as np

from feeder_documents import network_document

REPO = Path(__file__).resolve().parents[2]
S_BASE_KVA = None        # None: auto_base(problem)

# ---------------------------------------------------------------------------------------------
# (a) lower layer
# ---------------------------------------------------------------------------------------------


def prosumer_kinks(c, b, pmin, pmax, sell, buy):
    """L_j, U_j of §3.5: the clamped outputs at which the marginal cost meets pi- and pi+."""
    c, b = np.asarray(c, float), np.asarray(b, float)
    pmin, pmax = np.asarray(pmin, float), np.asarray(pmax, float)
    pos = c > 0
    safe = np.where(pos, c, 1.0)
    L = np.where(pos, np.clip((sell - b) / safe, pmin, pmax), np.where(sell > b, pmax, pmin))
    U = np.where(pos, np.clip((buy - b) / safe, pmin, pmax), np.where(buy > b, pmax, pmin))
    return L, U


def prosumer_breakpoints(c, b, D, pmin, pmax, a, sell, buy):
    """(N, 4) array of beta^1..beta^4 (§3.5) and L, U. Where L_j = U_j the middle regimes
    collapse: beta^2 = beta^3 = beta^1 (so only beta^1 and beta^4 are distinct)."""
    c, b, D = (np.asarray(v, float) for v in (c, b, D))
    L, U = prosumer_kinks(c, b, pmin, pmax, sell, buy)
    km, kp = L - D, U - D
    b1 = sell + a * km
    b2 = c * L + b + a * km
    b3 = c * U + b + a * kp
    b4 = buy + a * kp
    collapsed = L >= U
    b2 = np.where(collapsed, b1, b2)
    b3 = np.where(collapsed, b1, b3)
    return np.stack([b1, b2, b3, b4], axis=1), L, U


class Community:
    """One L-ESM: its prosumers' data as arrays, its sensitivity a, the retail prices."""

    def __init__(self, c, b, D, pmin, pmax, a, sell, buy, qload=0.0, ident="c", bus=None,
                 prosumer_ids=None):
        self.c = np.asarray(c, float).ravel()
        self.b = np.asarray(b, float).ravel()
        self.D = np.asarray(D, float).ravel()
        self.pmin = np.asarray(pmin, float).ravel()
        self.pmax = np.asarray(pmax, float).ravel()
        n = len(self.D)
        for name in ("c", "b", "pmin", "pmax"):
            v = getattr(self, name)
            if v.size == 1 and n != 1:
                setattr(self, name, np.full(n, float(v[0])))
        if a <= 0:
            raise ValueError("the sensitivity a must be positive")
        if not sell < buy:
            raise ValueError("needs sellPrice < buyPrice")
        self.a, self.sell, self.buy = float(a), float(sell), float(buy)
        self.qload = float(np.sum(qload))
        self.id, self.bus = ident, bus
        self.prosumer_ids = prosumer_ids if prosumer_ids is not None else [f"{ident}.{k}" for k in range(n)]
        self.beta, self.L, self.U = prosumer_breakpoints(self.c, self.b, self.D, self.pmin, self.pmax,
                                                         self.a, self.sell, self.buy)
        self.collapsed = self.L >= self.U
        self._sweep = None

    @property
    def n(self):
        return len(self.D)

    # -- one prosumer's response ----------------------------------------------------------------
    def breakpoint_set(self):
        """Sorted distinct prosumer breakpoints (beta^2, beta^3 omitted where they collapse)."""
        vals = [self.beta[:, 0], self.beta[:, 3], self.beta[~self.collapsed, 1], self.beta[~self.collapsed, 2]]
        return np.unique(np.concatenate(vals))

    def regimes(self, pi):
        """Regime index 0..4 of every prosumer at sharing price pi (§3.5 table rows);
        pi may be an array (K,) -> (K, N)."""
        pi = np.asarray(pi, float)[..., None]
        b1, b2, b3, b4 = (self.beta[:, k] for k in range(4))
        return np.select([pi <= b1, pi <= b2, pi <= b3, pi <= b4], [0, 1, 2, 3], 4)

    def affine(self, regime):
        """x_j = alpha_j + s_j pi in the given regimes (same shape as regime)."""
        a, c, b, D = self.a, self.c, self.b, self.D
        km, kp = self.L - D, self.U - D
        alpha_rows = np.stack([np.full_like(D, -self.sell / a), km, -(b + c * D) / (c + a), kp,
                               np.full_like(D, -self.buy / a)])
        slope_rows = np.stack([np.full_like(D, 1 / a), np.zeros_like(D), 1 / (c + a), np.zeros_like(D),
                               np.full_like(D, 1 / a)])
        cols = np.broadcast_to(np.arange(self.n), regime.shape)
        return alpha_rows[regime, cols], slope_rows[regime, cols]

    def phi(self, pi):
        """x_j = phi_j(pi) for every prosumer (pi scalar -> (N,), array (K,) -> (K, N))."""
        pi_arr = np.asarray(pi, float)
        alpha, s = self.affine(self.regimes(pi_arr))
        return alpha + s * pi_arr[..., None]

    def dispatch(self, x):
        """p, p+, p- of every prosumer for shared exports x (§3.5 clamp formulas)."""
        y = self.D + x
        p = np.clip(y, self.L, self.U)
        return p, np.maximum(y - self.U, 0.0), np.maximum(self.L - y, 0.0)

    def H(self, pi):
        """H(pi) = pi + a sum_j phi_j(pi) (§3.6), direct evaluation."""
        pi_arr = np.asarray(pi, float)
        return pi_arr + self.a * np.sum(self.phi(pi_arr), axis=-1)

    # -- §3.6: the equilibrium --------------------------------------------------------------------
    def sweep(self):
        """Exact breakpoint sweep of H: knots t (sorted distinct breakpoints), Psi = H(t) and the
        slopes of H left of t[0], between the knots and right of t[-1]."""
        if self._sweep is None:
            a, n = self.a, self.n
            inner = a / (self.c + a)
            pos = [self.beta[:, 0], self.beta[:, 3]]
            delta = [np.full(n, -1.0), np.full(n, 1.0)]
            keep = ~self.collapsed
            pos += [self.beta[keep, 1], self.beta[keep, 2]]
            delta += [inner[keep], -inner[keep]]
            pos, delta = np.concatenate(pos), np.concatenate(delta)
            t, inverse = np.unique(pos, return_inverse=True)
            dsum = np.zeros(len(t))
            np.add.at(dsum, inverse, delta)
            slopes = np.concatenate([[1.0 + n], 1.0 + n + np.cumsum(dsum)])
            psi = np.empty(len(t))
            psi[0] = (1.0 + n) * t[0] - n * self.sell          # everybody in regime 0 left of t[0]
            psi[1:] = psi[0] + np.cumsum(slopes[1:-1] * np.diff(t))
            self._sweep = (t, psi, slopes)
        return self._sweep

    def sharing_price(self, pi0, method="sweep", tol=1e-15):
        """The L-ESM's sharing price pi at upper price pi0: the root of H(pi) = pi0."""
        if method == "sweep":
            t, psi, slopes = self.sweep()
            k = int(np.searchsorted(psi, pi0))
            if k == 0:
                return t[0] - (psi[0] - pi0) / slopes[0]
            return t[k - 1] + (pi0 - psi[k - 1]) / slopes[k]
        if method == "bisection":
            lo, hi, width = pi0 - 1.0, pi0 + 1.0, 1.0
            while self.H(lo) > pi0:
                width *= 2
                lo = pi0 - width
            width = 1.0
            while self.H(hi) < pi0:
                width *= 2
                hi = pi0 + width
            for _ in range(400):
                mid = 0.5 * (lo + hi)
                if self.H(mid) < pi0:
                    lo = mid
                else:
                    hi = mid
                if hi - lo <= tol * max(1.0, abs(mid)):
                    break
            return 0.5 * (lo + hi)
        raise ValueError(method)

    def equilibrium(self, pi0, method="sweep"):
        """The L-ESM's Nash equilibrium at upper price pi0 (§3.6): dict with pi, x, X, p,
        pplus, pminus, G, C, lam (prosumers' marginal costs pi - a x), surplus a X^2."""
        pi = self.sharing_price(pi0, method)
        x = self.phi(pi)
        p, pplus, pminus = self.dispatch(x)
        X = (pi0 - pi) / self.a
        cost = 0.5 * self.c * p * p + self.b * p
        return {"pi0": float(pi0), "pi": float(pi), "x": x, "X": float(X), "Xsum": float(np.sum(x)),
                "p": p, "pplus": pplus, "pminus": pminus, "G": float(np.sum(p - self.D)),
                "C": float(np.sum(cost)), "lam": pi - self.a * x, "surplus": self.a * X * X,
                "prosumer_cost": cost + self.buy * pplus - self.sell * pminus - pi * x}

    # -- §3.7: the best-response table ------------------------------------------------------------
    def table(self, lo, hi, merge=1e-12):
        """Best-response table on pi_0 in [lo, hi] (§3.7)."""
        t, psi, _ = self.sweep()
        inner = psi[(psi > lo) & (psi < hi)]
        edges = np.concatenate([[lo], inner, [hi]])
        keep = np.concatenate([[True], np.diff(edges) > merge * (1.0 + np.abs(edges[1:]))])
        keep[-1] = True
        edges = edges[keep]
        if len(edges) > 2 and edges[-1] - edges[-2] <= merge * (1.0 + abs(edges[-1])):
            edges = np.delete(edges, -2)
        return ResponseTable(self, edges)

    # -- checks ----------------------------------------------------------------------------------
    def g(self, y):
        """g_j(y) of §3.5 for every prosumer (y: (N,) or (K, N))."""
        p = np.clip(y, self.L, self.U)
        return (0.5 * self.c * p * p + self.b * p + self.buy * np.maximum(y - self.U, 0)
                - self.sell * np.maximum(self.L - y, 0))

    def unilateral_gain(self, pi0, x, span=5.0, points=2001):
        """Largest cost decrease any prosumer reaches by changing only its own x_j (grid scan of
        x_j +/- span, the others fixed): <= 0 at a Nash equilibrium (§7 T4a)."""
        x = np.asarray(x, float)
        X = np.sum(x)
        trial = x[None, :] + np.linspace(-span, span, points)[:, None]
        price_now = pi0 - self.a * X
        now = self.g(self.D + x) - price_now * x
        others = X - x
        price = pi0 - self.a * (others[None, :] + trial)
        cost = self.g(self.D[None, :] + trial) - price * trial
        return float(np.max(now - cost.min(axis=0)))


class ResponseTable:
    """Pieces k of a community's best response on [edges[k], edges[k+1]] (§3.7):
    pi = rho0 + rho1 pi0, X = chi0 + chi1 pi0, G = g0 + g1 pi0, C = gam0 + gam1 pi0 + gam2 pi0^2."""

    def __init__(self, community, edges):
        self.community = community
        self.edges = np.asarray(edges, float)
        self.lo, self.hi = self.edges[:-1], self.edges[1:]
        cm = community
        mid0 = 0.5 * (self.lo + self.hi)
        mid_pi = np.array([cm.sharing_price(v) for v in mid0])
        regime = cm.regimes(mid_pi)                                   # (K, N)
        alpha, s = cm.affine(regime)
        A = cm.a * alpha.sum(axis=1)
        B = 1.0 + cm.a * s.sum(axis=1)
        self.rho1, self.rho0 = 1.0 / B, -A / B
        x0 = alpha + s * self.rho0[:, None]
        x1 = s * self.rho1[:, None]
        self.chi0, self.chi1 = x0.sum(axis=1), x1.sum(axis=1)
        interior = regime == 2
        low = regime <= 1
        p0 = np.where(interior, cm.D + x0, np.where(low, cm.L, cm.U))
        p1 = np.where(interior, x1, 0.0)
        self.g0 = (p0 - cm.D).sum(axis=1)
        self.g1 = p1.sum(axis=1)
        self.gam0 = (0.5 * cm.c * p0 * p0 + cm.b * p0).sum(axis=1)
        self.gam1 = (cm.c * p0 * p1 + cm.b * p1).sum(axis=1)
        self.gam2 = (0.5 * cm.c * p1 * p1).sum(axis=1)
        self.regime = regime

    @property
    def K(self):
        return len(self.lo)

    @property
    def psi(self):
        """Interior breakpoints Psi_k of the table."""
        return self.edges[1:-1]

    def piece(self, pi0):
        return int(np.clip(np.searchsorted(self.edges, pi0, side="right") - 1, 0, self.K - 1))

    def evaluate(self, pi0, k=None):
        k = self.piece(pi0) if k is None else k
        return {"pi": self.rho0[k] + self.rho1[k] * pi0, "X": self.chi0[k] + self.chi1[k] * pi0,
                "G": self.g0[k] + self.g1[k] * pi0,
                "C": self.gam0[k] + self.gam1[k] * pi0 + self.gam2[k] * pi0 * pi0}

    def rows(self):
        """The table as a list of dicts (one per piece)."""
        return [{"lo": self.lo[k], "hi": self.hi[k], "rho0": self.rho0[k], "rho1": self.rho1[k],
                 "chi0": self.chi0[k], "chi1": self.chi1[k], "g0": self.g0[k], "g1": self.g1[k],
                 "gam0": self.gam0[k], "gam1": self.gam1[k], "gam2": self.gam2[k]} for k in range(self.K)]

    def level_set(self, G, tol=1e-9):
        """[lo, hi]: the upper prices in the table's range at which the injection equals G
        (G is non-decreasing in pi0, so this is an interval; a point where G is strictly rising,
        a longer interval on flat pieces, where C and the network are the same everywhere)."""
        gl = self.g0 + self.g1 * self.lo
        gh = self.g0 + self.g1 * self.hi
        scale = tol * max(1.0, abs(G))
        below = np.nonzero(gh >= G - scale)[0]
        above = np.nonzero(gl <= G + scale)[0]
        if not len(below) or not len(above):
            return None
        k, m = below[0], above[-1]
        lo = self.lo[k] if self.g1[k] <= 0 or gl[k] >= G - scale else (G - self.g0[k]) / self.g1[k]
        hi = self.hi[m] if self.g1[m] <= 0 or gh[m] <= G + scale else (G - self.g0[m]) / self.g1[m]
        return max(lo, self.lo[0]), min(max(hi, lo), self.hi[-1])


def potential_program(community, pi0):
    """The L-ESM's equivalent convex program of §3.4 solved by CVXPY + Clarabel (T4b)."""
    import cvxpy as cp
    cm = community
    n = cm.n
    p, x = cp.Variable(n), cp.Variable(n)
    pp, pm = cp.Variable(n, nonneg=True), cp.Variable(n, nonneg=True)
    X = cp.sum(x)
    obj = (0.5 * cp.sum(cp.multiply(cm.c, cp.square(p))) + cm.b @ p + cm.buy * cp.sum(pp) - cm.sell * cp.sum(pm)
           - pi0 * X + 0.5 * cm.a * cp.square(X) + 0.5 * cm.a * cp.sum_squares(x))
    cons = [p >= cm.pmin, p <= cm.pmax, cm.D + x + pm == p + pp]
    prob = cp.Problem(cp.Minimize(obj), cons)
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12, max_iter=500)
    return {"status": prob.status, "x": np.asarray(x.value), "p": np.asarray(p.value)}


# ---------------------------------------------------------------------------------------------
# Instance data (network and market) from an esmarket problem document
# ---------------------------------------------------------------------------------------------



def auto_base(problem, network_doc=None):
    """Power base (kVA): the power of ten nearest (in log scale) to the instance's total active
    power: passive loads + prosumers' |loadKW - pvKW| + flex ranges."""
    net = network_doc or network_document(problem)
    total = sum(abs(b.get("pLoadKW", 0.0)) for b in net["buses"])
    for p in problem.get("prosumers", []):
        total += abs(p.get("loadKW", 0.0) - p.get("pvKW", 0.0))
        f = p.get("flex") or {}
        total += abs(f.get("maxKW", 0.0) - f.get("minKW", 0.0))
    return 10.0 ** round(math.log10(max(total, 1e-3)))


class Network:
    """A radial feeder in per unit on s_base_kva, oriented breadth first from the substation.

    Edge e is the line into bus dst[e] from its parent src[e]; r, x in pu; lossless[e] for
    zero-impedance lines; rate[e] in pu (nan: unrated)."""

    def __init__(self, doc, s_base_kva=1000.0):
        self.doc = doc
        self.s_base = float(s_base_kva)
        self.bus_ids = [b["id"] for b in doc["buses"]]
        self.index = {b: i for i, b in enumerate(self.bus_ids)}
        n = self.n = len(self.bus_ids)
        self.root = self.index[doc["substationBus"]]
        kv = float(doc["baseKV"])
        zscale = self.s_base / (1000.0 * kv * kv)                     # ohm -> pu
        adjacent = [[] for _ in range(n)]
        for k, line in enumerate(doc["lines"]):
            if line.get("closed", True):
                f, t = self.index[line["from"]], self.index[line["to"]]
                adjacent[f].append((k, t))
                adjacent[t].append((k, f))
        seen = np.zeros(n, bool)
        seen[self.root] = True
        queue = deque([self.root])
        src, dst, lines = [], [], []
        while queue:
            bus = queue.popleft()
            for k, other in adjacent[bus]:
                if not seen[other]:
                    seen[other] = True
                    src.append(bus)
                    dst.append(other)
                    lines.append(k)
                    queue.append(other)
        if not seen.all():
            raise ValueError("the closed lines do not reach every bus")
        self.src, self.dst, self.line_index = np.array(src, int), np.array(dst, int), np.array(lines, int)
        self.m = len(src)
        ln = [doc["lines"][k] for k in lines]
        self.r = np.array([l["rOhm"] for l in ln], float) * zscale
        self.x = np.array([l["xOhm"] for l in ln], float) * zscale
        self.lossless = (self.r == 0) & (self.x == 0)
        self.rate = np.array([l.get("rateKVA") if l.get("rateKVA") is not None else np.nan for l in ln], float) / self.s_base
        self.pload = np.array([b.get("pLoadKW", 0.0) for b in doc["buses"]], float)
        self.qload = np.array([b.get("qLoadKVAr", 0.0) for b in doc["buses"]], float)
        self.qcap = np.array([b.get("qCapKVAr", 0.0) for b in doc["buses"]], float)
        self.v0 = float(doc.get("vSubstationPu", 1.0))
        self.vmin = float(doc.get("vMinPu", 0.95))
        self.vmax = float(doc.get("vMaxPu", 1.05))
        self.parent_edge = np.full(n, -1)
        self.parent_edge[self.dst] = np.arange(self.m)


class Market:
    """An esmarket two_layer_voltage problem as the reference sees it."""

    def __init__(self, network, communities, pi_g, buy, sell, price_range, substation_tariff=None):
        self.network = network
        self.communities = communities
        self.pi_g, self.buy, self.sell = pi_g, buy, sell
        self.price_range = (float(price_range[0]), float(price_range[1]))
        self.substation_tariff = substation_tariff      # (buy, sell) when there is no pi_g
        self._tables = None
        self.table_seconds = 0.0

    @classmethod
    def from_problem(cls, problem, s_base_kva=S_BASE_KVA):
        doc = network_document(problem)
        net = Network(doc, s_base_kva or auto_base(problem, doc))
        grid = problem["grid"]
        buy, sell = float(grid["buyPrice"]), float(grid["sellPrice"])
        pi_g = grid.get("substationPrice")
        tariff = None if pi_g is not None else (buy, sell)
        members = {c["id"]: [] for c in problem["communities"]}
        for p in problem["prosumers"]:
            members[p["community"]].append(p)
        communities = []
        for c in problem["communities"]:
            rows = members[c["id"]]
            f = [p.get("flex") or {} for p in rows]
            has = np.array([bool(p.get("flex")) for p in rows])
            load = np.array([p.get("loadKW", 0.0) for p in rows], float)
            pv = np.array([p.get("pvKW", 0.0) for p in rows], float)
            q = []
            for p in rows:
                if "qLoadKVAr" in p:
                    q.append(p["qLoadKVAr"])
                else:
                    pf = p.get("powerFactor", 1.0)
                    q.append(p.get("loadKW", 0.0) * math.tan(math.acos(pf)) if pf < 1 else 0.0)
            pmin = np.array([fi.get("minKW", 0.0) if h else 0.0 for fi, h in zip(f, has)], float)
            pmax = np.array([fi.get("maxKW", 0.0) if h else 0.0 for fi, h in zip(f, has)], float)
            ca = np.array([fi.get("costA", 0.0) if h else 0.0 for fi, h in zip(f, has)], float)
            cb = np.array([fi.get("costB", 0.0) if h else 0.0 for fi, h in zip(f, has)], float)
            communities.append(Community(ca, cb, load - pv, pmin, pmax, c["sensitivity"], sell, buy,
                                         qload=np.sum(q), ident=c["id"], bus=net.index[c["bus"]],
                                         prosumer_ids=[p["id"] for p in rows]))
        price_range = (problem.get("options") or {}).get("upperPriceRange") or (sell, buy)
        return cls(net, communities, None if pi_g is None else float(pi_g), buy, sell, price_range, tariff)

    @property
    def tables(self):
        if self._tables is None:
            start = time.perf_counter()
            lo, hi = self.price_range
            self._tables = [cm.table(lo, hi) for cm in self.communities]
            self.table_seconds = time.perf_counter() - start
        return self._tables

    def injections(self, G):
        """Bus net injections (kW, kVAr) given the communities' active injections G (kW):
        communities' G and -Q^L, minus the passive loads (capacitors not included)."""
        net = self.network
        p = -net.pload.copy()
        q = -net.qload.copy()
        for cm, g in zip(self.communities, G):
            p[cm.bus] += g
            q[cm.bus] -= cm.qload
        return p, q


# ---------------------------------------------------------------------------------------------
# (b) upper layer: the MISOCP of §3.9 in CVXPY
# ---------------------------------------------------------------------------------------------


def _build(market, mode, pieces=None, vmin=None, vmax=None, thermal="kva"):
    """CVXPY model. mode: "binary" | "relaxed" (disjunctive encoding, z in {0,1} / [0,1]) or
    "fixed" (community i restricted to piece pieces[i], no z)."""
    import cvxpy as cp
    net = market.network
    S = net.s_base
    n, m = net.n, net.m
    tables = market.tables
    nc = len(tables)
    vmin = net.vmin if vmin is None else vmin
    vmax = net.vmax if vmax is None else vmax

    P, Q, v = cp.Variable(m), cp.Variable(m), cp.Variable(n)
    P0, Q0 = cp.Variable(), cp.Variable()
    lossy = np.nonzero(~net.lossless)[0]
    ell = cp.Variable(len(lossy)) if len(lossy) else None
    L = np.zeros((m, len(lossy)))                    # edge <- lossy index
    L[lossy, np.arange(len(lossy))] = 1.0
    cons = []
    out = {}

    # community responses
    if mode in ("binary", "relaxed"):
        K = np.array([t.K for t in tables])
        total = int(K.sum())
        owner = np.repeat(np.arange(nc), K)
        cat = lambda name: np.concatenate([getattr(t, name) for t in tables])
        lo, hi = cat("lo"), cat("hi")
        g0, g1, c0, c1, c2 = cat("g0"), cat("g1"), cat("gam0"), cat("gam1"), cat("gam2")
        M = np.zeros((nc, total))
        M[owner, np.arange(total)] = 1.0
        z = cp.Variable(total, boolean=True) if mode == "binary" else cp.Variable(total)
        w = cp.Variable(total)
        if mode == "relaxed":
            cons += [z >= 0, z <= 1]
        cons += [M @ z == 1, w >= cp.multiply(lo, z), w <= cp.multiply(hi, z)]
        pi0 = M @ w
        G = M @ (cp.multiply(g0, z) + cp.multiply(g1, w))
        quad = np.nonzero(c2 > 0)[0]
        cost_terms = cp.multiply(c0, z) + cp.multiply(c1, w)
        if len(quad):
            s = cp.Variable(len(quad), nonneg=True)
            Sq = np.zeros((total, len(quad)))
            Sq[quad, np.arange(len(quad))] = 1.0
            cost_terms = cost_terms + cp.multiply(c2, Sq @ s)
            cons.append(cp.SOC(s + z[quad], cp.vstack([2 * w[quad], s - z[quad]]), axis=0))
        C = M @ cost_terms
        out.update(z=z, w=w, owner=owner, K=K)
    else:
        pieces = np.asarray(pieces, int)
        lo = np.array([t.lo[k] for t, k in zip(tables, pieces)])
        hi = np.array([t.hi[k] for t, k in zip(tables, pieces)])
        pick = lambda name: np.array([getattr(t, name)[k] for t, k in zip(tables, pieces)])
        pi0 = cp.Variable(nc)
        cons += [pi0 >= lo, pi0 <= hi]
        G = pick("g0") + cp.multiply(pick("g1"), pi0)
        C = pick("gam0") + cp.multiply(pick("gam1"), pi0) + cp.multiply(pick("gam2"), cp.square(pi0))
    out.update(pi0=pi0, G=G, C=C)

    # network (§3.8)
    A = np.zeros((n, nc))                            # bus <- community
    for i, cm in enumerate(market.communities):
        A[cm.bus, i] = 1.0
    into = np.zeros((n, m))
    into[net.dst, np.arange(m)] = 1.0
    frm = np.zeros((n, m))
    frm[net.src, np.arange(m)] = 1.0
    e_root = np.zeros(n)
    e_root[net.root] = 1.0
    qL = A @ np.array([cm.qload for cm in market.communities]) if nc else np.zeros(n)
    arr_p, arr_q = P, Q
    if ell is not None:
        arr_p = P - L @ cp.multiply(net.r[lossy], ell)
        arr_q = Q - L @ cp.multiply(net.x[lossy], ell)
    cons.append(into @ arr_p - frm @ P + P0 * e_root + (A @ G) / S - net.pload / S == 0)
    cons.append(into @ arr_q - frm @ Q + Q0 * e_root + cp.multiply(net.qcap / S, v) - (qL + net.qload) / S == 0)
    drop = v[net.src] - 2 * (cp.multiply(net.r, P) + cp.multiply(net.x, Q))
    if ell is not None:
        drop = drop + L @ cp.multiply(net.r[lossy] ** 2 + net.x[lossy] ** 2, ell)
        vs = v[net.src[lossy]]
        cons.append(cp.SOC(vs + ell, cp.vstack([2 * P[lossy], 2 * Q[lossy], vs - ell]), axis=0))
    cons.append(v[net.dst] == drop)
    cons.append(v[net.root] == net.v0 ** 2)
    others = np.array([i for i in range(n) if i != net.root], int)
    if len(others):
        cons += [v[others] >= vmin ** 2, v[others] <= vmax ** 2]
    for e in np.nonzero(np.isfinite(net.rate))[0]:
        s_max = net.rate[e]
        k = np.searchsorted(lossy, e) if ell is not None else -1
        if thermal == "current" and ell is not None and not net.lossless[e]:
            cons.append(ell[k] <= s_max ** 2)
            continue
        cons.append(cp.SOC(cp.Constant(s_max), cp.hstack([P[e], Q[e]])))
        if ell is not None and not net.lossless[e]:
            cons.append(cp.SOC(cp.Constant(s_max), cp.hstack([P[e] - net.r[e] * ell[k], Q[e] - net.x[e] * ell[k]])))

    import_kw = S * P0
    if market.pi_g is not None:
        grid_cost = market.pi_g * import_kw
    else:
        buy, sell = market.substation_tariff
        grid_cost = cp.maximum(buy * import_kw, sell * import_kw)
    flex_cost = cp.sum(C)
    prob = cp.Problem(cp.Minimize(grid_cost + flex_cost), cons)
    out.update(prob=prob, P=P, Q=Q, v=v, ell=ell, lossy=lossy, P0=P0, Q0=Q0, grid_cost=grid_cost,
               flex_cost=flex_cost)
    return out


CLARABEL_TOLS = (1e-12, 1e-11, 1e-10, 1e-9, 1e-8)


def _clarabel(prob, tolerances=CLARABEL_TOLS):
    import cvxpy as cp
    for tol in tolerances:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                prob.solve(solver=cp.CLARABEL, tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol, max_iter=500)
            except cp.error.SolverError:
                continue
        if prob.status in ("optimal", "infeasible"):
            break
    return prob.status


def _value(expr):
    val = expr.value if hasattr(expr, "value") else expr
    return np.asarray(val, float)


def solve_upper(market, solver="SCIP", time_limit=None, polish=True, vmin=None, vmax=None,
                thermal="kva", scip_params=None, tolerances=CLARABEL_TOLS, refine=False):
    """Solves the upper-layer problem of §3.9.

    solver "SCIP": the MISOCP (binaries), then (polish=True) the SOCP with every community
    fixed on the piece SCIP chose, by Clarabel at tight tolerances; "CLARABEL": binaries relaxed
    to [0, 1]. refine=True: then sharpen the SCIP solution with the exact AC power flow
    (refine_ac). vmin / vmax override the network's limits; thermal "kva" (|S| <= rate at both
    ends, the library's convention for rated lines) or "current" (l <= rate^2, §3.8).

    Returns a dict: status, seconds, solver_status, (if solved) socialCost, flexCost, gridCost,
    P0 (kW), Q0 (kVAr), lossesKW, pi0, pi, X, G, C (per community, pi/X from the table at pi0),
    pieces, levelSets ([lo, hi] of optimal pi0 per community), pi0TieBreak (closest to pi_g),
    vPu (per bus), gapMax (SOC relaxation gap), embeddingErrorMax (|G embedded - G exact| kW),
    mipGap (SCIP), binaries.
    """
    import cvxpy as cp
    start = time.perf_counter()
    tables = market.tables
    res = {"binaries": int(sum(t.K for t in tables)), "tableSeconds": market.table_seconds}
    if solver.upper() == "SCIP":
        model = _build(market, "binary", vmin=vmin, vmax=vmax, thermal=thermal)
        params = {"limits/gap": 1e-8}
        if time_limit is not None:
            params["limits/time"] = float(time_limit)
        params.update(scip_params or {})
        failure = None
        for attempt in (params, dict(params, **{"limits/gap": 1e-6})):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    model["prob"].solve(solver=cp.SCIP, scip_params=attempt)
                    failure = None
                    break
                except cp.error.SolverError as error:   # SCIP's LP numerics: retry once, looser
                    failure = error
        if failure is not None:
            res.update(status="solver_error", solver_status=str(failure), seconds=time.perf_counter() - start)
            return res
        prob = model["prob"]
        res["solver_status"] = prob.status
        res["scipSeconds"] = time.perf_counter() - start
        extra = getattr(prob.solver_stats, "extra_stats", None)
        scip_model = extra.get("model") if isinstance(extra, dict) else extra
        res["mipGap"], res["scipStatus"] = None, None
        try:
            res["scipStatus"] = scip_model.getStatus()
            res["mipGap"] = float(scip_model.getGap())
        except Exception:  # noqa: BLE001 - depends on the interface version
            pass
        if model["z"].value is None:
            status = "time_limit" if res["scipStatus"] == "timelimit" else prob.status
            res.update(status=status, seconds=time.perf_counter() - start)
            return res
        zval = _value(model["z"])
        pieces = [int(np.argmax(zval[model["owner"] == i])) for i in range(len(tables))]
        res["misocpObjective"] = float(prob.value) if prob.value is not None else None
        if polish:
            model = _build(market, "fixed", pieces=pieces, vmin=vmin, vmax=vmax, thermal=thermal)
            status = _clarabel(model["prob"], tolerances)
            if status not in ("optimal", "optimal_inaccurate"):
                res.update(status="polish_" + status, seconds=time.perf_counter() - start)
                return res
        status = "optimal" if prob.status in ("optimal", "optimal_inaccurate") else prob.status
        if res["scipStatus"] == "timelimit" or (res["mipGap"] is not None and res["mipGap"] > 1e-6):
            status = "time_limit"          # an incumbent, not proven optimal
    elif solver.upper() == "CLARABEL":
        model = _build(market, "relaxed", vmin=vmin, vmax=vmax, thermal=thermal)
        status = _clarabel(model["prob"], tolerances)
        res["solver_status"] = status
        if status not in ("optimal", "optimal_inaccurate"):
            res.update(status=status, seconds=time.perf_counter() - start)
            return res
        zval = _value(model["z"])
        pieces = [int(np.argmax(zval[model["owner"] == i])) for i in range(len(tables))]
        res["fractional"] = int(sum(1 for i in range(len(tables))
                                    if np.max(zval[model["owner"] == i]) < 1 - 1e-6))
    else:
        raise ValueError(solver)
    res["status"] = status
    _report(market, model, pieces, res)
    if refine and solver.upper() == "SCIP" and status == "optimal":
        refine_ac(market, res, vmin=vmin, vmax=vmax)
    res["seconds"] = time.perf_counter() - start
    return res


def refine_ac(market, res, vmin=None, vmax=None, h=1e-2, max_iter=200):
    """Sharpens a solution of solve_upper with the exact AC power flow (the relaxation being
    exact): SLSQP over the upper prices of the communities whose injection moves on their
    chosen piece (bounds: the piece), minimising pi_g P_0(AC) + sum C_i subject to the voltage
    limits at every bus, with central finite-difference gradients (h kW in G); rated lines must
    stay strictly inside their limits (checked before and after).

    Why: on flat optima (a voltage floor shared by communities of similar marginal cost) the
    interior-point solution fixes the cost to ~1e-9 relative but the injections only to ~1e-3
    kW; the exact optimality conditions fix them far better. Updates res in place when the
    refined point is AC-feasible and no dearer; returns True then. Skipped (False) with rated
    lines or a substation tariff (non-smooth), or when the relaxation gap is not small."""
    from scipy.optimize import minimize
    net = market.network
    if market.pi_g is None or res.get("gapMax", 1.0) > 1e-6:
        return False
    rated = np.isfinite(net.rate)

    def thermal_margin(G):
        ac = ac_check(market, G)
        if not rated.any():
            return np.inf
        flow = np.maximum(ac["sendKVA"], ac["receiveKVA"])[rated]
        return float(np.min(net.rate[rated] * net.s_base - flow))

    if thermal_margin(res["G"]) <= 1e-6 * net.s_base:   # a rated line at its limit: not smooth here
        return False
    tables = market.tables
    pieces = res["pieces"]
    free = [i for i, (t, k) in enumerate(zip(tables, pieces)) if t.g1[k] > 0]
    if not free:
        return False
    base = np.array(res["pi0"], float)
    lo = np.array([tables[i].lo[pieces[i]] for i in free])
    hi = np.array([tables[i].hi[pieces[i]] for i in free])
    g1 = np.array([tables[i].g1[pieces[i]] for i in free])
    others = np.array([i for i in range(net.n) if i != net.root], int)
    vmin2 = (net.vmin if vmin is None else vmin) ** 2
    vmax2 = (net.vmax if vmax is None else vmax) ** 2

    def full(u):
        x = base.copy()
        x[free] = u
        return x

    def evaluate(u):
        x = full(u)
        rows = [t.evaluate(v, k) for t, v, k in zip(tables, x, pieces)]
        ac = ac_check(market, [r["G"] for r in rows])
        cost = market.pi_g * ac["P0"] + sum(r["C"] for r in rows)
        return cost, ac["v"][others] ** 2

    cache = {}

    def point(u):
        key = tuple(np.round(u, 15))
        if key not in cache:
            f, v = evaluate(u)
            steps = h / g1                       # h kW in every free community's G
            df, dv = np.zeros(len(u)), np.zeros((len(others), len(u)))
            for j in range(len(u)):
                e = np.zeros(len(u))
                e[j] = steps[j]
                fp, vp = evaluate(u + e)
                fm, vm = evaluate(u - e)
                df[j] = (fp - fm) / (2 * steps[j])
                dv[:, j] = (vp - vm) / (2 * steps[j])
            cache.clear()
            cache[key] = (f, v, df, dv)
        return cache[key]

    scale = 1.0 / max(1.0, abs(res["socialCost"]))
    cons = [{"type": "ineq", "fun": lambda u: (point(u)[1] - vmin2) * 1e3, "jac": lambda u: point(u)[3] * 1e3},
            {"type": "ineq", "fun": lambda u: (vmax2 - point(u)[1]) * 1e3, "jac": lambda u: -point(u)[3] * 1e3}]
    start = base[free]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = minimize(lambda u: point(u)[0] * scale, start, jac=lambda u: point(u)[2] * scale, method="SLSQP",
                       bounds=list(zip(lo, hi)), constraints=cons,
                       options={"ftol": 1e-16, "maxiter": max_iter})
    res["refineInfo"] = (int(out.nit), str(out.message))
    u = np.clip(out.x, lo, hi)
    f_new, v_new = evaluate(u)
    f_old, _ = evaluate(start)
    feasible = np.all(v_new >= vmin2 - 1e-10) and np.all(v_new <= vmax2 + 1e-10)
    if feasible and rated.any():
        x = full(u)
        feasible = thermal_margin([t.evaluate(v, k)["G"] for t, v, k in zip(tables, x, pieces)]) >= 0
    if not feasible or f_new > f_old + 1e-12 * abs(f_old):
        res["refined"] = False
        return False
    x = full(u)
    rows = [t.evaluate(v, k) for t, v, k in zip(tables, x, pieces)]
    G = np.array([r["G"] for r in rows])
    C = np.array([r["C"] for r in rows])
    ac = ac_check(market, G)
    res.update(pi0=x, G=G, C=C, flexCost=float(C.sum()), P0=ac["P0"], Q0=ac["Q0"],
               gridCost=market.pi_g * ac["P0"], lossesKW=ac["lossesKW"], vPu=ac["v"], refined=True)
    res["socialCost"] = res["gridCost"] + res["flexCost"]
    _equilibria(market, res)
    return True


def _report(market, model, pieces, res):
    net = market.network
    S = net.s_base
    pi0 = _value(model["pi0"]).ravel()
    G_emb = _value(model["G"]).ravel()
    C_emb = _value(model["C"]).ravel()
    res["pieces"] = pieces
    res["pi0"] = pi0
    res["G"] = G_emb
    res["C"] = C_emb
    res["flexCost"] = float(np.sum(C_emb))
    res["P0"] = float(model["P0"].value) * S
    res["Q0"] = float(model["Q0"].value) * S
    res["gridCost"] = float(_value(model["grid_cost"]))
    res["socialCost"] = res["gridCost"] + res["flexCost"]
    res["lossesKW"] = res["P0"] + float(np.sum(G_emb)) - float(np.sum(net.pload))
    v = np.sqrt(np.maximum(_value(model["v"]), 0.0))
    res["vPu"] = v
    if model["ell"] is not None:
        lossy = model["lossy"]
        vs = _value(model["v"])[net.src[lossy]]
        gap = _value(model["ell"]) * vs - _value(model["P"])[lossy] ** 2 - _value(model["Q"])[lossy] ** 2
        res["gapMax"] = float(np.max(np.abs(gap))) if len(gap) else 0.0
    else:
        res["gapMax"] = 0.0
    res["embeddingErrorMax"] = _equilibria(market, res, G_emb)


def _equilibria(market, res, G_emb=None):
    """pi, X at every community's pi0 by the exact equilibrium; the optimal pi0 intervals and
    the tie-break; returns the largest |G embedded - G exact|."""
    pi0 = res["pi0"]
    G_emb = res["G"] if G_emb is None else G_emb
    pis, Xs, emb, level, tie = [], [], 0.0, [], []
    for t, p0, g in zip(market.tables, pi0, G_emb):
        eq = t.community.equilibrium(p0)
        pis.append(eq["pi"])
        Xs.append(eq["X"])
        emb = max(emb, abs(eq["G"] - g))
        ls = t.level_set(eq["G"])
        level.append(ls)
        ref = market.pi_g if market.pi_g is not None else 0.5 * (market.buy + market.sell)
        tie.append(float(np.clip(ref, ls[0], ls[1])) if ls else float(p0))
    res["pi"] = np.array(pis)
    res["X"] = np.array(Xs)
    res["levelSets"] = level
    res["pi0TieBreak"] = np.array(tie)
    return emb


# ---------------------------------------------------------------------------------------------
# (c) exact AC power flow (forward/backward sweep)
# ---------------------------------------------------------------------------------------------


def _subtree_matrix(net):
    """B (m x n): B[e, k] = 1 when bus k lies in the subtree fed by edge e."""
    if getattr(net, "_below", None) is None:
        B = np.zeros((net.m, net.n))
        for e in range(net.m - 1, -1, -1):          # breadth-first order: children after parents
            B[e, net.dst[e]] = 1.0
            kids = np.nonzero(net.src == net.dst[e])[0]
            if len(kids):
                B[e] += B[kids].sum(axis=0)
        net._below = B
    return net._below


def ac_power_flow(network, p_inj_kw, q_inj_kvar, tol=1e-14, max_iter=500):
    """Exact AC power flow of the radial feeder: constant-power bus injections (kW, kVAr,
    positive = into the network; capacitors added here as qCapKVAr |V|^2), slack at the
    substation. Forward/backward sweep on complex voltages and branch currents:
    backward J_e = sum of the bus currents conj(S_k / V_k) below edge e, forward
    V_k = V_0 - sum of z_e J_e over the edges on the path to k.

    Returns a dict: v (|V| pu per bus), P0, Q0 (kW, kVAr at the substation), lossesKW,
    iterations, converged."""
    net = network
    S = net.s_base
    B = _subtree_matrix(net)
    s_inj = (np.asarray(p_inj_kw, float) + 1j * np.asarray(q_inj_kvar, float)) / S
    z = net.r + 1j * net.x
    V = np.full(net.n, net.v0 + 0j)
    converged = False
    for it in range(1, max_iter + 1):
        demand = -(s_inj + 1j * net.qcap / S * np.abs(V) ** 2)        # power drawn at each bus
        J = B @ np.conj(demand / V)
        V_new = net.v0 - B.T @ (z * J)
        change = np.max(np.abs(V_new - V))
        V = V_new
        if change < tol:
            converged = True
            break
    demand = -(s_inj + 1j * net.qcap / S * np.abs(V) ** 2)
    J = B @ np.conj(demand / V)
    # the substation supplies the feeder's lines and the root bus's own demand
    s0 = V[net.root] * np.conj(J[net.src == net.root].sum()) + demand[net.root]
    loss = np.sum(net.r * np.abs(J) ** 2) * S
    s_send = V[net.src] * np.conj(J)                 # per edge, at the parent's end (pu)
    s_recv = s_send - z * np.abs(J) ** 2
    return {"v": np.abs(V), "V": V, "P0": float(s0.real) * S, "Q0": float(s0.imag) * S,
            "lossesKW": float(loss), "iterations": it, "converged": converged,
            "sendKVA": np.abs(s_send) * S, "receiveKVA": np.abs(s_recv) * S}


def ac_check(market, G):
    """AC power flow at the communities' injections G (kW)."""
    p, q = market.injections(G)
    return ac_power_flow(market.network, p, q)
