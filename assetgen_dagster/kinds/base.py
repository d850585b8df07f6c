"""What a kind of game asset declares: its item schema, its assets, its pack targets, its models and
how it relates to other kinds.

A :class:`Kind` is complete or it cannot be registered: every part is a required field,
:func:`kind_problems` checks how its own parts fit together (names, roles, pack targets), and the
registry (``assetgen_dagster.registry``) checks what it declares about other kinds (the kinds it
consumes, the assets its assets read), naming the kind and the part.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assetgen_dagster.batches import ItemBase, is_valid_id
from assetgen_dagster.engine import ItemAsset
from assetgen_dagster.models.catalog import ModelRole, TinyModel, role_problems

__all__ = ["Kind", "KindError", "ModelRole", "PackTarget", "TinyModel", "in_folder", "kind_problems"]


class KindError(TypeError):
    """A kind declaration is incomplete or inconsistent."""


@dataclass(frozen=True)
class PackTarget:
    """Where one asset's files go in the engine-ready pack.

    ``path`` maps (item id, file name) to a path inside the pack; ``batch_files`` maps the asset's
    batch-level files (e.g. an atlas) to theirs.
    """

    asset: str
    path: Callable[[str, str], str]
    # Batch-level file name -> pack path: a table, or a function (None: not packed) when names vary (fr.po).
    batch_files: dict[str, str] | Callable[[str], str | None] = field(default_factory=dict)

    def batch_path(self, name: str) -> str | None:
        return self.batch_files(name) if callable(self.batch_files) else self.batch_files.get(name)


def in_folder(folder: str) -> Callable[[str, str], str]:
    """A pack path that keeps the file name under ``folder`` (the common case)."""
    return lambda item_id, file_name: f"{folder}/{file_name}"


@dataclass(frozen=True)
class Kind:
    """A kind of game asset, complete: batch items of ``kind: <name>`` are validated by ``item``,
    generated and derived by ``assets``, packed by ``pack``, with models from ``models``."""

    name: str
    item: type[ItemBase]
    assets: Sequence[ItemAsset]
    pack: Sequence[PackTarget]
    models: Sequence[ModelRole]
    summary: str  # one line for docs and the UI
    # How the review page draws an item (engine.cards.ReviewItem -> HTML); default: images, GLB viewers, links.
    review: Callable[[Any], Any] | None = None
    # Kinds whose outputs this kind's assets read (mesh reads concept_art images); the registry refuses
    # a kind that consumes an unregistered kind, or an asset that reads an asset of a kind not consumed.
    consumes: tuple[str, ...] = ()
    # The asset whose per-item records carry text a game translates (it implements ``localizable``);
    # the batch's localization covers every kind that names one.
    translatable: str | None = None
    # Pack files an engine wants built from several of an item's packed files (mesh: one prop scene with
    # its collision, and a file per LOD): (item, {asset: {file name: path}}) -> {pack path: content},
    # the content bytes it made, or one of the given paths to pack as it is (linked, not read).
    # When set, what it returns is packed instead of copies of this kind's pack targets' files (for an
    # item of another kind too: the voice kind's targets for a voiced dialogue).
    assemble: Callable[[Any, dict[str, dict[str, Path]]], dict[str, bytes | Path]] | None = None
    # Top-level keys this kind adds to a batch file, as name -> (annotation, default): the voice kind's
    # ``voices:`` cast. Items of any kind see them on the batch in ``batch_problems``.
    sections: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    # The files in the prompts folder a batch's items of this kind read (the cast's reference clips),
    # relative to it: hashed with the batch, so the sensor and the watcher see an edit to one.
    references: Callable[[Any], Iterable[str]] | None = None


def kind_problems(kind: Kind) -> Iterator[tuple[str, str]]:
    """What is missing or does not fit inside one kind's declaration, as (part, problem)."""
    if not isinstance(kind.name, str) or not is_valid_id(kind.name):
        yield "name", "must match [a-z0-9_-]{1,64}"
        return
    if not (isinstance(kind.item, type) and issubclass(kind.item, ItemBase)):
        yield "item", "must be a pydantic model subclassing batches.ItemBase"
    elif typing.get_args(kind.item.model_fields["kind"].annotation) != (kind.name,):
        annotation = kind.item.model_fields["kind"].annotation
        yield "item", f"its `kind` field must be Literal[{kind.name!r}], not {annotation}"
    if not kind.assets:
        yield "assets", "a kind needs at least one asset that generates its items"
    if not kind.summary:
        yield "summary", "say in one line what the kind makes"
    roles = {}
    for role in kind.models:
        if not isinstance(role, ModelRole):
            yield "models", f"{role!r} is not a ModelRole"
            continue
        if role.name in roles:
            yield f"model role {role.name!r}", "is declared twice"
        for problem in role_problems(role):
            yield f"model role {role.name!r}", problem
        roles[role.name] = role
    names = set()
    for item_asset in kind.assets:
        if not isinstance(item_asset, ItemAsset):
            yield "assets", f"{item_asset!r} is not an engine.ItemAsset"
            continue
        if item_asset.kind != kind.name:
            yield f"asset {item_asset.name!r}", f"generates kind {item_asset.kind!r}, not {kind.name!r}"
        if item_asset.name in names:
            yield f"asset {item_asset.name!r}", "another asset of this kind has this name"
        names.add(item_asset.name)
    if not kind.pack:
        yield "pack", "say where the kind's files go in the asset pack"
    for target in kind.pack:
        if target.asset not in names:
            yield "pack", f"target asset {target.asset!r} is not one of this kind's assets {sorted(names)}"
    if kind.translatable is not None and kind.translatable not in names:
        yield "translatable", f"{kind.translatable!r} is not one of this kind's assets {sorted(names)}"
