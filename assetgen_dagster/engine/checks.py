"""Per-item quality checks and their per-batch outcome.

A check looks at one item's output (its "artifact": an image array, a mesh...) and returns a
:class:`Verdict`. The engine runs it when the item is written and stores the verdict in the
asset's manifest, so a re-run that reuses the item reuses its verdict too (no decoding). A blocking
check stops the item, and only that item, from being derived further (LODs, PBR maps...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_LISTED = 20  # failures listed by name in check metadata; the rest are counted


@dataclass(frozen=True)
class Verdict:
    """One item's result for one check: passed or not, why, and the figures behind it."""

    passed: bool
    message: str = ""
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "message": self.message, "figures": dict(self.figures)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(bool(data["passed"]), str(data.get("message", "")), dict(data.get("figures", {})))


def ok(**figures: Any) -> Verdict:
    return Verdict(True, "", figures)


def fail(message: str, **figures: Any) -> Verdict:
    return Verdict(False, message, figures)


@dataclass(frozen=True)
class ItemCheck:
    """A named check over one item's artifact. ``summary`` turns a batch's verdicts into a few
    batch-level figures for the UI (e.g. the worst seam ratio)."""

    name: str
    description: str
    check: Callable[[Any, Any], Verdict]  # (item, artifact) -> Verdict
    blocking: bool = False
    summary: Callable[[Mapping[str, Verdict]], dict[str, Any]] | None = None


@dataclass
class CheckOutcome:
    """A check's result over one batch: what Dagster records as one asset check evaluation."""

    passed: bool
    failures: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        checked = self.metadata.get("items_checked")
        if self.passed:
            return f"all {checked} items pass" if checked is not None else "passed"
        shown = "; ".join(f"{item}: {why}" for item, why in list(self.failures.items())[:MAX_LISTED])
        more = len(self.failures) - MAX_LISTED
        return shown + (f"; and {more} more (see the asset's manifest.json)" if more > 0 else "")


def batch_outcome(check: ItemCheck, verdicts: Mapping[str, Verdict]) -> CheckOutcome:
    """Every item's verdict for ``check`` as one outcome; metadata stays bounded for 1,000 items."""
    failures = {item: verdict.message or "failed" for item, verdict in verdicts.items() if not verdict.passed}
    metadata: dict[str, Any] = {"items_checked": len(verdicts), "items_failed": len(failures)}
    if failures:
        metadata["failures"] = dict(list(failures.items())[:MAX_LISTED])
    if check.summary is not None and verdicts:
        metadata.update(check.summary(verdicts))
    return CheckOutcome(passed=not failures, failures=failures, metadata=metadata)


def worst(figure: str, key: str | None = None, highest: bool = True) -> Callable[[Mapping[str, Verdict]], dict]:
    """A summary: the highest (or lowest) value of one figure across the batch's items."""

    def summary(verdicts: Mapping[str, Verdict]) -> dict[str, Any]:
        values = [v.figures[figure] for v in verdicts.values() if isinstance(v.figures.get(figure), (int, float))]
        if not values:
            return {}
        return {key or f"{'max' if highest else 'min'}_{figure}": max(values) if highest else min(values)}

    return summary
