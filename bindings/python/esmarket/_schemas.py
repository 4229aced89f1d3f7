"""The contract's JSON Schemas (schema/*.schema.json of the repository).

One source: the repository's schema folder. An installed package carries a copy made by the build
(setup.py copies them into esmarket/schema/); a source checkout reads the repository's own files.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

NAMES = ("problem", "result")
_HERE = Path(__file__).resolve().parent


def candidates(name: str) -> List[Path]:
    """Where schema `name` is looked for, in order: next to the package, then in the repository."""
    file = f"{name}.schema.json"
    return [_HERE / "schema" / file, _HERE.parent.parent.parent / "schema" / file]


def load(name: str) -> Dict[str, Any]:
    if name not in NAMES:
        raise ValueError(f"unknown schema {name!r}; one of {', '.join(NAMES)}")
    for path in candidates(name):
        if path.is_file():
            with open(path, encoding="utf-8") as f:
                return json.load(f)
    raise FileNotFoundError(f"schema {name!r} not found; looked in: "
                            + ", ".join(str(p) for p in candidates(name)))
