"""Every single-field mutation of a JSON document, named by a field pattern, for tamper tests.

Generic over the document's shape: it walks whatever fields the artefact has today, so the
tamper matrix follows format changes (a new field is mutated the day it appears). A field
pattern writes list indices as ``[]`` and data-valued keys (actor ids, node ranges, EPCIS
extension names) as ``{}``, so one row of the matrix stands for every such field.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Path = tuple[Any, ...]
_FIELD = re.compile(r"^[a-z_][a-z0-9_]*$")  # our own field names; anything else is data
KINDS = ("changed", "wrong type", "removed", "unknown field")


MAX_SEGMENTS = 4  # deeper fields fold into their ancestor's row ("…"): EPCIS bodies nest deep


def pattern(path: Path) -> str:
    out = ""
    for n, p in enumerate(path):
        if n == MAX_SEGMENTS:
            return out + "…"
        if isinstance(p, int):
            out += "[]"
        else:
            out += ("." if out else "") + (p if _FIELD.match(p) else "{}")
    return out or "(root)"


def _walk(node: Any, prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, (*prefix, i))


def tweak(value: Any) -> Any:
    """A different value of the same type (the smallest visible edit)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.0
    if value is None:
        return "x"
    if isinstance(value, str):
        return _tweak_text(value)
    if isinstance(value, list):
        return [*value, value[-1]] if value else [0]
    return {**value, "x": 1}


def _tweak_text(text: str) -> str:
    """Change the middle character within its own class (digit, hex letter, letter), so an
    encoded value (hex, base64, URN) stays well-formed and only its meaning changes."""
    if not text:
        return "0"
    for i in [len(text) // 2, *range(len(text))]:
        c = text[i]
        if c.isdigit():
            new = str((int(c) + 1) % 10)
        elif c in "abcdef" or c in "ABCDEF":
            base = "abcdef" if c.islower() else "ABCDEF"
            new = base[(base.index(c) + 1) % 6]
        elif c.isascii() and c.isalpha():
            new = "x" if c != "x" else "y"
        else:
            continue
        return text[:i] + new + text[i + 1 :]
    return text + "x"


def retype(value: Any) -> Any:
    """A value of another JSON type."""
    if isinstance(value, bool) or value is None:
        return "true"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return 0
    if isinstance(value, list):
        return {}
    return []


@dataclass(frozen=True)
class Mutation:
    field: str  # the pattern
    kind: str
    doc: Any


def _get(doc: Any, path: Path) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def mutations(doc: Any) -> Iterator[Mutation]:
    """Each single-field change: every leaf changed, retyped and removed; every object given
    an unknown field; every list element removed."""
    for path, value in list(_walk(doc)):
        if not path:
            continue
        parent, last = path[:-1], path[-1]
        leaf = not isinstance(value, dict | list)
        if leaf or isinstance(value, list):
            for kind, new in (("changed", tweak(value)), ("wrong type", retype(value))):
                m = copy.deepcopy(doc)
                _get(m, parent)[last] = new
                yield Mutation(pattern(path), kind, m)
        m = copy.deepcopy(doc)
        del _get(m, parent)[last]
        yield Mutation(pattern(path), "removed", m)
        if isinstance(value, dict):
            m = copy.deepcopy(doc)
            _get(m, path)["x_unknown"] = 1
            yield Mutation(pattern(path), "unknown field", m)
    m = copy.deepcopy(doc)
    if isinstance(m, dict):
        m["x_unknown"] = 1
        yield Mutation("(root)", "unknown field", m)
