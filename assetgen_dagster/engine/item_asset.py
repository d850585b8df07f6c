"""``ItemAsset``: what one per-item asset declares; the engine does the rest.

A subclass says what a request for an item is (every field that changes the output), which model
role makes it, how to generate raw outputs for a chunk of requests, how to write an item's files
and how to load them back for a check. From that the engine (``engine/runner.py``) plans which
items are current, generates the rest through the model loader in pipeline batches, writes files
atomically with provenance, records each item in the manifest, runs the checks and reports one
Dagster materialization and check evaluation per batch.

The engine knows the other kinds only through the registry it is handed (:class:`KindRegistry`):
which items an asset takes, the batch schema and the model roles.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from assetgen_dagster.batches import BatchSchema, PromptBatch, is_valid_id, item_params, item_seed
from assetgen_dagster.engine.batches import BatchSnapshot
from assetgen_dagster.engine.checks import ItemCheck
from assetgen_dagster.engine.common import Blocked, UpstreamMissing
from assetgen_dagster.engine.manifest import Manifest, failed_blocking, files_verify
from assetgen_dagster.models import ModelRoles, Models
from assetgen_dagster.outputs import OutputPathError, atomic_write_bytes, item_output_path, png_bytes


class KindRegistry(Protocol):
    """What the engine and the kinds' assets ask of the registry they are handed
    (``assetgen_dagster.registry.Registry``)."""

    roles: ModelRoles  # every model role, for the model loader
    schema: BatchSchema  # the batch file format of the registered kinds
    translatable: Mapping[str, ItemAsset]  # kind -> the asset whose records carry its translatable text

    def item_kinds(self, asset_name: str) -> tuple[str, ...]:
        """The kinds whose items ``asset_name`` makes an output for."""


class Relations(NamedTuple):
    """What one asset takes from the others: the kinds whose items it makes an output for, and the
    assets whose files it reads (its upstreams in the lineage)."""

    item_kinds: tuple[str, ...]
    deps: tuple[str, ...]


_IDENTITY = "assetgen_identity"


def runtime_input(default: Any = None) -> Any:
    """A request field that is not part of the item's identity or provenance: an absolute path to an
    input whose relative path and content hash are identity fields of the same request."""
    return field(default=default, compare=False, metadata={_IDENTITY: False})


@functools.cache
def _runtime_fields(request_class: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(request_class) if f.metadata.get(_IDENTITY) is False)


def identity_fields(request: Any) -> dict[str, Any]:
    """A request as JSON-able fields: what its item's identity hashes and its provenance records."""
    fields = dataclasses.asdict(request)
    for name in _runtime_fields(type(request)):
        del fields[name]
    return fields


# What follows the item id in a file name: a suffix (``.png``, ``_px.png``), or ``/<name>`` for a file in
# the item's own folder (``<item>/px.png``); a name never starts with a dot, so never ``..``.
# A name in the item's folder may be a Yarn line id (up to 67 characters) with its extension.
_SUFFIX = re.compile(r"^([A-Za-z0-9_.-]{1,32}|/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,79})$")


def asset_folder(output_dir: Path, batch_id: str, asset_name: str) -> Path:
    """``<output_dir>/<batch>/<asset>``, confined to the output directory."""
    return item_output_path(output_dir, batch_id, asset_name, "manifest", ".json").parent


VARIANTS_FOLDER = "variants"  # an item's candidates: ``variants/<item>.v<k><suffix>`` in its asset's folder


def variant_key(item_id: str, variant: int) -> str:
    """A candidate's name in file names and manifest keys, ``<item>.v<k>`` (never an item id: no dots)."""
    return f"{item_id}.v{variant}"


