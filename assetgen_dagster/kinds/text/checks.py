"""Checks the text kinds share, over one item's record of strings."""

from __future__ import annotations

from collections.abc import Mapping

from assetgen_dagster.engine import Verdict, fail, ok


def no_empty_strings(strings: Mapping[str, str]) -> Verdict:
    """Every string has visible text."""
    empty = [key for key, text in strings.items() if not str(text).strip()]
    return fail(f"empty: {', '.join(empty[:10])}", empty=len(empty)) if empty else ok(strings=len(strings))


def within_budget(strings: Mapping[str, str], budgets: Mapping[str, int]) -> Verdict:
    """Every string fits its character budget (what the UI has room for)."""
    over = {key: f"{len(strings[key])}/{limit}" for key, limit in budgets.items()
            if key in strings and len(strings[key]) > limit}
    if over:
        return fail("over budget: " + ", ".join(f"{key} {chars}" for key, chars in over.items()))
    return ok(**{f"{key}_chars": len(strings[key]) for key in budgets if key in strings})
