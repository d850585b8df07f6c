"""``asset_pack``: every output of a batch in one engine-ready folder with a manifest.json.

Layout (drop it into a Godot or Unity project):
    asset_pack/manifest.json
    asset_pack/concept_art/<item>.png
    asset_pack/sprites/<item>.png, sprites/atlas.png, sprites/atlas.json
    asset_pack/icons/<item>_<size>.png
    asset_pack/materials/<item>/{albedo,height,normal,roughness,ao}.png
    asset_pack/meshes/<item>.glb (LOD0..n), meshes/<item>_collision.glb

The pack is built in a new version folder and published by atomically replacing the
``asset_pack`` symlink, so a reader sees the previous pack or the new one, never half of one.
"""

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from dagster import AssetExecutionContext, AutomationCondition, BackfillPolicy, MaterializeResult, MetadataValue, asset

from assetgen_dagster import __version__, settings
from assetgen_dagster.assets.checks import result, spec
from assetgen_dagster.assets.common import OWNERS, dagster_failures, read_partition_batch
from assetgen_dagster.assets.images import read_manifest
from assetgen_dagster.checks import CheckOutcome, merge_outcomes
from assetgen_dagster.outputs import atomic_write_json, batch_output_dir
from assetgen_dagster.partitions import prompt_batches

ASSET = "asset_pack"
CODE_VERSION = "1"
UPSTREAMS = ("concept_art", "sprites", "icons", "textures", "pbr_maps", "mesh_lods", "collision_meshes")
KIND_ASSETS = {"concept_art": ["concept_art"], "sprite": ["sprites"], "icon": ["icons"],
               "texture": ["textures", "pbr_maps"], "mesh": ["mesh_lods", "collision_meshes"]}


def pack_path(source_asset: str, file_name: str, item_id: str) -> str:
    """Where a source file goes inside the pack."""
    if source_asset == "textures":
        return f"materials/{item_id}/albedo.png"
    if source_asset == "pbr_maps":
        return f"materials/{item_id}/{file_name.removeprefix(item_id + '_')}"
    if source_asset == "mesh_lods":
        return f"meshes/{file_name}"
    if source_asset == "collision_meshes":
        return f"meshes/{item_id}_collision.glb"
    return f"{source_asset}/{file_name}"


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)  # a snapshot: later atomic rewrites of the source get a new inode
    except OSError:
        shutil.copy2(source, target)


def build_pack(batch_id: str) -> tuple[Path, dict, CheckOutcome]:
    batch, _ = read_partition_batch(batch_id)
    batch_dir = batch_output_dir(settings.output_dir(), batch_id)
    manifests = {source: read_manifest(batch_id, source) for source in UPSTREAMS}
    files: list[tuple[Path, str]] = []
    items, missing, unsupported = [], {}, {}
    for item in batch.items:
        record = {"id": item.id, "kind": item.kind, "files": [], "provenance": {}}
        for source in KIND_ASSETS.get(item.kind, []):
            entry = manifests[source].get(item.id)
            if entry is None:
                missing[item.id] = f"no {source} output (materialize {source})"
                continue
            record["provenance"][source] = entry["provenance"]
            for name, info in sorted(entry["files"].items()):
                target = pack_path(source, name, item.id)
                files.append((batch_dir / source / name, target))
                record["files"].append({"path": target, **info})
        if item.kind not in KIND_ASSETS:
            unsupported[item.id] = f"no asset generates kind {item.kind!r} yet"
        items.append(record)
    atlas_dir = batch_dir / "sprites_atlas"
    for name in ("atlas.png", "atlas.json"):
        if (atlas_dir / name).is_file():
            files.append((atlas_dir / name, f"sprites/{name}"))

    manifest = {
        "batch": batch_id, "generator": f"assetgen-dagster {__version__}", "pack_format": 1,
        "items": items, "missing": missing, "not_generated_kinds": unsupported,
        "extra_files": [target for _, target in files if target.startswith("sprites/atlas")],
    }
    version = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
    packs = batch_dir / ".packs"
    final = packs / version
    if not final.is_dir():
        staging = packs / f".{version}.tmp-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        for source, target in files:
            _link_or_copy(source, staging / target)
        atomic_write_json(staging / "manifest.json", manifest)
        os.replace(staging, final)
    link = batch_dir / ASSET
    tmp_link = batch_dir / f".{ASSET}.{os.getpid()}"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(Path(".packs") / version)
    os.replace(tmp_link, link)  # atomic: readers see the old pack or the new one
    for old in packs.iterdir():
        if old.name != version and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    outcome = CheckOutcome(passed=not missing, failures=dict(missing),
                           metadata={"items": len(items), "not_generated_kinds": unsupported})
    return link, manifest, outcome


@asset(
    name=ASSET,
    partitions_def=prompt_batches,
    deps=list(UPSTREAMS),
    backfill_policy=BackfillPolicy.single_run(),
    automation_condition=AutomationCondition.eager(),
    group_name="delivery",
    kinds={"folder", "json"},
    owners=OWNERS,
    code_version=CODE_VERSION,
    check_specs=[spec(ASSET, "complete", "Every item of a kind that has an asset has its outputs in the pack.")],
    description=(
        "Engine-ready pack per batch: `<output_dir>/<batch>/asset_pack/` with every item's files "
        "(concept art, sprites + atlas, icons, materials with PBR maps) and `manifest.json` (item id, "
        "kind, files with sha256 and sizes, provenance). Published atomically; follows its upstreams."
    ),
)
def asset_pack(context: AssetExecutionContext) -> MaterializeResult:
    started = time.perf_counter()
    with dagster_failures():
        packs = {batch_id: build_pack(batch_id) for batch_id in context.partition_keys}
    files = sum(len(item["files"]) for _, manifest, _ in packs.values() for item in manifest["items"])
    return MaterializeResult(
        metadata={
            "partitions": len(packs),
            "items": sum(len(manifest["items"]) for _, manifest, _ in packs.values()),
            "files": files,
            "missing": MetadataValue.json({b: m["missing"] for b, (_, m, _) in packs.items() if m["missing"]}),
            "packs": MetadataValue.json({b: str(path) for b, (path, _, _) in packs.items()}),
            "seconds": round(time.perf_counter() - started, 3),
        },
        check_results=[result("complete", merge_outcomes({b: o for b, (_, _, o) in packs.items()}))],
    )
