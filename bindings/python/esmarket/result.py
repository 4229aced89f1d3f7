"""The result of a clearing: a thin, read-only view over the result document (api.md §3)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

#: Lists of the result document that have a tabular accessor.
TABLES = ("prosumers", "communities", "buses", "lines", "trades", "lyapunov")

#: Key columns, written first in every table row (those the table has).
KEY_COLUMNS = ("id", "from", "to", "bus", "community", "period")

#: The relative tolerance the zero rule uses when the problem does not set options.tolerance.
DEFAULT_TOLERANCE = 1e-8


class Result:
    """A cleared market.

    ``document`` is the complete result document (a dict, as returned by the library). The
    properties below are shortcuts into it; a list that the mechanism does not produce is empty,
    a missing object is an empty dict.

    Tables are lists of dicts (``result.prosumers[0]["flexKW"]``), exactly as the library wrote
    them. With pandas installed, ``result.table("prosumers")`` (or ``result.prosumers_df``) gives
    them as a DataFrame ready to join (see ``table``); pandas is never imported unless one of these
    is used.

    ``problem`` is what the result was cleared from (the caller's dict or JSON text, or the path
    of its file), kept by ``esmarket.clear`` for the tables' join keys; nothing is copied, and
    it is parsed only when a table needs it.
    """

    __slots__ = ("document", "_problem", "_problem_doc")

    def __init__(self, document: Dict[str, Any], problem: Any = None) -> None:
        self.document = document
        self._problem = problem
        self._problem_doc: Optional[Dict[str, Any]] = None

    @property
    def problem(self) -> Optional[Dict[str, Any]]:
        """The problem document this result was cleared from (None when unknown)."""
        if self._problem_doc is None and self._problem is not None:
            source = self._problem
            if isinstance(source, Mapping):
                self._problem_doc = dict(source)
            elif isinstance(source, Path):
                self._problem_doc = json.loads(source.read_bytes())
            else:
                self._problem_doc = json.loads(source)
            # A session resumed from a state document: the configuration is inside it.
            config = self._problem_doc.get("config") if "session" in self._problem_doc else None
            if isinstance(config, str):
                self._problem_doc = json.loads(config)
        return self._problem_doc


    # -- scalars -------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        """"solved", "solved_inaccurate", "infeasible", "iteration_limit", "time_limit",
        "interrupted", "numerical_error" or "relaxation_inexact" (SOC branch-flow mechanisms)."""
        return self.document.get("status", "")

    @property
    def ok(self) -> bool:
        """True when status is "solved" or "solved_inaccurate"."""
        return self.status in ("solved", "solved_inaccurate")

    @property
    def message(self) -> str:
        return self.document.get("message") or ""

    @property
    def mechanism(self) -> str:
        return self.document.get("mechanism", "")

    @property
    def schema(self) -> str:
        return self.document.get("schema", "")

    @property
    def objective(self) -> Dict[str, Any]:
        return self.document.get("objective") or {}

    @property
    def stats(self) -> Dict[str, Any]:
        return self.document.get("stats") or {}

    @property
    def quality(self) -> Dict[str, Any]:
        return self.document.get("quality") or {}

    # -- tables --------------------------------------------------------------------------------
    def _list(self, name: str) -> List[Dict[str, Any]]:
        return self.document.get(name) or []

    @property
    def prosumers(self) -> List[Dict[str, Any]]:
        return self._list("prosumers")

    @property
    def communities(self) -> List[Dict[str, Any]]:
        return self._list("communities")

    @property
    def buses(self) -> List[Dict[str, Any]]:
        return self._list("buses")

    @property
    def lines(self) -> List[Dict[str, Any]]:
        return self._list("lines")

    @property
    def trades(self) -> List[Dict[str, Any]]:
        return self._list("trades")

    def rows(self, name: str) -> List[Dict[str, Any]]:
        """The table ``name`` as new row dicts ready to join (what ``table`` puts in a
        DataFrame, without pandas):

        * join keys: every table keeps its ``id`` (trades: ``from`` and ``to``, prosumer ids);
          prosumer rows also get ``bus`` (their own, else their community's; None without one)
          and ``community`` (None without one) from the problem;
        * multi-period results (per-period arrays) become one row per entity and period, with a
          ``period`` column (0-based) after the keys;
        * numbers that are zero to the solver's tolerance are written as 0: in a numeric column,
          a value with |x| ≤ tolerance · max(1, largest |x| of the column) becomes 0.0, where
          tolerance is the problem's ``options.tolerance`` (default 1e-8, the solver's relative
          tolerance); residual columns (``...Residual...``) are left as they are, their small
          values being the point. ``rows``/``table`` only: ``document`` and the plain lists keep
          the library's numbers."""
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}; one of {', '.join(TABLES)}")
        rows = [dict(row) for row in self._list(name)]
        if name == "prosumers":
            self._add_prosumer_keys(rows)
        rows = _long_rows(rows)
        options = (self.problem or {}).get("options") or {}
        tolerance = options.get("tolerance", DEFAULT_TOLERANCE) if isinstance(options, dict) else DEFAULT_TOLERANCE
        _zero_small(rows, float(tolerance))
        return rows

    def table(self, name: str):
        """The list ``name`` ("prosumers", "communities", "buses", "lines", "trades",
        "lyapunov") as a pandas DataFrame of ``rows(name)``: join keys (prosumer ``bus`` and
        ``community``), a ``period`` column for multi-period results, tiny numbers as 0.
        Raises ImportError when pandas is not installed."""
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}; one of {', '.join(TABLES)}")
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "Result.table() needs pandas (pip install pandas, or pip install "
                "'esmarket[pandas]'); the plain lists are in Result." + name) from e
        return pd.DataFrame.from_records(self.rows(name))

    def _add_prosumer_keys(self, rows: List[Dict[str, Any]]) -> None:
        problem = self.problem or {}
        listed = problem.get("prosumers")
        if not isinstance(listed, list):
            return
        community_bus = {c.get("id"): c.get("bus") for c in problem.get("communities") or []
                         if isinstance(c, dict)}
        # A prosumer alone in energy_sharing's single community belongs to it without naming it.
        only = next(iter(community_bus)) if len(community_bus) == 1 else None
        keys = {}
        for p in listed:
            if isinstance(p, dict):
                community = p.get("community", only if problem.get("mechanism") == "energy_sharing" else None)
                keys[p.get("id")] = (p.get("bus", community_bus.get(community)), community)
        for row in rows:
            bus, community = keys.get(row.get("id"), (None, None))
            row.setdefault("bus", bus)
            row.setdefault("community", community)

    @property
    def prosumers_df(self):
        return self.table("prosumers")

    @property
    def communities_df(self):
        return self.table("communities")

    @property
    def buses_df(self):
        return self.table("buses")

    @property
    def lines_df(self):
        return self.table("lines")

    @property
    def trades_df(self):
        return self.table("trades")

    # -- misc ----------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self.document[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.document.get(key, default)

    def to_json(self, **kwargs: Any) -> str:
        """The result document as JSON text (keyword arguments go to json.dumps)."""
        return json.dumps(self.document, **kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Result) and other.document == self.document

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [f"mechanism={self.mechanism!r}", f"status={self.status!r}"]
        for name in TABLES:
            rows = self._list(name)
            if rows:
                parts.append(f"{name}={len(rows)}")
        if len(self.communities) == 1 and "price" in self.communities[0]:
            parts.append(f"price={_fmt(self.communities[0]['price'])}")
        if "socialCost" in self.objective:
            parts.append(f"socialCost={_fmt(self.objective['socialCost'])}")
        if "totalSeconds" in self.stats:
            parts.append(f"totalSeconds={_fmt(self.stats['totalSeconds'])}")
        if self.message:
            msg = self.message if len(self.message) <= 60 else self.message[:57] + "..."
            parts.append(f"message={msg!r}")
        return "<esmarket.Result " + " ".join(parts) + ">"


