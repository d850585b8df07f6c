"""Incremental regeneration, single-run backfills, automation and the asset pack."""

import hashlib
import json
import shutil

import pytest

from dagster import AssetKey, DagsterInstance, Definitions, evaluate_automation_conditions, materialize

from assetgen_dagster.kinds.images.tiny import TINY_TEXT_TO_IMAGE_REPO as TEXT_TO_IMAGE_REPO
from assetgen_dagster.models import ModelLoader
from assetgen_dagster.models.cache import MODEL_CACHE
from assetgen_dagster.partitions import PROMPT_BATCHES
from assetgen_dagster.tiny import install_snapshot, snapshot_commit

from ..conftest import asset_defs, resources, write_batch

ITEMS = 6
BATCH = "defaults: {seed: 1}\nitems:\n" + "".join(
    f"  - {{id: prop{n}, kind: concept_art, prompt: 'prop number {n}'}}\n" for n in range(ITEMS)
) + "  - {id: stone, kind: texture, prompt: 'stone floor'}\n  - {id: gem, kind: icon, prompt: 'a gem', sizes: [32]}\n"
ALL = asset_defs()
concept_art, textures = asset_defs("concept_art", "textures")


def run(assets, partition="props", instance=None, models=None, tags=None):
    instance = instance or DagsterInstance.ephemeral()
    for key in ([partition] if partition else []):
        if not instance.has_dynamic_partition(PROMPT_BATCHES, key):
            instance.add_dynamic_partitions(PROMPT_BATCHES, [key])
    result = materialize(assets, partition_key=partition, instance=instance, tags=tags,
                         resources=resources(models))
    return result, instance


def meta(result, asset):
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == AssetKey(asset)]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def snapshot(folder):
    return {p.name: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.glob("*.png"))}


def test_editing_one_prompt_regenerates_exactly_that_item(tiny_kit, workdir):
    write_batch(workdir / "prompts", "props", BATCH)
    first, instance = run(ALL)
    assert (meta(first, "concept_art")["generated"], meta(first, "concept_art")["reused"]) == (ITEMS, 0)
    folder = workdir / "outputs" / "props" / "concept_art"
    before = snapshot(folder)

    write_batch(workdir / "prompts", "props", BATCH.replace("prop number 3", "a mossy prop number 3"))
    second, _ = run(ALL, instance=instance)
    assert (meta(second, "concept_art")["generated"], meta(second, "concept_art")["reused"]) == (1, ITEMS - 1)
    assert (meta(second, "textures")["generated"], meta(second, "textures")["reused"]) == (0, 1)
    assert (meta(second, "icons")["generated"], meta(second, "pbr_maps")["generated"]) == (0, 0)
    after = snapshot(folder)
    assert {n for n in before if before[n] != after[n]} == {"prop3.png"}  # others: same mtime and hash
    versions = [e.materialization.tags.get("dagster/data_version") for r in (first, second)
                for e in r.get_asset_materialization_events() if e.asset_key == AssetKey("concept_art")]
    assert versions[0] != versions[1]


def fields_batch(edited: dict | None = None, tiled: dict | None = None) -> str:
    """Two concept_art items and two textures; ``edited`` / ``tiled`` change fields of one of each."""
    def item(fields: dict) -> str:
        return "  - {" + ", ".join(f"{key}: {json.dumps(value)}" for key, value in fields.items()) + "}\n"

    return "defaults: {seed: 1}\nitems:\n" + "".join(item(fields) for fields in (
        {"id": "keep", "kind": "concept_art", "prompt": "a crate"},
        {"id": "edit", "kind": "concept_art", "prompt": "a barrel", **(edited or {})},
        {"id": "also_kept", "kind": "texture", "prompt": "stone floor"},
        {"id": "tiled", "kind": "texture", "prompt": "wood planks", **(tiled or {})}))


@pytest.mark.parametrize("asset, field, value", [
    ("concept_art", "prompt", "a tall barrel"),
    ("concept_art", "seed", 99),
    ("concept_art", "negative_prompt", "blurry"),
    ("concept_art", "steps", 3),
    ("concept_art", "guidance", 1.5),
    ("concept_art", "width", 72),
    ("concept_art", "height", 80),
    ("textures", "tile", "x"),
])
def test_changing_any_identity_field_regenerates_exactly_its_item(tiny_kit, workdir, asset, field, value):
    """Every input that changes an image is part of its identity: edit one field of one item and that
    item, only, is made again (a field left out of the identity would reuse the stale output)."""
    write_batch(workdir / "prompts", "fields", fields_batch())
    _, instance = run([concept_art, textures], partition="fields")
    edit = {field: value}
    write_batch(workdir / "prompts", "fields", fields_batch(edit if asset == "concept_art" else None,
                                                            edit if asset == "textures" else None))
    again, _ = run([concept_art, textures], partition="fields", instance=instance)
    for checked in ("concept_art", "textures"):
        expected = (1, 1) if checked == asset else (0, 2)
        assert (meta(again, checked)["generated"], meta(again, checked)["reused"]) == expected, (checked, field)
    edited = "edit" if asset == "concept_art" else "tiled"
    manifest = json.loads((workdir / "outputs" / "fields" / asset / "manifest.json").read_text())
    assert manifest["items"][edited]["provenance"][field] == value


