import json
from functools import partial

import numpy as np
import pytest
from dagster import DagsterEventType, DagsterInstance, materialize
from PIL import Image

from assetgen_dagster import checks
from assetgen_dagster.assets.sprites import icons, sprites
from assetgen_dagster.assets.textures import pbr_maps, textures
from assetgen_dagster.models import ModelLoader
from assetgen_dagster.partitions import PROMPT_BATCHES

from ..conftest import write_batch

BATCH = """\
    defaults: {seed: 9}
    items:
      - {id: hero, kind: sprite, prompt: "a knight", margin: 2}
      - {id: slime, kind: sprite, prompt: "a slime", background: magenta}
      - {id: potion, kind: icon, prompt: "a potion", sizes: [64, 32, 16]}
      - {id: floor, kind: texture, prompt: "forest floor", tile: both, normal_convention: directx}
      - {id: fence, kind: texture, prompt: "a fence strip", tile: x}
      - {id: rock, kind: concept_art, prompt: "a rock"}
    """


def run(assets, batch_id="kit", instance=None):
    instance = instance or DagsterInstance.ephemeral()
    if not instance.has_dynamic_partition(PROMPT_BATCHES, batch_id):
        instance.add_dynamic_partitions(PROMPT_BATCHES, [batch_id])
    return materialize(assets, partition_key=batch_id, instance=instance, resources={"models": ModelLoader()},
                       raise_on_error=False)


def checks_of(result):
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


@pytest.fixture
def kit(tiny_kit, workdir):
    write_batch(workdir / "prompts", "kit", BATCH)
    result = run([sprites, icons, textures, pbr_maps])
    assert result.success
    return workdir / "outputs" / "kit", result


def test_all_checks_pass_and_are_reported(kit):
    _, result = kit
    evaluations = checks_of(result)
    assert set(evaluations) == {
        ("sprites", "has_transparency"), ("sprites", "trimmed"), ("sprites", "not_constant"),
        ("icons", "exact_sizes"), ("icons", "has_transparency"),
        ("textures", "tileable"), ("textures", "power_of_two"), ("textures", "not_constant"),
        ("pbr_maps", "normals_unit_length"), ("pbr_maps", "maps_tile"), ("pbr_maps", "not_constant"),
    }
    assert all(e.passed for e in evaluations.values()), {k: e.description for k, e in evaluations.items()}
    seams = evaluations[("textures", "tileable")].metadata["seam_ratios"].value
    assert set(seams) == {"floor", "fence"} and set(seams["fence"]) == {"x"}


def test_sprites_are_transparent_trimmed_and_in_the_atlas(kit):
    out, _ = kit
    hero = np.asarray(Image.open(out / "sprites" / "hero.png"))
    assert hero.shape[2] == 4 and (hero[..., 3] == 0).any() and (hero[..., 3] > 0).any()
    with Image.open(out / "sprites" / "slime.png") as image:
        provenance = json.loads(image.text["assetgen"])
    assert provenance["background"] == "magenta" and "magenta background" in provenance["prompt"]
    atlas = np.asarray(Image.open(out / "sprites_atlas" / "atlas.png"))
    mapping = json.loads((out / "sprites_atlas" / "atlas.json").read_text())
    assert mapping["meta"]["size"] == {"w": atlas.shape[1], "h": atlas.shape[0]}
    for name in ("hero", "slime"):
        frame = mapping["frames"][f"{name}.png"]["frame"]
        sprite = np.asarray(Image.open(out / "sprites" / f"{name}.png"))
        assert np.array_equal(atlas[frame["y"]:frame["y"] + frame["h"], frame["x"]:frame["x"] + frame["w"]], sprite)


def test_icons_exist_at_exactly_the_requested_sizes(kit):
    out, _ = kit
    assert sorted(p.name for p in (out / "icons").glob("*.png")) == ["potion_16.png", "potion_32.png", "potion_64.png"]
    for size in (64, 32, 16):
        with Image.open(out / "icons" / f"potion_{size}.png") as image:
            assert image.size == (size, size) and image.mode == "RGBA"


def test_textures_and_their_pbr_maps(kit):
    out, result = kit
    with Image.open(out / "textures" / "fence.png") as image:
        assert image.size == (64, 64)
        assert json.loads(image.text["assetgen"])["tile"] == "x"
    maps = sorted(p.name for p in (out / "pbr_maps").glob("floor_*.png"))
    assert maps == ["floor_ao.png", "floor_height.png", "floor_normal.png", "floor_roughness.png"]
    normal = np.asarray(Image.open(out / "pbr_maps" / "floor_normal.png")).astype(np.float32) / 255 * 2 - 1
    assert np.abs(np.linalg.norm(normal, axis=-1) - 1).max() < 0.02
    with Image.open(out / "pbr_maps" / "floor_normal.png") as image:
        assert json.loads(image.text["assetgen"])["normal_convention"] == "directx"
    manifest = json.loads((out / "pbr_maps" / "manifest.json").read_text())
    assert set(manifest["items"]) == {"floor", "fence"}


def test_a_failing_blocking_check_stops_pbr_maps(tiny_kit, workdir, monkeypatch):
    write_batch(workdir / "prompts", "kit", BATCH)
    monkeypatch.setattr(checks, "tileable", partial(checks.tileable, max_ratio=0.0))  # every edge "seams"
    result = run([textures, pbr_maps])
    assert not checks_of(result)[("textures", "tileable")].passed
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert materialized == {"textures"}
    assert not (workdir / "outputs" / "kit" / "pbr_maps").exists()


def test_pbr_maps_without_textures_fails_once_saying_what_to_run(tiny_kit, workdir):
    write_batch(workdir / "prompts", "kit", BATCH)
    result = run([pbr_maps])
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    description = failure.step_failure_data.user_failure_data.description
    assert "item 'floor'" in description and "materialize `textures`" in description
