"""``asset_pack``: every output of a batch in one engine-ready folder with a manifest.json.

Where each file goes is declared by its kind (``Kind.pack`` and ``Kind.assemble``, from the registry
the asset is built for), so this module lists no kind; the built-in kinds' layout is in the README
("Regeneration, versions and the asset pack"). Beside the files: ``manifest.json`` and the review page.

The pack is built in a new version folder and published by atomically replacing the
``asset_pack`` symlink, so a reader sees the previous pack or the new one, never half of one.
"""


import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import AssetCheckSpec, AssetExecutionContext, AssetsDefinition, BackfillPolicy, MetadataValue, asset

from assetgen_dagster import __version__
from assetgen_dagster.batches import digest
from assetgen_dagster.engine.batches import BatchSnapshot
from assetgen_dagster.engine.checks import CheckOutcome
from assetgen_dagster.engine.common import DISK_FULL_ERRNOS, OWNERS, disk_full, follows_upstreams
from assetgen_dagster.engine.definition import partitioned_asset_api
from assetgen_dagster.engine.item_asset import asset_folder
from assetgen_dagster.engine.manifest import Manifest, failed_blocking
from assetgen_dagster.engine.report import materialize_batches
from assetgen_dagster.outputs import atomic_write_json, batch_output_dir, link_or_copy
from assetgen_dagster.partitions import prompt_batches
from assetgen_dagster.registry import Registry
from assetgen_dagster.review import PAGE, ReviewItem, write_review
from assetgen_dagster.settings import ProjectSettings

ASSET = "asset_pack"
CODE_VERSION = "5"
PACK_FORMAT = 3  # 3: meshes as one prop scene + LOD files, materials with named normal maps, ORM, import presets


@dataclass
class PackOutcome:
    """One batch's pack: where it is, its manifest, and what is missing from it."""

    path: Path
    manifest: dict[str, Any]
    seconds: float
    batch_hash: str
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def items(self) -> int:
        return len(self.manifest["items"])

    @property
    def data_version(self) -> str:
        return self.path.resolve().name

    def metadata(self) -> dict[str, Any]:
        files = sum(len(item["files"]) for item in self.manifest["items"]) + len(self.manifest["extra_files"])
        metadata = {"items": self.items, "files": files, "pack": MetadataValue.path(str(self.path)),
                    "review_page": MetadataValue.path(str(self.path / PAGE)),
                    "open_review": f"assetgen-dagster review {self.manifest['batch']}",
                    "batch_hash": self.batch_hash[:16], "seconds": round(self.seconds, 3),
                    "missing": MetadataValue.json(self.missing)}  # {} when complete: the same keys every time
        return metadata

    def check_outcomes(self) -> dict[str, CheckOutcome]:
        return {"complete": CheckOutcome(passed=not self.missing, failures=dict(self.missing),
                                         metadata={"items_checked": self.items, "items_missing": len(self.missing)})}


