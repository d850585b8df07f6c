"""Yarn Spinner files for a dialogue: one node (``title:`` header, body between ``---`` and
``===``), one ``Speaker: text #line:<id>`` line per line, so localization can key on the ids."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# Characters that mean something in a Yarn line (markup, expressions, commands, comments, tags).
_SPECIAL = re.compile(r"([\\#{}\[\]<>/])")
_LINE = re.compile(r"^(?P<speaker>[A-Za-z0-9_]+): (?P<text>(?:[^\\#{}\[\]<>/]|\\[\\#{}\[\]<>/])+?) "
                   r"#line:(?P<id>[A-Za-z0-9_]+)$")


def identifier(text: str) -> str:
    """A Yarn node title / line id from an item id (letters, digits, underscores; not a leading digit)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return name if name[:1].isalpha() or name[:1] == "_" else f"n_{name}"


def escape(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", " ".join(text.split()))  # one physical line: whitespace runs become spaces


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def render(node: str, lines: Sequence[dict[str, Any]]) -> str:
    body = "".join(f"{line['speaker']}: {escape(line['text'])} #line:{line['id']}\n" for line in lines)
    return f"title: {node}\n---\n{body}===\n"


def parse(text: str) -> tuple[str, list[dict[str, str]]]:
    """(node title, lines) of a one-node Yarn file; ValueError naming the line that does not fit."""
    rows = text.split("\n")
    if not rows or not rows[0].startswith("title: "):
        raise ValueError("line 1: expected `title: <node>`")
    node = rows[0][len("title: "):]
    if identifier(node) != node:
        raise ValueError(f"line 1: node title {node!r} is not an identifier")
    if len(rows) < 3 or rows[1] != "---":
        raise ValueError("line 2: expected `---` after the header")
    lines, ids = [], set()
    for number, row in enumerate(rows[2:], start=3):
        if row == "===":
            if any(rest.strip() for rest in rows[number:]):
                raise ValueError(f"line {number + 1}: text after the node's `===`")
            return node, lines
        if not any(rest.strip() for rest in rows[number - 1:]):
            break  # only blank lines left: the node was never closed
        match = _LINE.match(row)
        if not match:
            raise ValueError(f"line {number}: not `Speaker: text #line:<id>` with escaped text: {row[:80]!r}")
        if match["id"] in ids:
            raise ValueError(f"line {number}: line id {match['id']} is used twice")
        ids.add(match["id"])
        lines.append({"speaker": match["speaker"], "text": unescape(match["text"]), "id": match["id"]})
    raise ValueError("the node is not closed with `===`")
