"""Finding, loading and calling libesmarket through ctypes.

Lookup order of the shared library (the first that exists wins):

1. the environment variable ``ESMARKET_LIB`` (a path to the file; if it is set but does not point
   to a file, that is an error: it is never silently ignored);
2. ``libesmarket.so`` next to this module (what ``pip install`` bundles when the library was built
   before installing);
3. ``.build/release/libesmarket.so`` then ``.build/debug/libesmarket.so`` in this package's
   directory or any of its parents, then in the current working directory or any of its parents
   (a source checkout, after ``swift build -c release --product esmarket``).

The library is loaded once per process (behind a lock); the library itself is thread-safe, and
ctypes releases the GIL during each foreign call, so clearing from several Python threads runs
in parallel.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
from pathlib import Path
from typing import Callable, List, Optional, Tuple

ENV_VAR = "ESMARKET_LIB"
LIB_NAME = "libesmarket.dylib" if sys.platform == "darwin" else "libesmarket.so"

# Return codes of include/esmarket.h.
ESM_OK = 0
ESM_ERR_INVALID_JSON = 1
ESM_ERR_INVALID_INPUT = 2
ESM_ERR_UNSUPPORTED = 3
ESM_ERR_INTERNAL = 4
ESM_ERR_NULL_OUTPUT = 5

RETURN_CODE_NAMES = {
    ESM_ERR_INVALID_JSON: "invalid_json",
    ESM_ERR_INVALID_INPUT: "invalid_input",
    ESM_ERR_UNSUPPORTED: "unsupported",
    ESM_ERR_INTERNAL: "internal",
    ESM_ERR_NULL_OUTPUT: "internal",  # cannot happen through this binding
}

#: int (*esm_progress_fn)(const char *event_json, void *user)
PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)

_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_lib_path: Optional[Path] = None


class LibraryNotFoundError(OSError):
    """libesmarket could not be found or loaded."""


def _build_dirs_upwards(start: Path) -> List[Path]:
    found = []
    try:
        start = start.resolve()
    except OSError:
        return found
    for d in (start, *start.parents):
        for flavour in ("release", "debug"):
            found.append(d / ".build" / flavour / LIB_NAME)
    return found


def candidate_paths() -> List[Tuple[str, Path]]:
    """Where the library is looked for, in order, as (reason, path) pairs (env var excluded)."""
    here = Path(__file__).resolve().parent
    out: List[Tuple[str, Path]] = [("next to the package", here / LIB_NAME)]
    seen = {out[0][1]}
    for reason, start in (("build folder above the package", here),
                          ("build folder above the working directory", Path.cwd())):
        for p in _build_dirs_upwards(start):
            if p not in seen:
                seen.add(p)
                out.append((reason, p))
    return out


def find_library() -> Path:
    """Returns the path of the library that would be loaded; raises LibraryNotFoundError."""
    env = os.environ.get(ENV_VAR)
    if env:
        p = Path(env).expanduser()
        if p.is_file():
            return p
        raise LibraryNotFoundError(
            f"{ENV_VAR}={env!r} does not point to a file. Unset it to use the default lookup, or "
            f"build the library with `swift build -c release --product esmarket`.")
    looked = []
    for reason, p in candidate_paths():
        if p.is_file():
            return p
        looked.append(f"  {p}  ({reason})")
    raise LibraryNotFoundError(
        f"libesmarket not found. Set {ENV_VAR} to the path of {LIB_NAME}, reinstall the package "
        "after building the library, or run from inside the source tree after "
        "`swift build -c release --product esmarket`. Looked in:\n  "
        f"${ENV_VAR} (not set)\n" + "\n".join(looked))


def _declare(lib: ctypes.CDLL) -> None:
    # Returned strings are received as c_void_p (not c_char_p) so that ctypes does not convert
    # them to bytes and lose the pointer we must give back to esm_string_free.
    out_pp = ctypes.POINTER(ctypes.c_void_p)

    lib.esm_version.argtypes = []
    lib.esm_version.restype = ctypes.c_char_p
    lib.esm_schema.argtypes = []
    lib.esm_schema.restype = ctypes.c_char_p

    lib.esm_clear.argtypes = [ctypes.c_char_p, out_pp]
    lib.esm_clear.restype = ctypes.c_int
    lib.esm_clear_with_progress.argtypes = [ctypes.c_char_p, PROGRESS_FN, ctypes.c_void_p, out_pp]
    lib.esm_clear_with_progress.restype = ctypes.c_int
    lib.esm_generate_case.argtypes = [ctypes.c_char_p, out_pp]
    lib.esm_generate_case.restype = ctypes.c_int
    lib.esm_string_free.argtypes = [ctypes.c_void_p]
    lib.esm_string_free.restype = None

    lib.esm_session_new.argtypes = [ctypes.c_char_p, out_pp]
    lib.esm_session_new.restype = ctypes.c_void_p
    lib.esm_session_step.argtypes = [ctypes.c_void_p, ctypes.c_char_p, out_pp]
    lib.esm_session_step.restype = ctypes.c_int
    lib.esm_session_state.argtypes = [ctypes.c_void_p, out_pp]
    lib.esm_session_state.restype = ctypes.c_int
    lib.esm_session_free.argtypes = [ctypes.c_void_p]
    lib.esm_session_free.restype = None


def library() -> ctypes.CDLL:
    """The loaded library (loaded on first use, once per process)."""
    global _lib, _lib_path
    lib = _lib
    if lib is not None:
        return lib
    with _lock:
        if _lib is None:
            path = find_library()
            try:
                lib = ctypes.CDLL(str(path))
            except OSError as e:
                raise LibraryNotFoundError(f"could not load {path}: {e}") from e
            try:
                _declare(lib)
            except AttributeError as e:
                raise LibraryNotFoundError(
                    f"{path} is not a usable libesmarket (missing symbol: {e})") from e
            _lib_path = path
            _lib = lib
        return _lib


def library_path() -> Path:
    """Path of the loaded library (loads it if needed)."""
    library()
    assert _lib_path is not None
    return _lib_path


def _take_string(lib: ctypes.CDLL, ptr: ctypes.c_void_p) -> Optional[str]:
    """Copies a string returned by esmarket and releases it with esm_string_free."""
    if not ptr.value:
        return None
    try:
        raw = ctypes.string_at(ptr.value)
    finally:
        lib.esm_string_free(ptr)
    return raw.decode("utf-8", errors="replace")


def call_with_output(func_name: str, data: bytes) -> Tuple[int, Optional[str]]:
    """Calls `int f(const char *in, char **out)`; returns (return code, output string)."""
    lib = library()
    out = ctypes.c_void_p(None)
    rc = getattr(lib, func_name)(data, ctypes.byref(out))
    return rc, _take_string(lib, out)


def clear_with_progress(data: bytes, callback: Callable[[bytes], int]) -> Tuple[int, Optional[str]]:
    """esm_clear_with_progress with a Python callable(event_bytes) -> int.

    The CFUNCTYPE object is kept alive (a local of this frame) for the whole call.
    """
    lib = library()
    out = ctypes.c_void_p(None)

    def trampoline(event, _user):  # must never raise into C: the caller's callable catches all
        return callback(event)

    c_fn = PROGRESS_FN(trampoline)
    rc = lib.esm_clear_with_progress(data, c_fn, None, ctypes.byref(out))
    result = _take_string(lib, out)
    del c_fn
    return rc, result


def session_new(data: bytes) -> Tuple[Optional[int], Optional[str]]:
    """esm_session_new; returns (session pointer or None, error document or None)."""
    lib = library()
    err = ctypes.c_void_p(None)
    handle = lib.esm_session_new(data, ctypes.byref(err))
    return handle, _take_string(lib, err)


def session_call(func_name: str, handle: int, data: Optional[bytes] = None) -> Tuple[int, Optional[str]]:
    """esm_session_step(handle, data, &out) or esm_session_state(handle, &out)."""
    lib = library()
    out = ctypes.c_void_p(None)
    if data is None:
        rc = getattr(lib, func_name)(ctypes.c_void_p(handle), ctypes.byref(out))
    else:
        rc = getattr(lib, func_name)(ctypes.c_void_p(handle), data, ctypes.byref(out))
    return rc, _take_string(lib, out)


def session_free(handle: Optional[int]) -> None:
    if handle:
        library().esm_session_free(ctypes.c_void_p(handle))
