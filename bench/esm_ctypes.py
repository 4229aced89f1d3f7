"""The C API through ctypes, for the benchmarks: JSON bytes in, JSON bytes out, timed."""
import ctypes
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_library(path=None):
    path = path or os.environ.get("ESMARKET_LIB") or str(ROOT / ".build" / "release" / "libesmarket.so")
    lib = ctypes.CDLL(path)
    for name in ("esm_clear", "esm_generate_case"):
        fn = getattr(lib, name)
        fn.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
        fn.restype = ctypes.c_int
    lib.esm_string_free.argtypes = [ctypes.c_void_p]
    return lib


def call(lib, fn, text: bytes):
    """(reply bytes, seconds): the call and the copy of its result string ("JSON out")."""
    out = ctypes.c_void_p()
    start = time.perf_counter()
    code = getattr(lib, fn)(text, ctypes.byref(out))
    reply = ctypes.string_at(out.value)
    seconds = time.perf_counter() - start
    lib.esm_string_free(out)
    if code != 0:
        raise RuntimeError(reply.decode())
    return reply, seconds
