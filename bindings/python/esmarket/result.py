"""The result of a clearing: a thin, read-only view over the result document (api.md §3)."""
from __future__ import annotations

import json
from typing import Any, Dict, List

#: Lists of the result document that have a tabular accessor.
TABLES = ("prosumers", "communities", "buses", "lines", "trades")


class Result:
    """A cleared market.

    ``document`` is the complete result document (a dict, as returned by the library). The
    properties below are shortcuts into it; a list that the mechanism does not produce is empty,
    a missing object is an empty dict.

    Tables are lists of dicts (``result.prosumers[0]["flexKW"]``). With pandas installed,
    ``result.table("prosumers")`` (or ``result.prosumers_df``) gives the same rows as a DataFrame
    with one column per field; pandas is never imported unless one of these is used.
    """

    __slots__ = ("document",)

    def __init__(self, document: Dict[str, Any]) -> None:
        self.document = document

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

    def table(self, name: str):
        """The list ``name`` ("prosumers", "communities", "buses", "lines", "trades") as a
        pandas DataFrame. Raises ImportError when pandas is not installed."""
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}; one of {', '.join(TABLES)}")
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "Result.table() needs pandas (pip install pandas, or pip install "
                "'esmarket[pandas]'); the plain lists are in Result." + name) from e
        return pd.DataFrame.from_records(self._list(name))

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


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    if isinstance(x, list) and len(x) > 3:
        return "[" + ", ".join(_fmt(v) for v in x[:3]) + ", ...]"
    return repr(x)
