"""The exception raised for every error document that libesmarket returns."""
from __future__ import annotations

from typing import Any, Dict, Optional


class EsmarketError(Exception):
    """An error reported by esmarket (api.md §4).

    Attributes:
        code:        "invalid_json", "invalid_input", "unsupported" or "internal".
        path:        JSON path of the offending field (e.g. "prosumers[1].flex.maxKW"), or None
                     (always None for "invalid_json").
        message:     human-readable explanation (names the field and the value).
        document:    the full error document as a dict (None when it came from the binding
                     itself and not from the library).
        return_code: the C return code (ESM_ERR_*), or None when raised by the binding.
    """

    def __init__(self, code: str, message: str, path: Optional[str] = None,
                 document: Optional[Dict[str, Any]] = None,
                 return_code: Optional[int] = None) -> None:
        super().__init__(code, message, path)
        self.code = code
        self.message = message
        self.path = path
        self.document = document
        self.return_code = return_code

    def __str__(self) -> str:
        if self.path is None:
            where = ""
        elif self.path == "":
            where = " at (document root)"
        else:
            where = f" at {self.path}"
        return f"{self.code}{where}: {self.message}"

    def __repr__(self) -> str:
        return (f"EsmarketError(code={self.code!r}, path={self.path!r}, "
                f"message={self.message!r})")

    def __reduce__(self):  # picklable (e.g. across multiprocessing)
        return (type(self), (self.code, self.message, self.path, self.document, self.return_code))