def build_pack(snapshot: BatchSnapshot, registry: Registry, output_dir: Path) -> PackOutcome:
    """Collect every item's files from its kind's pack targets into a new pack version and publish it."""
    started = time.perf_counter()
    batch_dir = batch_output_dir(output_dir, snapshot.batch_id)
    kinds = registry.kinds
    manifests: dict[str, Manifest] = {}

    def manifest_of(asset_name: str) -> Manifest:
        if asset_name not in manifests:
            manifests[asset_name] = Manifest(asset_folder(output_dir, snapshot.batch_id, asset_name),
                                             snapshot.batch_id, asset_name)
        return manifests[asset_name]

    files: list[tuple[Path, str]] = []  # copies: (source, pack path)
    built: list[tuple[bytes, str]] = []  # files a kind assembles: (content, pack path)
    items, missing, reviews = [], {}, []
    for item in snapshot.batch.items:
        record: dict[str, Any] = {"id": item.id, "kind": item.kind, "files": [], "provenance": {}}
        assets = registry.assets_of_item(item)
        review = ReviewItem(item, {}, {name: manifest_of(name).entry(item.id) for name in assets
                                       if manifest_of(name).entry(item.id)},
                            {name: manifest_of(name).folder for name in assets}, prompts_dir=snapshot.path.parent)
        for name, entry in review.entries.items():
            if "variants" in entry:  # an item with candidates: the page shows them all, the pack the pick
                review.candidates[name] = [(int(variant), manifest_of(name).entry(key) or {})
                                           for variant, key in sorted(entry["variants"].items(), key=lambda v: int(v[0]))]
        gaps: list[str] = []
        for declaring, targets in registry.pack_groups(item):
            # A kind's targets: copied, or built by its `assemble` when all of them are there.
            group_gaps, sources, packed = [], {}, {}
            for target in targets:
                manifest = manifest_of(target.asset)
                entry = manifest.entry(item.id)
                if entry is None or "rejected" in entry or failed_blocking(entry):
                    group_gaps.append(f"{target.asset}: {_gap(target.asset, entry)}")
                    continue
                record["provenance"][target.asset] = entry["provenance"]
                sources[target.asset] = {name: manifest.folder / name for name in entry["files"]}
                for name, info in sorted(entry["files"].items()):
                    path = target.path(item.id, name)
                    review.files.setdefault(target.asset, []).append((path, manifest.folder / name))
                    packed[manifest.folder / name] = info
                    if declaring.assemble is None:
                        files.append((manifest.folder / name, path))
                        record["files"].append({"path": path, "sha256": info["sha256"], "bytes": info["bytes"]})
            gaps += group_gaps
            if declaring.assemble is not None and not group_gaps:
                for path, content in sorted(declaring.assemble(item, sources).items()):
                    if isinstance(content, Path):  # one of the item's files as it is: its manifest knows it
                        files.append((content, path))
                        info = packed[content]
                    else:
                        built.append((content, path))
                        info = {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
                    record["files"].append({"path": path, "sha256": info["sha256"], "bytes": info["bytes"]})
        if gaps:
            missing[item.id] = review.missing = "; ".join(gaps)
        items.append(record)
        reviews.append(review)
    extra: list[tuple[Path, str]] = []  # batch-level files (an atlas...)
    for kind in kinds:
        for target in kind.pack:
            batch_entry = manifest_of(target.asset).batch_entry if target.batch_files else None
            if batch_entry:
                folder = batch_dir / batch_entry["folder"]
                extra += [(folder / name, target.batch_path(name)) for name in sorted(batch_entry["files"])
                          if target.batch_path(name)]

    manifest = {
        "batch": snapshot.batch_id, "generator": f"assetgen-dagster {__version__}", "pack_format": PACK_FORMAT,
        "items": items, "missing": missing,
        "extra_files": sorted(path for _, path in extra),
    }
    # the review page also shows every candidate of items with variants: a re-rolled one is a new version
    shown = {review.item.id: {asset: [(variant, entry.get("files")) for variant, entry in variants]
                              for asset, variants in review.candidates.items()} for review in reviews if review.candidates}
    version = digest([CODE_VERSION, manifest, shown] if shown else [CODE_VERSION, manifest])[:16]
    link = _publish(batch_dir, version, files + extra, built, manifest,
                    lambda staging: write_review(staging, manifest, kinds, reviews))
    return PackOutcome(link, manifest, time.perf_counter() - started, snapshot.hash, missing)


def _gap(asset_name: str, entry: dict[str, Any] | None) -> str:
    if entry is None:
        return f"no {asset_name} output (materialize {asset_name})"
    if "rejected" in entry:
        return entry["rejected"]["reason"]
    return "; ".join(f"check {name} failed: {message or 'failed'}" for name, message in failed_blocking(entry))


def _publish(batch_dir: Path, version: str, files: list[tuple[Path, str]], built: list[tuple[bytes, str]],
             manifest: dict[str, Any], review: Callable[[Path], Path]) -> Path:
    """Build ``.packs/<version>/`` with its review page (unless it exists) and point the ``asset_pack``
    link at it atomically."""
    packs = batch_dir / ".packs"
    final = packs / version
    if not final.is_dir():
        staging = packs / f".{version}.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            for source, target in files:
                link_or_copy(source, staging / target)
            for data, target in built:
                (staging / target).parent.mkdir(parents=True, exist_ok=True)
                (staging / target).write_bytes(data)  # the staging folder is published whole, by rename
            atomic_write_json(staging / "manifest.json", manifest)
            review(staging)
            os.replace(staging, final)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)  # no half pack is left behind
            if exc.errno in DISK_FULL_ERRNOS:
                needed = sum(source.stat().st_size for source, _ in files if source.exists()) + sum(len(d) for d, _ in built)
                raise disk_full(exc, batch_dir, f"the asset pack of {batch_dir.name!r}", needed) from exc
            raise
    link = batch_dir / ASSET
    tmp_link = batch_dir / f".{ASSET}.{os.getpid()}"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(Path(".packs") / version)
    os.replace(tmp_link, link)  # atomic: readers see the old pack or the new one
    for old in packs.iterdir():
        if old.name != version and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    return link


def pack_asset(registry: Registry) -> AssetsDefinition:
    """The ``asset_pack`` asset over the registry's kinds: downstream of every asset a kind packs."""
    upstreams = [target.asset for kind in registry.kinds for target in kind.pack]
    with partitioned_asset_api():
        return _pack_asset(registry, upstreams)


def _pack_asset(registry: Registry, upstreams: list[str]) -> AssetsDefinition:
    @asset(
        name=ASSET,
        partitions_def=prompt_batches,
        deps=upstreams,
        backfill_policy=BackfillPolicy.single_run(),
        automation_condition=follows_upstreams(),
        group_name="delivery",
        kinds={"folder", "json"},
        owners=OWNERS,
        code_version=CODE_VERSION,
        check_specs=[AssetCheckSpec("complete", asset=ASSET, partitions_def=prompt_batches,
                                    description="Every item of the batch has all its outputs in the pack.")],
        description=(
            "Engine-ready pack per batch: `<output_dir>/<batch>/asset_pack/` with every item's files, laid out "
            "per kind, and `manifest.json` (item id, kind, files with sha256 and sizes, provenance). Published "
            "atomically; follows its upstreams."
        ),
    )
    def asset_pack(context: AssetExecutionContext, project: ProjectSettings) -> Iterator[Any]:
        output_dir = project.outputs()
        yield from materialize_batches(context, ASSET, CODE_VERSION, ["complete"], project.prompts(), output_dir,
                                       registry.schema, lambda snapshot: build_pack(snapshot, registry, output_dir))

    return asset_pack
