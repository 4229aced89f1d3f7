"""The built-in feeders as network documents, read from the copy embedded in the Swift sources,
for the independent Python references (they must not ask esmarket for the feeder they check)."""
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_BUILTIN = {}


def builtin_network(name):
    """The built-in feeder's network document (a fresh copy)."""
    if not _BUILTIN:
        text = (REPO / "Sources" / "ESMGrid" / "BuiltinFeeders.swift").read_text()
        for key, body in re.findall(r'case \.(\w+): return #"(.*?)"#', text):
            _BUILTIN[key] = json.loads(body)
    return json.loads(json.dumps(_BUILTIN[name]))


def network_document(problem):
    """A problem's network as a full document: a `builtin` reference expanded, its overrides kept."""
    net = problem["network"]
    if "builtin" in net:
        full = builtin_network(net["builtin"])
        for key, value in net.items():
            if key != "builtin":
                full[key] = value
        return full
    return net