class ItemOutput:
    """One item's files in its asset's folder (or one of its variants' files, in ``variants/``), and
    the provenance each file carries."""

    def __init__(self, folder: Path, item_id: str, provenance: dict[str, Any], files: Sequence[str] = (),
                 variant: int | None = None):
        self.folder, self.item_id, self.provenance, self.variant = folder, item_id, provenance, variant
        self.files: list[Path] = [folder / name for name in files]  # existing files (reused items)
        self.written: list[Path] = []
        # File name (relative to the folder: ``<item>/px.png`` for one in the item's folder) -> sha256,
        # bytes, mtime of what was written.
        self.records: dict[str, dict[str, Any]] = {}

    def path(self, suffix: str = ".png") -> Path:
        """``<folder>/<item><suffix>``, or ``<folder>/<item>/<name>`` for a suffix ``/<name>``: the
        folder is resolved and confined once (``asset_folder``); the item id and the suffix are checked
        here without touching the file system."""
        if not is_valid_id(self.item_id) or not _SUFFIX.match(suffix):
            raise OutputPathError(f"{self.item_id!r} + {suffix!r} is not a valid output file name")
        if self.variant is not None:
            return self.folder / VARIANTS_FOLDER / f"{variant_key(self.item_id, self.variant)}{suffix}"
        return self.folder / f"{self.item_id}{suffix}"

    def write_png(self, image: Any, suffix: str = ".png", **extra: Any) -> Path:
        """Save a PIL image or numpy array with the provenance in an ``assetgen`` PNG text chunk."""
        from PIL import Image

        if not isinstance(image, Image.Image):
            image = Image.fromarray(image)
        return self.write_bytes(png_bytes(image, {"assetgen": json.dumps({**self.provenance, **extra}, sort_keys=True)}),
                                suffix)

    def write_bytes(self, data: bytes, suffix: str) -> Path:
        """Write atomically (temp file, fsync, rename) and record the file (hashed from memory)."""
        path = self.path(suffix)
        stat = atomic_write_bytes(path, data)
        self.records[path.relative_to(self.folder).as_posix()] = {
            "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "mtime_ns": stat.st_mtime_ns}
        self.written.append(path)
        self.files.append(path)
        return path


@dataclass
class BatchContext:
    """What a request builder may look at: the run's snapshot of the batch, the output folder, the
    models, the registry of kinds and upstream manifests."""

    snapshot: BatchSnapshot
    output_dir: Path
    registry: KindRegistry
    models: Models | None = None
    _upstream: dict[str, Manifest] = field(default_factory=dict)

    @property
    def batch(self) -> PromptBatch:
        return self.snapshot.batch

    @property
    def batch_id(self) -> str:
        return self.snapshot.batch_id

    def seed(self, item: Any) -> int:
        return item_seed(self.batch, item)

    def params(self, item: Any) -> dict[str, Any]:
        """What the batch sets for this item (item over defaults); the catalog fills the rest."""
        return item_params(self.batch, item)

    def model_params(self, role: str) -> Any:
        """The catalog's generation defaults for ``role`` (what the batch does not set)."""
        return self.models.resolve(role).spec.params

    def generation_params(self, item: Any, role: str) -> dict[str, Any]:
        """The generation parameters ``item`` is made with: what the batch sets, else the catalog's
        defaults for ``role``."""
        return {**dict(self.model_params(role)), **self.params(item)}

    def share(self, manifest: Manifest) -> None:
        """Read ``manifest``'s asset through the one the run writes (an item made from another item of
        the same asset sees what this run wrote)."""
        self._upstream[manifest.asset] = manifest

    def manifest(self, asset_name: str) -> Manifest:
        if asset_name not in self._upstream:
            folder = asset_folder(self.output_dir, self.batch_id, asset_name)
            self._upstream[asset_name] = Manifest(folder, self.batch_id, asset_name)
        return self._upstream[asset_name]

    def upstream(self, asset_name: str, item_id: str, for_item: str) -> tuple[dict[str, Any], Path]:
        """The upstream asset's entry and folder for ``item_id``, which ``for_item`` derives from.

        Raises :class:`UpstreamMissing` when it was never made (or its files changed), and
        :class:`Blocked` when upstream refused it or it failed a blocking check there."""
        manifest = self.manifest(asset_name)
        entry = manifest.entry(item_id)
        where = f"{self.snapshot.path.name}: item {for_item!r}"
        if entry is None:
            raise UpstreamMissing(f"{where}: no {asset_name} output for {item_id!r}; materialize `{asset_name}` "
                                  f"for partition {self.batch_id!r} first")
        if "rejected" in entry:
            raise Blocked(f"{asset_name} did not write {item_id!r}: {entry['rejected']['reason']}")
        for name, message in failed_blocking(entry):
            raise Blocked(f"{asset_name} check {name} failed for {item_id!r}: {message}")
        if not files_verify(entry, manifest.folder):
            raise UpstreamMissing(f"{where}: the {asset_name} files of {item_id!r} changed on disk since they were "
                                  f"written; materialize `{asset_name}` for partition {self.batch_id!r} again")
        return entry, manifest.folder

    def upstream_file(self, asset_name: str, item_id: str, for_item: str, suffix: str | None = None) -> tuple[str, str]:
        """The file an upstream asset wrote for ``item_id`` (its only one, or the one ending in
        ``suffix``), as (path relative to the output directory, sha256): what a request that
        derives from it records (see :meth:`upstream`)."""
        entry, folder = self.upstream(asset_name, item_id, for_item)
        [(name, record)] = [(name, record) for name, record in entry["files"].items()
                            if suffix is None or name.endswith(suffix)]
        return str((folder / name).relative_to(self.output_dir)), record["sha256"]

    def absolute(self, relative: str) -> Path:
        """The absolute path of a file given relative to the output directory (a request's input)."""
        return self.output_dir / relative


class ItemAsset:
    """One asset that writes files per item of one kind. Subclasses set the class attributes and
    implement ``request``, ``generate`` and ``write`` (and ``load`` if they have checks)."""

    name: str
    kind: str
    group: str
    description: str
    code_version: str = "1"
    deps: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()  # model roles it calls; none = derived from upstream files only
    checks: tuple[ItemCheck, ...] = ()
    ui_kinds: tuple[str, ...] = ()  # Dagster "kinds" tags shown in the UI
    title: str = ""  # how previews and progress lines name the outputs
    batch_files: tuple[str, str] | None = None  # (folder, file stem) of batch-level files, if any
    covers: tuple[str, ...] = ()  # other kinds whose items it also takes (an asset over several kinds)
    reads_batch_file: bool = False  # makes items from the batch file alone, without a model
    makes_candidates: bool = False  # its model makes its kind's items from a seed: ``variants`` apply
    scorer: str | None = None  # the model role that scores candidates (``score``); the best is the default pick

    def relations(self, registry: KindRegistry) -> Relations:
        """Whose items it takes and which assets it reads, given every registered kind; by default
        its own kind plus ``covers``, and ``deps``. The registry checks that each name exists."""
        return Relations((self.kind, *self.covers), self.deps)

    def varies(self, item: Any) -> bool:
        """Whether it makes ``variants`` candidates of ``item`` (each from its own seed): an asset whose
        model makes items of its own kind from a seed; derived assets follow the picked candidate."""
        return self.makes_candidates and item.kind == self.kind

    def score(self, model: Any, candidates: Sequence[tuple[Any, ItemOutput]]) -> list[float]:
        """A score per candidate (item, its files) from the ``scorer`` role's model: higher is better."""
        raise NotImplementedError(f"{self.name} names a scorer, so it must say how to score a candidate")

    def sources(self, item: Any) -> tuple[str, ...]:
        """Ids of items whose outputs of this same asset ``item``'s request reads (an image made from
        another item's image): the engine makes those first. None by default."""
        return ()

    def takes(self, item: Any) -> bool:
        """Whether it makes an output for ``item`` of one of its kinds (voice lines only for a dialogue
        that asks to be voiced); every item by default."""
        return True

    def request(self, ctx: BatchContext, item: Any) -> Any:
        """A frozen dataclass of every input that changes this item's output (its identity)."""
        raise NotImplementedError

    def role(self, item: Any) -> str | None:
        """The model role that makes ``item`` (None: no model)."""
        return self.roles[0] if self.roles else None

    def adapter_files(self, requests: Sequence[Any]) -> list[Path]:
        """Safetensors files ``generate`` will load into the model for these requests (LoRAs...):
        the model's fit check counts them. None by default."""
        return []

    def chunks(self, requests: Sequence[Any], batch_size: int) -> list[list[int]]:
        """Indices of requests per ``generate`` call; consecutive slices unless a kind groups them."""
        return [list(range(i, min(i + batch_size, len(requests)))) for i in range(0, len(requests), batch_size)]

    def generate(self, model: Any, requests: Sequence[Any]) -> list[Any]:
        """Raw outputs for one chunk of requests, in order; ``model`` is a LoadedModel or None."""
        raise NotImplementedError

    def write(self, out: ItemOutput, item: Any, request: Any, raw: Any) -> Any:
        """Post-process and write one item's files through ``out``; return what the checks inspect.
        Raise ItemRejected to refuse an output that must not be written."""
        raise NotImplementedError

    def load(self, out: ItemOutput, item: Any) -> Any:
        """What the checks inspect, read back from an item's files (a reused item with no stored verdict)."""
        raise NotImplementedError(f"{self.name} has checks, so it must say how to load an item's files")

    def stats(self, item: Any, artifact: Any) -> dict[str, Any] | None:
        """A few figures about one output (faces, sizes...) kept in the manifest and shown in the UI."""
        return None

    def preview(self, out: ItemOutput, item: Any) -> Any:
        """A small image of the item for the UI (PIL), or None; the first PNG by default."""
        from PIL import Image

        pngs = [path for path in out.files if path.suffix == ".png"]
        return Image.open(pngs[0]) if pngs else None

    def batch_output(self, ctx: BatchContext, out: ItemOutput, items: list[tuple[Any, ItemOutput]]) -> None:
        """Write batch-level files (an atlas...) through ``out`` from the batch's written items;
        called when ``batch_files`` is set and an item changed."""
        raise NotImplementedError
