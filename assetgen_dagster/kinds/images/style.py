"""A batch's art style: LoRA adapters applied to every text-to-image item, so forty props look like
one game's. Top-level ``style:`` in a batch, replaced per item by the item's own ``style:``.

A LoRA goes through the same rules as a model (allow-list, revision pinned to a commit, safetensors
only, the Hugging Face cache); its repo, commit, file and weight are part of each item's identity and
provenance. Adapters are loaded into the already loaded pipeline (peft, through diffusers'
``load_lora_weights``) and stay there: the next batch that asks for another set swaps them
(``set_adapters``, ``delete_adapters``) without reloading the base weights.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field

from assetgen_dagster.batches import BatchError, ImageItem, Strict
from assetgen_dagster.kinds.images.tiny import LORA_WEIGHTS
from assetgen_dagster.models import (
    ModelNotAllowedError,
    ModelNotCachedError,
    ModelUnavailableError,
    UnsupportedModelError,
)

REPO_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$"
WEIGHT_FILE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}\.safetensors$"  # a file at the repo's top level, safetensors only
MAX_LORAS = 8


class LoraRef(Strict):
    """One LoRA of a style: a repo on the allow-list, its weight and (if not diffusers' default) file."""

    repo: Annotated[str, Field(pattern=REPO_ID)]
    weight: Annotated[float, Field(ge=-2.0, le=2.0)] = 1.0
    weight_name: Annotated[str, Field(pattern=WEIGHT_FILE)] = LORA_WEIGHTS
    revision: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] = "main"


class Style(Strict):
    """What makes a batch's images look alike."""

    loras: Annotated[list[LoraRef], Field(max_length=MAX_LORAS)] = []


SECTION = {"style": (Style | None, None)}  # the top-level batch key, shared by every image kind


class StyledImageItem(ImageItem):
    """An image item that takes the batch's style, or its own (``style: {loras: []}`` for none)."""

    style: Style | None = None


def style_of(batch: Any, item: Any) -> Style | None:
    """The style an item is made in: its own, else the batch's, else none."""
    own = getattr(item, "style", None)
    return own if own is not None else getattr(batch, "style", None)


@dataclass(frozen=True)
class AppliedLora:
    """A LoRA as one item's request records it (identity and provenance)."""

    repo: str
    commit: str
    weight_name: str
    weight: float
    license: str  # the model card's, for provenance (fixed by repo and commit, so it moves no identity on its own)

    @property
    def adapter_name(self) -> str:
        """The name the adapter is loaded under in the pipeline (peft allows no dots or slashes)."""
        return re.sub(r"[^A-Za-z0-9_]", "_", f"{self.repo}_{self.commit[:12]}_{self.weight_name}")


def resolve_loras(models: Any, batch_file: Any, item: Any,
                  style: Style | None) -> tuple[tuple[AppliedLora, ...], tuple[tuple[str, Any], ...]]:
    """Pin each LoRA of ``style`` to a commit and make its file present (before any model loads):
    the LoRAs as the item's identity records them, and (adapter name, weights file) for loading them.
    A refused or missing one is a :class:`BatchError` naming the file, the item and the field."""
    if style is None or not style.loras:
        return (), ()
    field = "style" if getattr(item, "style", None) is not None else "style (the batch's)"
    applied, files = [], []
    for index, lora in enumerate(style.loras):
        try:
            adapter = models.adapter(lora.repo, lora.revision, lora.weight_name)
        except (ModelNotAllowedError, ModelNotCachedError, ModelUnavailableError, UnsupportedModelError) as exc:
            # refused or absent: bad input, not retried (a download that failed is, by the retry policy)
            raise BatchError(batch_file, [f"item {item.id!r}, field '{field}.loras[{index}].repo': {exc}"]) from None
        applied.append(AppliedLora(lora.repo, adapter.commit, lora.weight_name, lora.weight, adapter.license))
        files.append((applied[-1].adapter_name, adapter.path))
    return tuple(applied), tuple(files)


def apply_loras(pipe: Any, loras: Sequence[AppliedLora], files: dict[str, Any]) -> None:
    """Make ``loras`` (and only them) active in ``pipe`` with their weights: load the ones it lacks
    from ``files`` (adapter name -> weights file), delete the ones no longer asked for, and switch
    LoRA off for an unstyled call (the adapters stay loaded). The base weights are never reloaded."""
    loaded = _loaded_adapters(pipe)
    if not loras:
        if loaded:
            pipe.disable_lora()  # kept loaded: the next styled call needs no reload
        return
    wanted = {lora.adapter_name for lora in loras}
    stale = sorted(loaded - wanted)
    if stale:
        pipe.delete_adapters(stale)
    for lora in loras:
        if lora.adapter_name not in loaded:
            path = files[lora.adapter_name]
            pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=lora.adapter_name)
    pipe.enable_lora()
    pipe.set_adapters([lora.adapter_name for lora in loras], adapter_weights=[lora.weight for lora in loras])


def _loaded_adapters(pipe: Any) -> set[str]:
    """The adapters loaded into any of the pipeline's components (none before the first LoRA)."""
    if not hasattr(pipe, "get_list_adapters"):
        return set()
    return {name for names in pipe.get_list_adapters().values() for name in names}

