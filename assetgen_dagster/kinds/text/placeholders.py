"""Placeholders in game strings ({player}, %s, %d, [b]...[/b], \\n and line breaks) that a
translation must keep."""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"\{[A-Za-z0-9_]*\}|%[sd]|\[/?[a-z]+\]|\\n|\n")
# Characters a translated run of text between placeholders may not contain (so none is invented).
_TEXT = r"[^{}%\[\]\\\"]"


def placeholders(text: str) -> list[str]:
    """The placeholders of ``text``, in order."""
    return PLACEHOLDER.findall(text)


def translation_pattern(source: str, max_chars: int) -> str:
    """A regular expression for a translation of ``source``: free text with every placeholder of the
    source exactly once, in the source's order, so they are restored by construction."""
    found = placeholders(source)
    budget = max(8, max_chars // (len(found) + 1))
    text = f"{_TEXT}{{0,{budget}}}"
    first = f"{_TEXT}{{1,{budget}}}" if not found else text  # never an empty translation
    return first + "".join(re.escape(token) + text for token in found)


def to_model(text: str) -> str:
    """Line breaks as the two characters ``\\n`` (Godot's escape), which a model can write."""
    return text.replace("\n", "\\n")


def restore(translated: str, source: str) -> str:
    """Put the source's own placeholders back into a translation of ``to_model(source)``, in order
    (a line break comes back as a line break)."""
    originals = iter(placeholders(source))
    return PLACEHOLDER.sub(lambda match: next(originals, match.group(0)), translated)
