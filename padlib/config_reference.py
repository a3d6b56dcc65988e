"""docs/configuration.md's reference of every config key, made from the schema instead of by hand.

    python -m padlib.config_reference schemas/config.schema.yaml --doc docs/configuration.md

rewrites the block between the page's two ``config-reference`` markers: one row per key path
(``align.gamma``, ``encoders.<name>.template``, ``sources.<name>.ratings``), with its type or choices,
its default and the schema's description. ``tests/test_docs.py`` checks the page is current.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from padlib.io import write_text
from padlib.report.readme_table import replace_block

START = "<!-- config-reference: written by python -m padlib.config_reference -->"
END = "<!-- config-reference: end -->"


def _parts(node: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """``node`` with what it refers to (``$ref``, ``allOf``) and its alternatives (``oneOf``)."""
    nodes = [node]
    if "$ref" in node:
        nodes += _parts(schema["$defs"][node["$ref"].rsplit("/", 1)[-1]], schema)
    for key in ("allOf", "oneOf"):
        for part in node.get(key, []):
            nodes += _parts(part, schema)
    return nodes


def _kind(nodes: list[dict[str, Any]]) -> str:
    choices = [v for node in nodes for v in node.get("enum", [])] + [node["const"] for node in nodes if "const" in node]
    if choices:
        return " \\| ".join(f"`{_scalar(v)}`" for v in dict.fromkeys(choices))
    types = [t for node in nodes for t in ([node["type"]] if isinstance(node.get("type"), str) else node.get("type", []))]
    return " or ".join(dict.fromkeys(types)) or "object"


def _scalar(value: Any) -> str:
    return json.dumps(value) if value is None or isinstance(value, bool) else str(value)


def _default(nodes: list[dict[str, Any]]) -> str:
    for node in nodes:
        if "default" in node:
            value = node["default"]
            shown = json.dumps(value) if isinstance(value, (dict, list)) else _scalar(value)
            return f"`{shown}`"
    return ""


def _description(nodes: list[dict[str, Any]]) -> str:
    text = next((node["description"] for node in nodes if "description" in node), "")
    return " ".join(text.split()).replace("|", "\\|")


def rows(schema: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(key path, type or choices, default, description) for every key, depth first, in schema order;
    the alternatives that define a key (the source kinds) are merged into one row."""
    found: list[tuple[str, str, str, str]] = []
    expanded: dict[str, str] = {}  # a $defs entry → the first key path its keys were listed under

    def walk(path: str, given: list[dict[str, Any]]) -> None:
        nodes = [part for node in given for part in _parts(node, schema)]
        refs = [r.rsplit("/", 1)[-1] for n in given for r in [n.get("$ref"), *(p.get("$ref") for p in n.get("allOf", []))]
                if r and "properties" in schema["$defs"][r.rsplit("/", 1)[-1]]]
        seen = [expanded[r] for r in refs if r in expanded]
        if path and seen:
            found.append((path, "object", "", f"the keys of `{seen[0]}`"))
            return
        expanded.update({r: path for r in refs})
        if path:
            found.append((path, _kind(nodes), _default(nodes), _description(nodes)))
        for key in dict.fromkeys(k for n in nodes for k in n.get("properties", {})):
            walk(f"{path}.{key}" if path else key, [n["properties"][key] for n in nodes if key in n.get("properties", {})])
        extra = [n["additionalProperties"] for n in nodes if isinstance(n.get("additionalProperties"), dict)]
        if extra:
            walk(f"{path}.<name>", extra)

    top = schema["properties"]
    for key in sorted(top, key=lambda k: k == "variants"):  # variants last: their blocks repeat the sections
        walk(key, [top[key]])
    return found


def reference_table(schema: dict[str, Any]) -> str:
    lines = ["| key | type or choices | default | description |", "|---|---|---|---|"]
    lines += [f"| `{path}` | {kind} | {default} | {text} |" for path, kind, default, text in rows(schema)]
    return "\n".join(lines)


def reference_block(schema_path: str | Path) -> str:
    schema = yaml.safe_load(Path(schema_path).read_text())
    return "\n".join([START, "", reference_table(schema), "", END])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m padlib.config_reference", description=__doc__.split("\n")[0])
    parser.add_argument("schema", help="schemas/config.schema.yaml")
    parser.add_argument("--doc", help="rewrite this file's config-reference block instead of printing it")
    args = parser.parse_args(argv)
    block = reference_block(args.schema)
    if args.doc is None:
        print(block)
        return 0
    write_text(args.doc, replace_block(Path(args.doc).read_text(), block, START, END))
    return 0


if __name__ == "__main__":
    sys.exit(main())
