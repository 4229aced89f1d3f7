"""clear(), generate_case(), version(), schema()."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Union, overload

from . import _native, _schemas
from .errors import EsmarketError
from .result import Result

Problem = Union[Mapping[str, Any], str, bytes, bytearray, "os.PathLike[str]"]
ProgressCallback = Callable[[Dict[str, Any]], Any]


# ---------------------------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------------------------
def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):  # e.g. types.MappingProxyType
        return dict(value)
    # numpy arrays and scalars (and anything else with the same protocol)
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _find_unencodable(value: Any, path: str = ""):
    """First (path, reason) of a value that json cannot encode, or None."""
    stack = [(value, path)]
    while stack:
        v, p = stack.pop()
        if isinstance(v, float):
            if not math.isfinite(v):
                return p, f"{v!r} is not a finite number (JSON has no NaN or Infinity)"
        elif isinstance(v, (str, int, bool)) or v is None:
            continue
        elif isinstance(v, Mapping):
            for k in reversed(list(v.keys())):
                stack.append((v[k], _join(p, k)))
        elif isinstance(v, (list, tuple)):
            for i in reversed(range(len(v))):
                stack.append((v[i], _join(p, i)))
        else:
            try:
                converted = _json_default(v)
            except TypeError as e:
                return p, str(e)
            stack.append((converted, p))
    return None


def _encode_mapping(problem: Mapping[str, Any]) -> bytes:
    try:
        text = json.dumps(problem, allow_nan=False, ensure_ascii=False, default=_json_default,
                          separators=(",", ":"))
    except (ValueError, TypeError, RecursionError) as e:
        found = _find_unencodable(problem)
        if found is None:
            raise EsmarketError("invalid_input", f"the problem cannot be encoded as JSON: {e}",
                                path=None) from e
        path, reason = found
        raise EsmarketError("invalid_input", reason, path=path) from e
    return text.encode("utf-8")


def _looks_like_json(text: str) -> bool:
    s = text.lstrip()
    return s[:1] in ("{", "[")


def _problem_bytes(problem: Problem) -> bytes:
    """The JSON bytes of a problem given as a dict, JSON text (str/bytes) or a file path."""
    if isinstance(problem, Mapping):
        data = _encode_mapping(problem)
    elif isinstance(problem, (bytes, bytearray, memoryview)):
        data = bytes(problem)
    elif isinstance(problem, os.PathLike):
        data = Path(problem).read_bytes()
    elif isinstance(problem, str):
        if _looks_like_json(problem):
            data = problem.encode("utf-8", errors="surrogatepass")
        elif "\n" not in problem and len(problem) < 4096 and os.path.isfile(problem):
            data = Path(problem).read_bytes()
        elif ("\n" not in problem and problem.strip() == problem and
              problem.lower().endswith(".json")):
            raise FileNotFoundError(f"problem file not found: {problem}")
        else:
            # Neither a file nor something that starts like a JSON document: hand it to the
            # library, which reports exactly what is wrong with it (invalid_json + offset).
            data = problem.encode("utf-8", errors="surrogatepass")
    else:
        raise TypeError("problem must be a dict, a JSON string, bytes or a path, not "
                        f"{type(problem).__name__}")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise EsmarketError("invalid_json", f"the input contains a NUL byte at offset {nul}",
                            path=None)
    return data


# ---------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------
def _error_from(rc: int, text: Optional[str]) -> EsmarketError:
    fallback = _native.RETURN_CODE_NAMES.get(rc, "internal")
    if text is None:
        return EsmarketError(fallback, f"esmarket returned code {rc} and no error document",
                             return_code=rc)
    try:
        doc = json.loads(text)
        err = doc["error"]
        return EsmarketError(str(err.get("code") or fallback), str(err.get("message") or ""),
                             path=err.get("path"), document=doc, return_code=rc)
    except (ValueError, KeyError, TypeError, AttributeError):
        return EsmarketError(fallback, f"esmarket returned code {rc} with an unreadable error "
                             f"document: {text[:200]!r}", return_code=rc)


def _document_from(rc: int, text: Optional[str], what: str) -> Dict[str, Any]:
    if rc != _native.ESM_OK:
        raise _error_from(rc, text)
    if text is None:
        raise EsmarketError("internal", f"{what} returned ESM_OK without a document",
                            return_code=rc)
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise EsmarketError("internal", f"{what} returned a document that is not JSON: {e}",
                            return_code=rc) from e
    if not isinstance(doc, dict):
        raise EsmarketError("internal", f"{what} returned a JSON {type(doc).__name__}, "
                            "not an object", return_code=rc)
    return doc


# ---------------------------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------------------------
def version() -> str:
    """Version of the loaded libesmarket, "MAJOR.MINOR.PATCH"."""
    return _native.library().esm_version().decode("utf-8")


@overload
def schema() -> str: ...
@overload
def schema(name: str) -> Dict[str, Any]: ...


def schema(name: Optional[str] = None) -> Union[str, Dict[str, Any]]:
    """Without a name: the schema name of the documents the library reads and writes
    ("esmarket/1"). ``schema("problem")`` / ``schema("result")``: that document's JSON Schema
    (draft 2020-12) as a dict — the repository's schema/*.schema.json, shipped in the package."""
    if name is None:
        return _native.library().esm_schema().decode("utf-8")
    return _schemas.load(name)