def _keys_first(row: Dict[str, Any]) -> Dict[str, Any]:
    ordered = {k: row[k] for k in KEY_COLUMNS if k in row}
    ordered.update((k, v) for k, v in row.items() if k not in ordered)
    return ordered


def _long_rows(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Key columns first; one row per entity and period when some column holds per-period
    arrays (a `period` column, 0-based)."""
    periods = max((len(v) for row in rows for v in row.values() if isinstance(v, list)), default=0)
    if periods == 0:
        return [_keys_first(row) for row in rows]
    out = []
    for row in rows:
        for t in range(periods):
            new = {k: (v[t] if t < len(v) else None) if isinstance(v, list) else v for k, v in row.items()}
            new["period"] = t
            out.append(_keys_first(new))
    return out


def _zero_small(rows: List[Dict[str, Any]], tolerance: float) -> None:
    """Numbers within `tolerance` of zero, relative to their column's scale, become 0.0."""
    scale: Dict[str, float] = {}
    for row in rows:
        for k, v in row.items():
            if isinstance(v, float) and "Residual" not in k:
                scale[k] = max(scale.get(k, 1.0), abs(v))
    for row in rows:
        for k, v in row.items():
            if k in scale and isinstance(v, float) and abs(v) <= tolerance * scale[k]:
                row[k] = 0.0


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    if isinstance(x, list) and len(x) > 3:
        return "[" + ", ".join(_fmt(v) for v in x[:3]) + ", ...]"
    return repr(x)
