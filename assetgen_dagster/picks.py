"""A batch's picks file, ``<batch>.picks.yaml``: which candidate of each item ships, and which were re-rolled.

The batch file stays as the person wrote it; the picks live beside it, human-editable::

    lamp:                # item id
      pick: 2            # the variant the pack ships (default: the best scored one, else 0)
      rerolled: {1: 2}   # variant 1 has been re-rolled twice (its seed offset)

A malformed file is a :class:`BatchError` naming the file, item and field. Entries for items the batch
no longer has, or for variants beyond an item's current count, are left out with a note (lowering
``variants`` from 4 to 2 keeps variants 0-1 and their picks).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import Field, ValidationError

from assetgen_dagster.batches import (
    MAX_VARIANTS,
    PICKS_SUFFIX,
    BatchError,
    PromptBatch,
    Strict,
    item_variants,
    plain_yaml_error,
    read_prompts_text,
)
from assetgen_dagster.locks import hold_one
from assetgen_dagster.outputs import atomic_write_bytes

Variant = Annotated[int, Field(ge=0, lt=MAX_VARIANTS)]
Rerolls = Annotated[int, Field(ge=1, le=1_000_000)]


class ItemPicks(Strict):
    """One item's line in the picks file."""

    pick: Variant | None = None
    rerolled: dict[Variant, Rerolls] = Field(default_factory=dict)


@dataclass(frozen=True)
class Picks:
    """The picks that apply to a batch as it is now, and what was left out of the file and why."""

    items: dict[str, ItemPicks] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def pick(self, item_id: str) -> int | None:
        """The variant the person picked, or None (the best scored one ships, else variant 0)."""
        chosen = self.items.get(item_id)
        return chosen.pick if chosen is not None else None

    def rerolls(self, item_id: str, variant: int) -> int:
        chosen = self.items.get(item_id)
        return chosen.rerolled.get(variant, 0) if chosen is not None else 0


def picks_path(prompts_dir: Path, batch_id: str) -> Path:
    return prompts_dir / f"{batch_id}{PICKS_SUFFIX}"


def load_picks(prompts_dir: Path, batch_id: str, batch: PromptBatch) -> Picks:
    """The batch's picks file validated against the batch; no file: no picks (every item ships its default)."""
    path = picks_path(prompts_dir, batch_id)
    text = read_prompts_text(path, missing_ok=True)
    return Picks() if text is None else parse_picks(text, path, batch)


def parse_picks(text: str, path: Path | str, batch: PromptBatch) -> Picks:
    """Validate the text of a picks file (YAML, safe load) against ``batch``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BatchError(path, [f"invalid YAML {plain_yaml_error(exc, text)}"]) from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise BatchError(path, ["top level must be a mapping of item id -> {pick, rerolled}"])
    counts = {item.id: item_variants(batch, item) for item in batch.items}
    items, problems, notes = {}, [], []
    for item_id, value in data.items():
        try:
            picks = ItemPicks.model_validate(value if value is not None else {})
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"]) or "(the entry)"
                message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
                problems.append(f"item {item_id!r}, field {where!r}: {message}")
            continue
        if item_id not in counts:
            notes.append(f"{Path(path).name}: item {item_id!r} is not in the batch; its picks are ignored")
            continue
        count = counts[item_id]
        if picks.pick is not None and picks.pick >= count:
            notes.append(f"{Path(path).name}: item {item_id!r} has {count} variant(s); pick {picks.pick} is ignored")
            picks = picks.model_copy(update={"pick": None})
        beyond = sorted(k for k in picks.rerolled if k >= count)
        if beyond:
            notes.append(f"{Path(path).name}: item {item_id!r} has {count} variant(s); re-rolls of {beyond} are ignored")
            picks = picks.model_copy(update={"rerolled": {k: n for k, n in picks.rerolled.items() if k < count}})
        items[item_id] = picks
    if problems:
        raise BatchError(path, problems)
    return Picks(items, tuple(notes))


class PickRefused(ValueError):
    """A pick or re-roll that names no item with candidates, or a variant it does not have."""


def change_picks(prompts_dir: Path, batch_id: str, batch: PromptBatch, item_id: str, variant: int,
                 reroll: bool, locks: Path) -> ItemPicks:
    """Pick ``variant`` of ``item_id`` (or re-roll it: its seed offset counted up) in the batch's picks
    file, read and written back atomically while holding ``locks/<batch>.picks.lock`` (two clicks at
    once are applied one after the other). Returns the item's picks as written. The file is rewritten
    in a canonical form (comments are not kept)."""
    counts = {item.id: item_variants(batch, item) for item in batch.items}
    if item_id not in counts:
        raise PickRefused(f"batch {batch_id!r} has no item {item_id!r}")
    if counts[item_id] < 2:
        raise PickRefused(f"item {item_id!r} has one variant: nothing to pick")
    if not 0 <= variant < counts[item_id]:
        raise PickRefused(f"item {item_id!r} has variants 0-{counts[item_id] - 1}, not {variant}")
    with hold_one([locks / f"{batch_id}.picks.lock"], f"pid {os.getpid()}", lambda _: None, "picks"):
        picks = load_picks(prompts_dir, batch_id, batch)
        current = picks.items.get(item_id, ItemPicks())
        if reroll:
            rerolled = {**current.rerolled, variant: current.rerolled.get(variant, 0) + 1}
            current = current.model_copy(update={"rerolled": rerolled})
        else:
            current = current.model_copy(update={"pick": variant})
        items = {**picks.items, item_id: current}
        text = yaml.safe_dump({key: value.model_dump(exclude_defaults=True) for key, value in sorted(items.items())},
                              sort_keys=True, default_flow_style=False)
        atomic_write_bytes(picks_path(prompts_dir, batch_id), text.encode())
    return current