def prosumer_columns(table: Any) -> Dict[str, Any]:
    """The column form of `prosumers` (docs/problem.md) from a pandas DataFrame, a mapping of
    equal-length sequences (lists, numpy arrays, pandas Series) or a list of prosumer rows (the
    array form): one entry per column, a column
    named "flex.maxKW" (or "storage.socKWh") goes into the `flex` (`storage`) object, and a
    missing value (None, NaN) is written as null (the field's default). No per-row Python
    objects are made."""
    if isinstance(table, list):   # rows (the array form) -> columns
        names: List[str] = []
        for row in table:
            for key in row:
                if key in ("flex", "storage"):
                    for field in row[key] or {}:
                        if f"{key}.{field}" not in names:
                            names.append(f"{key}.{field}")
                elif key not in names:
                    names.append(key)
        source = {}
        for name in names:
            group, dot, field = name.partition(".")
            source[name] = [(row.get(group) or {}).get(field) if dot else row.get(name) for row in table]
    elif hasattr(table, "columns") and hasattr(table, "__getitem__") and not isinstance(table, Mapping):
        names = [str(c) for c in table.columns]
        source = {str(c): table[c] for c in table.columns}
    elif isinstance(table, Mapping):
        names = [str(c) for c in table]
        source = {str(c): v for c, v in table.items()}
    else:
        raise TypeError("prosumers must be a pandas DataFrame or a mapping of columns, not " + type(table).__name__)
    out: Dict[str, Any] = {}
    for name in names:
        values = source[name]
        values = values.tolist() if hasattr(values, "tolist") else list(values)
        values = [None if isinstance(v, float) and v != v else v for v in values]
        group, dot, field = name.partition(".")
        if dot:
            out.setdefault(group, {})[field] = values
        else:
            out[name] = values
    return out


