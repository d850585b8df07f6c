"""The 2D kinds end to end on the tiny kit: sprites with their atlas, icons, textures and PBR maps."""

import json

import numpy as np
import pytest
from PIL import Image

from assetgen_dagster.kinds import texture

from ..conftest import REGISTRY, checks_of, materialize_batch, metadata_of, step_failure, write_batch

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


def run(names, batch_id="kit"):
    return materialize_batch(names, batch_id)[0]


@pytest.fixture
def kit(tiny_kit, workdir):
    write_batch(workdir / "prompts", "kit", BATCH)
    result = run(["sprites", "icons", "textures", "pbr_maps"])
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
    assert all(e.partition == "kit" for e in evaluations.values())  # each result names its batch
    tileable = evaluations[("textures", "tileable")]
    assert tileable.metadata["items_checked"].value == 2 and tileable.metadata["max_seam_ratio"].value < 1.5
    manifest = json.loads((kit[0] / "textures" / "manifest.json").read_text())
    assert set(manifest["items"]["fence"]["checks"]["tileable"]["figures"]["seam_ratios"]) == {"x"}


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


def test_a_failing_blocking_check_stops_pbr_maps_for_that_item_only(tiny_kit, workdir, monkeypatch):
    write_batch(workdir / "prompts", "kit", BATCH)
    real = texture.tileable  # every edge "seams", for the x-tiled fence only
    monkeypatch.setattr(texture, "tileable", lambda image, tile: real(image, tile, 0.0 if tile == "x" else 1.5))
    result = run(["textures", "pbr_maps"])
    assert result.success  # one bad texture does not stop the others' maps
    tileable = checks_of(result)[("textures", "tileable")]
    assert not tileable.passed and "fence" in tileable.description and "floor" not in tileable.description
    pbr = metadata_of(result, "pbr_maps")
    assert pbr["generated"] == 1 and "textures check tileable failed" in pbr["blocked"]["fence"]
    maps = workdir / "outputs" / "kit" / "pbr_maps"
    assert sorted(p.name for p in maps.glob("*.png")) == [f"floor_{m}.png" for m in ("ao", "height", "normal", "roughness")]


def test_pbr_maps_without_textures_fails_once_saying_what_to_run(tiny_kit, workdir):
    write_batch(workdir / "prompts", "kit", BATCH)
    result = run(["pbr_maps"])
    assert not result.success
    description = step_failure(result)
    assert "item 'floor'" in description and "materialize `textures`" in description


def test_registry_lists_the_2d_kinds():
    assert {"concept_art", "sprite", "icon", "texture"} <= {kind.name for kind in REGISTRY.kinds}


def test_an_empty_sprite_is_refused_not_written_and_reported(tiny_kit, workdir, monkeypatch):
    from assetgen_dagster.kinds.images import keying

    write_batch(workdir / "prompts", "kit", BATCH)
    real, calls = keying.key_out, []

    def first_comes_out_empty(rgb, *args, **kwargs):  # hero is the first sprite of the batch
        keyed = real(rgb, *args, **kwargs)
        if not calls:
            keyed[..., 3] = 0
        calls.append(1)
        return keyed

    monkeypatch.setattr(keying, "key_out", first_comes_out_empty)
    first, instance = materialize_batch(["sprites", "asset_pack"], "kit")
    assert first.success
    check = checks_of(first)[("sprites", "has_transparency")]
    assert not check.passed and check.description.startswith("hero: empty after keying")
    out = workdir / "outputs" / "kit"
    assert not (out / "sprites" / "hero.png").exists() and (out / "sprites" / "slime.png").exists()
    assert set(json.loads((out / "sprites_atlas" / "atlas.json").read_text())["frames"]) == {"slime.png"}
    pack = checks_of(first)[("asset_pack", "complete")]
    assert not pack.passed and "hero: sprites: empty after keying" in pack.description
    again, _ = materialize_batch(["sprites"], "kit", instance=instance)
    meta = metadata_of(again, "sprites")
    assert (meta["generated"], meta["reused"]) == (0, 2) and "hero" in meta["rejected"]  # refused once, recorded