def test_nothing_changed_loads_no_model(tiny_kit, workdir):
    write_batch(workdir / "prompts", "props", BATCH)
    _, instance = run([concept_art])
    MODEL_CACHE.clear()
    again, _ = run([concept_art], instance=instance)
    assert meta(again, "concept_art")["reused"] == ITEMS and MODEL_CACHE.loads == 0


def test_a_tampered_file_is_regenerated(tiny_kit, workdir):
    write_batch(workdir / "prompts", "props", BATCH)
    _, instance = run([concept_art])
    (workdir / "outputs" / "props" / "concept_art" / "prop2.png").write_bytes(b"corrupt")
    again, _ = run([concept_art], instance=instance)
    assert (meta(again, "concept_art")["generated"], meta(again, "concept_art")["reused"]) == (1, ITEMS - 1)


def test_a_new_model_revision_regenerates_every_item_of_that_kind(tiny_kit, workdir, tmp_path, monkeypatch):
    write_batch(workdir / "prompts", "props", BATCH)
    _, instance = run([concept_art, textures])
    current = tiny_kit / "hub" / f"models--{TEXT_TO_IMAGE_REPO.replace('/', '--')}" / "snapshots" / snapshot_commit(
        TEXT_TO_IMAGE_REPO)
    new_commit = "b" * 40
    install_snapshot("studio/text-to-image-rev2", new_commit,
                     lambda folder: shutil.copytree(current, folder, dirs_exist_ok=True))
    monkeypatch.setenv("ASSETGEN_ALLOWED_REPOS", "studio/*")
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(f"concept_art: {{repo_id: studio/text-to-image-rev2, revision: {new_commit}}}\n")
    again, _ = run([concept_art, textures], instance=instance, models=ModelLoader(catalog_path=str(catalog)))
    assert (meta(again, "concept_art")["generated"], meta(again, "concept_art")["models"]["concept_art"]["revision"]) \
        == (ITEMS, new_commit)
    assert meta(again, "textures")["reused"] == 1  # other kinds keep their model


def test_single_run_backfill_over_three_partitions_loads_each_model_once(tiny_kit, workdir):
    instance = DagsterInstance.ephemeral()
    keys = ["b1", "b2", "b3"]
    for key in keys:
        write_batch(workdir / "prompts", key, BATCH.replace("prop number", f"{key} prop"))
    instance.add_dynamic_partitions(PROMPT_BATCHES, keys)
    MODEL_CACHE.clear()
    result, _ = run([concept_art, textures], partition=None, instance=instance, tags={
        "dagster/asset_partition_range_start": "b1", "dagster/asset_partition_range_end": "b3"})
    assert len(instance.get_runs()) == 1
    # one load per model for all three partitions (the kit's concept art and texture models differ)
    assert sorted(key[0] for key in MODEL_CACHE.keys()) == ["assetgen-tiny/text-to-image", "assetgen-tiny/texture"]
    assert MODEL_CACHE.loads == 2
    partitions = {e.partition for e in result.get_asset_materialization_events()
                  if e.asset_key == AssetKey("concept_art")}
    assert partitions == set(keys)
    for key in keys:
        assert len(list((workdir / "outputs" / key / "concept_art").glob("*.png"))) == ITEMS


def test_pbr_maps_and_the_pack_follow_their_upstreams(tiny_kit, workdir):
    write_batch(workdir / "prompts", "props", BATCH)
    _, instance = run(ALL)
    defs = Definitions(assets=ALL, resources=resources())
    quiet = evaluate_automation_conditions(defs=defs, instance=instance)
    run([textures], instance=instance)  # e.g. a texture regenerated by hand
    follow = evaluate_automation_conditions(defs=defs, instance=instance, cursor=quiet.cursor)
    assert quiet.total_requested == 0  # everything is up to date
    assert follow.get_requested_partitions(AssetKey("pbr_maps")) == {"props"}
    assert follow.get_requested_partitions(AssetKey("asset_pack")) == {"props"}
    assert follow.total_requested == 2


def test_pack_manifest_matches_its_files(tiny_kit, workdir):
    write_batch(workdir / "prompts", "props", BATCH)
    result, _ = run(ALL)
    pack = workdir / "outputs" / "props" / "asset_pack"
    assert pack.is_symlink()
    manifest = json.loads((pack / "manifest.json").read_text())
    listed = {f["path"]: f for item in manifest["items"] for f in item["files"]}
    on_disk = {str(p.relative_to(pack)) for p in pack.rglob("*")
               if p.is_file() and p.parts[len(pack.parts)] != "review"} - {"manifest.json", "index.html"}
    assert set(listed) == on_disk
    for path, record in listed.items():
        data = (pack / path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == record["sha256"] and len(data) == record["bytes"]
    assert {"materials/stone/albedo.png", "materials/stone/normal_gl.png", "icons/gem_32.png"} <= on_disk
    assert manifest["missing"] == {}
    [check] = [c for c in result.get_asset_check_evaluations() if c.asset_key == AssetKey("asset_pack")]
    assert check.passed
    # republishing swaps the link; only the current version folder remains
    write_batch(workdir / "prompts", "props", BATCH.replace("prop number 0", "prop zero"))
    run(ALL)
    assert len([p for p in (pack.parent / ".packs").iterdir() if not p.name.startswith(".")]) == 1
    assert json.loads((pack / "manifest.json").read_text())["items"][0]["provenance"]["concept_art"]["prompt"] == \
        "prop zero"