def clear(problem: Problem, *, progress: Optional[ProgressCallback] = None, prosumers: Any = None) -> Result:
    """Clears a market.

    problem:  the problem document as a dict, as JSON text (str or bytes), or the path (str or
              pathlib.Path) of a JSON file.
    prosumers: optional table that replaces the problem's prosumers, in the column form: a pandas
              DataFrame or a mapping of equal-length columns ("id", "loadKW", "flex.maxKW", ...;
              see prosumer_columns).
    progress: optional callable receiving each progress event as a dict
              ({"event": "start"|"iteration"|"done", "mechanism": ..., "iteration": k, ...});
              returning a truthy value asks the solver to stop (the result's status is then
              "interrupted"). An exception raised by the callback stops the solve and is
              re-raised from clear() once the library has returned.

    Returns a Result (whatever its status: "solved", "infeasible", "interrupted", ...). Raises
    EsmarketError when the library reports an error document (invalid_json, invalid_input,
    unsupported, internal).
    """
    if prosumers is not None:
        if not isinstance(problem, Mapping):
            problem = json.loads(_problem_bytes(problem))
        problem = dict(problem, prosumers=prosumer_columns(prosumers))
    data = _problem_bytes(problem)
    if progress is None:
        rc, text = _native.call_with_output("esm_clear", data)
        try:
            return Result(_document_from(rc, text, "esm_clear"), problem=_problem_source(problem, data))
        except EsmarketError as error:
            raise _read_as_text(problem, error) from None

    if not callable(progress):
        raise TypeError("progress must be callable")
    failure: list = []

    def on_event(event: bytes) -> int:
        if failure:
            return 1
        try:
            raw = event.decode("utf-8", errors="replace") if event is not None else "{}"
            return 1 if progress(json.loads(raw)) else 0
        except BaseException as e:  # noqa: BLE001 - nothing may propagate through C frames
            failure.append(e)
            return 1

    rc, text = _native.clear_with_progress(data, on_event)
    if failure:
        raise failure[0]
    try:
        return Result(_document_from(rc, text, "esm_clear_with_progress"), problem=_problem_source(problem, data))
    except EsmarketError as error:
        raise _read_as_text(problem, error) from None


def _read_as_text(problem: Any, error: EsmarketError) -> EsmarketError:
    """A str that is neither JSON-looking nor a file was handed to the library as JSON text; when
    that fails as invalid_json, say so (the user most likely meant a file)."""
    if (error.code == "invalid_json" and isinstance(problem, str) and not _looks_like_json(problem)
            and "\n" not in problem and len(problem) < 4096 and not os.path.isfile(problem)):
        return EsmarketError(error.code, f"{error.message} (the argument {problem[:80]!r} was read as JSON "
                             "text: there is no file of that name)", path=error.path, document=error.document,
                             return_code=error.return_code)
    return error


def _problem_source(problem: Problem, data: bytes) -> Any:
    """What a Result keeps of its problem for its tables' join keys: the caller's own object (a
    dict, JSON text or bytes: no copy is kept alive), a file as its path (read again only if a
    table asks for it)."""
    if isinstance(problem, (Mapping, bytes, bytearray)):
        return problem
    if isinstance(problem, os.PathLike):
        return Path(problem)
    if isinstance(problem, str):
        return problem if _looks_like_json(problem) or not os.path.isfile(problem) else Path(problem)
    return data


def _case_spec(mechanism: str, prosumers: Optional[int], seed: Optional[int],
               feeder: Optional[str], communities: Optional[int], periods: Optional[int],
               extra: Dict[str, Any]) -> Dict[str, Any]:
    spec: Dict[str, Any] = {"mechanism": mechanism, "prosumers": prosumers, "seed": seed,
                            "feeder": feeder, "communities": communities, "periods": periods}
    spec.update(extra)
    return {k: v for k, v in spec.items() if v is not None}


def generate_case_json(mechanism: str = "energy_sharing", *, prosumers: Optional[int] = None,
                       seed: Optional[int] = None, feeder: Optional[str] = None,
                       communities: Optional[int] = None, periods: Optional[int] = None,
                       **extra: Any) -> str:
    """Like generate_case but returns the problem document as the library's JSON text
    (byte-identical for the same specification on every machine)."""
    spec = _case_spec(mechanism, prosumers, seed, feeder, communities, periods, extra)
    rc, text = _native.call_with_output("esm_generate_case", _encode_mapping(spec))
    if rc != _native.ESM_OK:
        raise _error_from(rc, text)
    if text is None:
        raise EsmarketError("internal", "esm_generate_case returned ESM_OK without a document",
                            return_code=rc)
    return text


