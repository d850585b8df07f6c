"""The registry of asset kinds: built once at an entry point and handed down, never looked up.

:func:`build_registry` collects the built-in kinds and the kinds installed plugins declare under the
entry-point group ``assetgen_dagster.kinds`` (a distribution's
``[project.entry-points."assetgen_dagster.kinds"] <name> = "<module>:<Kind object>"``), checks each
and how they fit together, and returns an immutable :class:`Registry`. The code location, the CLI,
the demo, the workers and the watcher each build one and pass it to the batch schema, the catalog,
the tiny kit, the sensor, the jobs, the pack and the review page.

A broken built-in kind is a bug and fails loudly. A broken plugin (it does not import, is not a
``Kind``, reuses a name, names a pipeline the loader will not build, refers to what does not exist)
is refused with a message naming the plugin and the problem; the other kinds keep working.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import AssetsDefinition

from assetgen_dagster.batches import BatchSchema, PromptBatch
from assetgen_dagster.engine import ItemAsset, Relations
from assetgen_dagster.engine.definition import asset_definition
from assetgen_dagster.kinds import (
    concept_art,
    dialogue,
    icon,
    item_text,
    mesh,
    music,
    sfx,
    skybox,
    sprite,
    sprite_animation,
    strings,
    texture,
    voice,
)
from assetgen_dagster.kinds.base import Kind, KindError, PackTarget, kind_problems
from assetgen_dagster.models import ModelRoles

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "assetgen_dagster.kinds"
BUILTIN = "built-in"

BUILTIN_KINDS: tuple[Kind, ...] = (concept_art.KIND, sprite.KIND, icon.KIND, texture.KIND, mesh.KIND,
                                   skybox.KIND, sprite_animation.KIND, item_text.KIND, dialogue.KIND, strings.KIND, sfx.KIND, music.KIND,
                                   voice.KIND)


@dataclass(frozen=True)
class RefusedPlugin:
    """A plugin kind that was not registered, and why."""

    entry_point: str  # "<name> = <module>:<attribute>"
    distribution: str  # "<name> <version>"
    problem: str

    def __str__(self) -> str:
        return f"plugin {self.entry_point!r} ({self.distribution}) refused: {self.problem}"


class Registry:
    """The registered kinds and what follows from them: model roles, batch schema, relations between
    assets, and their Dagster definitions. Immutable once built."""

    def __init__(self, kinds: Sequence[Kind], origins: Mapping[str, str] | None = None,
                 refused: Sequence[RefusedPlugin] = ()):
        problems = list(registry_problems(kinds))
        if problems:
            raise KindError("; ".join(problems))
        self.kinds: tuple[Kind, ...] = tuple(kinds)
        self.origins: Mapping[str, str] = dict(origins or {kind.name: BUILTIN for kind in kinds})
        self.refused: tuple[RefusedPlugin, ...] = tuple(refused)
        self.roles = ModelRoles([role for kind in kinds for role in kind.models])
        referencing = list(dict.fromkeys(kind.references for kind in kinds if kind.references))  # shared ones once
        self.schema = BatchSchema({kind.name: kind.item for kind in kinds},
                                  {name: section for kind in kinds for name, section in kind.sections.items()},
                                  lambda batch: [name for references in referencing for name in references(batch)])
        self._kinds = {kind.name: kind for kind in kinds}
        self._assets = {item_asset.name: item_asset for kind in kinds for item_asset in kind.assets}
        self.translatable: Mapping[str, ItemAsset] = {kind.name: self._assets[kind.translatable]
                                                      for kind in kinds if kind.translatable}
        self._relations = {name: item_asset.relations(self) for name, item_asset in self._assets.items()}

    def __repr__(self) -> str:
        return f"Registry({', '.join(self._kinds)})"

    def kind(self, name: str) -> Kind:
        try:
            return self._kinds[name]
        except KeyError:
            raise KindError(f"no kind {name!r}; registered kinds: {', '.join(self._kinds)}") from None

    def asset(self, name: str) -> ItemAsset:
        """The per-item asset called ``name`` (``concept_art``, ``mesh_lods``...)."""
        try:
            return self._assets[name]
        except KeyError:
            raise KindError(f"no asset {name!r}; assets: {', '.join(self._assets)}") from None

    def assets(self) -> list[ItemAsset]:
        return list(self._assets.values())

    def relations(self, asset_name: str) -> Relations:
        return self._relations[asset_name]

    def item_kinds(self, asset_name: str) -> tuple[str, ...]:
        return self._relations[asset_name].item_kinds

    def assets_of_kind(self, kind: str) -> list[str]:
        """The assets that make an output for items of ``kind`` (its own, and those covering it, as the
        localization covers every kind with translatable text)."""
        return [name for name, relations in self._relations.items() if kind in relations.item_kinds]

    def assets_of_item(self, item: Any) -> list[str]:
        """The assets that make an output for this item (of its kind's, those that take it)."""
        return [name for name in self.assets_of_kind(item.kind) if self._assets[name].takes(item)]

    def pack_groups(self, item: Any) -> list[tuple[Kind, list[PackTarget]]]:
        """Where an item's outputs go in the pack: the targets of every asset that makes an output for
        it, grouped by the kind that declares them (whose ``assemble``, if any, builds them)."""
        makers = set(self.assets_of_item(item))
        groups = [(declaring, [target for target in declaring.pack if target.asset in makers])
                  for declaring in self.kinds]
        return [(declaring, targets) for declaring, targets in groups if targets]

    def assets_for(self, batch: PromptBatch) -> list[str]:
        """The assets that make outputs for the kinds a batch has (what a run for it needs, pack aside)."""
        present = {item.kind for item in batch.items}
        return [name for name, relations in self._relations.items() if present & set(relations.item_kinds)]

    @functools.cached_property
    def definitions(self) -> dict[str, AssetsDefinition]:
        """Every per-item asset as a Dagster asset, by name (built once per registry)."""
        return {name: asset_definition(item_asset, self) for name, item_asset in self._assets.items()}


def registry_problems(kinds: Sequence[Kind]) -> Iterator[str]:
    """Everything wrong with a set of kinds, each naming the kind and the part or field."""
    names: dict[str, Kind] = {}
    assets: dict[str, str] = {}
    roles: dict[str, str] = {}
    sections: dict[str, Any] = {}
    tiny_builders: dict[str, Any] = {}
    for kind in kinds:
        if not isinstance(kind, Kind):
            yield f"{kind!r} is not a Kind"
            continue
        own = [f"kind {kind.name!r}: {part}: {problem}" for part, problem in kind_problems(kind)]
        yield from own
        if own:
            continue
        if kind.name in names:
            yield f"kind {kind.name!r}: name: another kind has this name"
        for section, declared in kind.sections.items():  # kinds may share one declaration (the image style)
            if section in PromptBatch.model_fields or sections.setdefault(section, declared) is not declared:
                yield f"kind {kind.name!r}: sections: {section!r} is a batch key already"
        names[kind.name] = kind
        for item_asset in kind.assets:
            if item_asset.name in assets:
                yield f"kind {kind.name!r}: asset {item_asset.name!r}: kind {assets[item_asset.name]!r} has an asset " \
                      f"with this name"
            assets.setdefault(item_asset.name, kind.name)
        for role in kind.models:
            if role.name in roles:
                yield f"kind {kind.name!r}: model role {role.name!r}: kind {roles[role.name]!r} declares it already"
            roles.setdefault(role.name, kind.name)
            for repo_id, build in ((role.tiny.repo_id, role.tiny.build), *role.tiny.companions):
                if tiny_builders.setdefault(repo_id, build) is not build:
                    yield (f"kind {kind.name!r}: model role {role.name!r}: tiny repo {repo_id!r} already has "
                           f"another builder")
    for kind in names.values():
        yield from _relation_problems(kind, names, assets, roles)


def _relation_problems(kind: Kind, kinds: Mapping[str, Kind], assets: Mapping[str, str],
                       roles: Mapping[str, str]) -> Iterator[str]:
    """What a kind declares about others that does not resolve: consumed kinds, the assets its
    assets read, the model roles they call, the localizable text it offers."""
    for consumed in kind.consumes:
        if consumed not in kinds:
            yield f"kind {kind.name!r}: consumes: no kind {consumed!r} is registered"
    readable = {kind.name, *kind.consumes}
    for item_asset in kind.assets:
        where = f"kind {kind.name!r}: asset {item_asset.name!r}"
        for dep in item_asset.deps:
            if dep not in assets:
                yield f"{where}: deps: no asset {dep!r} is registered"
            elif assets[dep] not in readable:
                yield f"{where}: deps: {dep!r} is an asset of kind {assets[dep]!r}, which kind {kind.name!r} does " \
                      f"not list in `consumes`"
        for covered in item_asset.covers:
            if covered not in kinds:
                yield f"{where}: covers: no kind {covered!r} is registered"
        for role in (*item_asset.roles, *([item_asset.scorer] if item_asset.scorer else [])):
            if role not in roles:
                yield f"{where}: roles: no kind declares model role {role!r}"
    translatable = next((a for a in kind.assets if a.name == kind.translatable), None)
    if translatable is not None and not callable(getattr(translatable, "localizable", None)):
        yield f"kind {kind.name!r}: translatable: asset {kind.translatable!r} has no localizable(item_id, record)"


def build_registry(plugins: bool = True, extra: Sequence[Kind] = ()) -> Registry:
    """The built-in kinds, then ``extra`` kinds (tests, a studio's own code), then the kinds of installed
    plugins (entry points of group ``assetgen_dagster.kinds``, in name order) that fit beside them."""
    kinds = [*BUILTIN_KINDS, *extra]
    origins = {kind.name: BUILTIN for kind in BUILTIN_KINDS}
    origins.update({kind.name: "extra" for kind in extra})
    refused: list[RefusedPlugin] = []
    if plugins:
        for entry_point in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            label = f"{entry_point.name} = {entry_point.value}"
            dist = entry_point.dist
            distribution = f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"
            kind, problem = _load_plugin(entry_point, kinds)
            if problem is not None:
                refused.append(RefusedPlugin(label, distribution, problem))
                log.warning("%s", refused[-1])
                continue
            kinds.append(kind)
            origins[kind.name] = f"plugin {entry_point.name} ({distribution})"
    return Registry(kinds, origins, refused)


def _load_plugin(entry_point: importlib.metadata.EntryPoint, kinds: Sequence[Kind]) -> tuple[Any, str | None]:
    """The plugin's kind, or the problem that keeps it out."""
    try:
        kind = entry_point.load()
    except Exception as exc:  # noqa: BLE001 - any import error of a plugin refuses that plugin only
        return None, f"it does not import: {type(exc).__name__}: {exc}"
    if not isinstance(kind, Kind):
        return None, f"{entry_point.value} is a {type(kind).__name__}, not an assetgen_dagster.kinds.Kind"
    problems = list(registry_problems([*kinds, kind]))
    if problems:
        return None, "; ".join(problems)
    return kind, None
