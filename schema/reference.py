#!/usr/bin/env python3
"""Writes docs/reference.md, the field-by-field reference, from schema/*.schema.json.

The schemas' descriptions, types, ranges and defaults are the one source; this script lays them
out as tables. Run it after editing a schema:

    python3 schema/reference.py            # rewrite docs/reference.md
    python3 schema/reference.py --check    # exit 1 if docs/reference.md is out of date (the tests do this)
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "reference.md"

# Objects in the order a reader meets them, with the JSON path they sit at.
PROBLEM_OBJECTS = [
    ("#", "problem document (root)"),
    ("network", "network"),
    ("bus", "network.buses[]"),
    ("line", "network.lines[]"),
    ("grid", "grid"),
    ("community", "communities[]"),
    ("prosumer", "prosumers[]"),
    ("flex", "prosumers[].flex"),
    ("storage", "prosumers[].storage"),
    ("peer", "prosumers[].peers[] (object form)"),
    ("options", "options"),
    ("conic", "conic"),
    ("csc", "conic.P, conic.A (CSC matrix)"),
    ("cone", "conic.cones[]"),
    ("sessionUpdate", "session update document (market mechanisms)"),
    ("sessionProsumerRow", "session update: prosumers[] (rows)"),
    ("sessionProsumerColumns", "session update: prosumers (columns)"),
    ("sessionFlexUpdate", "session update: prosumers[].flex"),
    ("sessionStorageUpdate", "session update: prosumers[].storage"),
    ("sessionPeriod", "session step document (p2p_online)"),
    ("sessionState", "session state document (p2p_online)"),
]
RESULT_OBJECTS = [
    ("result", "result document (root)"),
    ("objective", "objective (markets)"),
    ("prosumerRow", "prosumers[]"),
    ("communityRow", "communities[]"),
    ("busRow", "buses[]"),
    ("lineRow", "lines[]"),
    ("tradeRow", "trades[]"),
    ("lyapunovRow", "lyapunov[] (p2p_online)"),
    ("quality", "quality"),
    ("stats", "stats"),
    ("error", "error document"),
]


def number(x):
    if isinstance(x, float) and x.is_integer() and abs(x) >= 1e6:
        return f"{x:.0e}".replace("e+0", "e").replace("e+", "e")
    return json.dumps(x)


def resolve(schema, node):
    while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/$defs/"):
        merged = dict(schema["$defs"][node["$ref"].split("/")[-1]])
        merged.update({k: v for k, v in node.items() if k != "$ref"})
        if "$ref" in merged and merged["$ref"] == node["$ref"]:
            del merged["$ref"]
        node = merged
    return node


def describe_type(schema, node):
    """A short type with its range, e.g. `number ≥ 0, ≤ 1e9` or `series of number ≥ 0`."""
    ref = node.get("$ref", "").split("/")[-1] if isinstance(node, dict) else ""
    node = resolve(schema, node)
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    if "oneOf" in node:
        kinds = node["oneOf"]
        if len(kinds) == 2 and kinds[0].get("type") == "number" and kinds[1].get("type") == "array" \
                and kinds[1].get("items", {}).get("type") == "number" and ref != "perPeriod":
            return f"number or per-period array{bounds(kinds[0])}"
        if ref == "perPeriod":
            return "number (per period: array)"
        return " or ".join(describe_type(schema, k) for k in kinds)
    kind = node.get("type")
    if isinstance(kind, list):
        return " or ".join(kind) + bounds(node)
    if kind == "array":
        items = node.get("items")
        inner = describe_type(schema, items) if items else "any"
        size = ""
        if node.get("minItems") == node.get("maxItems") and "minItems" in node:
            size = f" of {node['minItems']}"
        return f"array{size} of {inner}"
    if kind == "object":
        return f"object ({ref})" if ref else "object"
    if kind is None and ref in ("id",):
        return "id"
    if ref == "id":
        return "id (string)"
    return (kind or "any") + bounds(node)


def bounds(node):
    parts = []
    if "minimum" in node:
        parts.append(f"≥ {number(node['minimum'])}")
    if "exclusiveMinimum" in node:
        parts.append(f"> {number(node['exclusiveMinimum'])}")
    if "maximum" in node:
        parts.append(f"≤ {number(node['maximum'])}")
    if "exclusiveMaximum" in node:
        parts.append(f"< {number(node['exclusiveMaximum'])}")
    return (" " + ", ".join(parts)) if parts else ""


def table(schema, pointer, title, out):
    node = schema if pointer == "#" else schema["$defs"][pointer]
    out.append(f"### `{title}`")
    out.append("")
    if node.get("description") and pointer != "#":
        out.append(node["description"])
        out.append("")
    required = set(node.get("required", []))
    out.append("| key | type | required | default | meaning |")
    out.append("|---|---|---|---|---|")
    for key, sub in node["properties"].items():
        if key == "extra":
            continue
        resolved = resolve(schema, sub) if isinstance(sub, dict) else {}
        kind = describe_type(schema, sub)
        if kind.startswith("object (") and kind[8:-1] in dict(PROBLEM_OBJECTS + RESULT_OBJECTS):
            kind = f"object, see `{dict(PROBLEM_OBJECTS + RESULT_OBJECTS)[kind[8:-1]]}`"
        elif "items" in resolved and isinstance(resolved["items"], dict) and resolved["items"].get("$ref"):
            name = resolved["items"]["$ref"].split("/")[-1]
            if name in dict(PROBLEM_OBJECTS + RESULT_OBJECTS):
                kind = f"array, see `{dict(PROBLEM_OBJECTS + RESULT_OBJECTS)[name]}`"
        default = f"`{json.dumps(resolved['default'])}`" if "default" in resolved else ""
        text = (sub.get("description") if isinstance(sub, dict) else "") or resolved.get("description", "")
        text = text.replace("|", "\\|").replace("\n", " ")
        out.append(f"| `{key}` | {kind} | {'yes' if key in required else ''} | {default} | {text} |")
    out.append("")
    if node.get("additionalProperties") is False:
        out.append("Other keys are refused (`invalid_input` at the key's path), except `extra`.")
        out.append("")


def render():
    problem = json.loads((ROOT / "schema" / "problem.schema.json").read_text(encoding="utf-8"))
    result = json.loads((ROOT / "schema" / "result.schema.json").read_text(encoding="utf-8"))
    out = ["# Field reference", "",
           "<!-- Generated by schema/reference.py from schema/*.schema.json: do not edit by hand. -->", "",
           "Every key of the problem and result documents, from the JSON Schemas in `schema/` (the",
           "machine-readable contract). Which mechanisms read which keys, and what each mechanism",
           "answers, is in [mechanisms.md](mechanisms.md); the conventions (units, signs, periods) in",
           "[problem.md](problem.md). \"per-period array\": with `periods` = T > 1, an array of exactly T",
           "numbers instead of the scalar.", "",
           "Rules across keys that a table cannot show (which mechanism requires or refuses which key)",
           "are the `allOf` rules of `problem.schema.json`, spelled out in mechanisms.md.", "",
           "## Problem document", ""]
    for pointer, title in PROBLEM_OBJECTS:
        table(problem, pointer, title, out)
    out += ["## Result document", ""]
    for pointer, title in RESULT_OBJECTS:
        table(result, pointer, title, out)
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv):
    text = render()
    if "--check" in argv:
        if not TARGET.is_file() or TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run python3 schema/reference.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