def generate_case(mechanism: str = "energy_sharing", *, prosumers: Optional[int] = None,
                  seed: Optional[int] = None, feeder: Optional[str] = None,
                  communities: Optional[int] = None, periods: Optional[int] = None,
                  **extra: Any) -> Dict[str, Any]:
    """Generates a complete problem document (a dict) from a case specification (api.md §6).

    Builds the specification {"mechanism", "prosumers", "seed", "feeder", "communities",
    "periods", **extra} (None values omitted) and calls esm_generate_case. The same
    specification always gives the same problem.

        >>> problem = generate_case("energy_sharing", feeder="ieee123", prosumers=5000, seed=1)
        >>> clear(problem).status
        'solved'
    """
    text = generate_case_json(mechanism, prosumers=prosumers, seed=seed, feeder=feeder,
                              communities=communities, periods=periods, **extra)
    return _document_from(_native.ESM_OK, text, "esm_generate_case")


# ---------------------------------------------------------------------------------------------
# sessions (every mechanism; p2p_online steps through slots)
# ---------------------------------------------------------------------------------------------
class Session:
    """A problem kept in the library between calls (README "Sessions"), for any mechanism.

    Market mechanisms: the session decodes the problem once; each step takes an update document
    with the new values of what changed and clears the updated market:

        with esmarket.Session(problem) as s:
            r = s.step({"prosumers": {"loadKW": loads, "pvKW": pv}})         # columns, every prosumer
            r = s.step({"prosumers": [{"id": "p7", "flex": {"maxKW": 3}}],   # rows, by id
                        "grid": {"buyPrice": 0.31}})
            document = s.state()        # the equivalent full problem document (a dict)

    A step gives the result a fresh clear() of state() gives, bit for bit.

    p2p_online: one slot at a time, with its state (SoC, queues) kept in the library:

        with esmarket.Session(config) as s:
            r = s.step({"pvKW": [...], "loadKW": [...], "buyPrice": 0.25, "sellPrice": 0.05})
            checkpoint = s.state()          # a dict; esmarket.Session(checkpoint) resumes there

    config: a problem document (dict, JSON text, bytes or path) or a p2p_online state document
    from state(). step() returns the Result; bad input raises EsmarketError (with .path, in the
    update document) and leaves the session unchanged. A session must not be used from two
    threads at once; different sessions are independent. close() (or leaving the with block)
    releases it.
    """

    def __init__(self, config: Problem) -> None:
        self._handle: Optional[int] = None
        data = _problem_bytes(config)
        self._config = _problem_source(config, data)  # the steps' tables take their keys from it
        handle, error = _native.session_new(data)
        if not handle:
            raise _error_from(_native.ESM_ERR_INVALID_INPUT if error else _native.ESM_ERR_INTERNAL, error)
        self._handle = handle

    def _live(self) -> int:
        if not self._handle:
            raise ValueError("the session is closed")
        return self._handle

    def step(self, update: Optional[Mapping[str, Any]] = None) -> Result:
        """Clears the updated market (market mechanisms: keys prosumers, grid, options), or the
        next slot (p2p_online: keys pvKW, loadKW with one value per prosumer, buyPrice,
        sellPrice); every key is optional."""
        data = _problem_bytes(dict(update or {}))
        rc, text = _native.session_call("esm_session_step", self._live(), data)
        return Result(_document_from(rc, text, "esm_session_step"), problem=self._config)

    def state(self) -> Dict[str, Any]:
        """What esmarket.Session() resumes from: the equivalent problem document (market
        mechanisms), or the state document (slot, socKWh, queueKWh, config) of p2p_online."""
        rc, text = _native.session_call("esm_session_state", self._live())
        return _document_from(rc, text, "esm_session_state")

    def close(self) -> None:
        handle, self._handle = self._handle, None
        _native.session_free(handle)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
