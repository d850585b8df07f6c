"""What a kind of game asset declares: its item schema, its assets, its pack targets and its models.

A :class:`Kind` is complete or it cannot be built: every part is a required field and
:func:`validate_kind` checks how the parts fit together (names, roles, pack targets), so a kind
registered incompletely fails at import with a message naming the kind and the missing part.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from assetgen_dagster.batches import ItemBase, is_valid_id

if TYPE_CHECKING:
    from assetgen_dagster.engine.item_asset import ItemAsset


class KindError(TypeError):
    """A kind declaration is incomplete or inconsistent."""


@dataclass(frozen=True)
class TinyModel:
    """The offline stand-in for a role's model: a random-weight build saved by ``build(folder)`` into
    the Hugging Face cache as ``repo_id``, and the catalog fields it runs with in the ``tiny`` profile."""

    repo_id: str
    build: Callable[[Path], None]
    entry: dict[str, Any]  # catalog fields other than repo_id: pipeline, dtype, params, license
    # Repos the model's own files name and load beside it (a TTS model's audio codec): (repo id, builder).
    companions: tuple[tuple[str, Callable[[Path], None]], ...] = ()


@dataclass(frozen=True)
class ModelRole:
    """One model an asset calls through the loader, named as users override it in ASSETGEN_CATALOG."""

    name: str
    params: type[BaseModel]  # generation parameters its catalog entries accept (`params:`)
    default: dict[str, Any]  # the real model: repo_id, revision, pipeline, dtype, params, license
    tiny: TinyModel
    alternatives: tuple[str, ...] = ()  # other reviewed repos for this role, on the allow-list too
    companions: tuple[str, ...] = ()  # repos the default model loads beside it (its codec), allow-listed


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
    # How the review page draws an item (review.ReviewItem -> HTML); default: images, GLB viewers, links.
    review: Callable[[Any], Any] | None = None


def validate_kind(kind: Kind, known_roles: dict[str, ModelRole], known_assets: set[str]) -> None:
    """Raise :class:`KindError` naming the kind and the part that is missing or does not fit."""
    from assetgen_dagster.catalog import validate_entry

    def fail(part: str, problem: str) -> None:
        raise KindError(f"kind {kind.name!r}: {part}: {problem}")

    if not is_valid_id(kind.name):
        fail("name", "must match [a-z0-9_-]{1,64}")
    if not (isinstance(kind.item, type) and issubclass(kind.item, ItemBase)):
        fail("item", "must be a pydantic model subclassing batches.ItemBase")
    literal = typing.get_args(kind.item.model_fields["kind"].annotation)
    if literal != (kind.name,):
        fail("item", f"its `kind` field must be Literal[{kind.name!r}], not {kind.item.model_fields['kind'].annotation}")
    if not kind.assets:
        fail("assets", "a kind needs at least one asset that generates its items")
    if not kind.summary:
        fail("summary", "say in one line what the kind makes")
    roles = dict(known_roles)
    for role in kind.models:
        if role.name in roles:
            fail(f"model role {role.name!r}", "is already declared by another kind")
        if not (isinstance(role.params, type) and issubclass(role.params, BaseModel)):
            fail(f"model role {role.name!r}", "params must be a pydantic model of its generation parameters")
        for profile, entry in (("default", role.default),
                               ("tiny", {"repo_id": role.tiny.repo_id, **role.tiny.entry})):
            try:
                validate_entry(entry, role.params)
            except ValueError as exc:
                fail(f"model role {role.name!r}, {profile} catalog entry", str(exc))
        if not callable(role.tiny.build):
            fail(f"model role {role.name!r}", "the tiny model needs a builder")
        roles[role.name] = role
    names = set()
    for item_asset in kind.assets:
        if item_asset.kind != kind.name:
            fail(f"asset {item_asset.name!r}", f"generates kind {item_asset.kind!r}, not {kind.name!r}")
        if item_asset.name in known_assets or item_asset.name in names:
            fail(f"asset {item_asset.name!r}", "another asset has this name")
        for role in item_asset.roles:
            if role not in roles:
                fail(f"asset {item_asset.name!r}", f"uses model role {role!r}, which no kind declares")
        names.add(item_asset.name)
    if not kind.pack:
        fail("pack", "say where the kind's files go in the asset pack")
    for target in kind.pack:
        if target.asset not in names:
            fail("pack", f"target asset {target.asset!r} is not one of this kind's assets {sorted(names)}")
