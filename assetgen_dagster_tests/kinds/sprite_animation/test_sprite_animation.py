"""Animated sprites through the real pipeline on the tiny kit (a Wan-architecture text-to-video model
built in code): a sheet, its Aseprite JSON and a Godot SpriteFrames per item, every check green,
the same bytes from scratch, and only the changed item made again."""

import json
import re
import shutil

import numpy as np
from PIL import Image

from ...conftest import checks_of, materialize_batch, metadata_of, write_batch

BATCH = """\
    defaults: {seed: 3}
    items:
      - {id: knight_walk, kind: sprite_animation, prompt: "a knight walking", frames: 8, fps: 12, size: 64,
         animation: walk}
      - {id: spark, kind: sprite_animation, prompt: "a spark burst", frames: 5, fps: 20, loop: false, size: 40,
         anchor: center, background: magenta}
    """


def animations(workdir, batch=BATCH):
    write_batch(workdir / "prompts", "moves", batch)
    result, _ = materialize_batch(["sprite_animations"], "moves")
    assert result.success
    return workdir / "outputs" / "moves" / "sprite_animations", result


def test_each_animation_is_a_sheet_with_aseprite_json_and_a_godot_sprite_frames(tiny_kit, workdir):
    out, result = animations(workdir)
    checks = checks_of(result)
    assert {name for _, name in checks} == {"frame_count", "loop_closes", "anchor_stable", "alpha_coverage"}
    assert all(check.passed for check in checks.values()), {k: c.description for k, c in checks.items()}
    for item, name, frames, width, height, fps, loop in (("knight_walk", "walk", 8, 64, 64, 12, True),
                                                         ("spark", "spark", 5, 40, 40, 20, False)):
        layout = json.loads((out / f"{item}.json").read_text())
        with Image.open(out / f"{item}.png") as image:
            sheet = np.asarray(image)
            provenance = json.loads(image.text["assetgen"])
        assert layout["meta"]["image"] == f"{item}.png"
        assert layout["meta"]["size"] == {"w": sheet.shape[1], "h": sheet.shape[0]} and sheet.shape[2] == 4
        assert len(layout["frames"]) == frames and {f["duration"] for f in layout["frames"]} == {round(1000 / fps)}
        [tag] = layout["meta"]["frameTags"]
        assert (tag["name"], tag["from"], tag["to"], tag["direction"]) == (name, 0, frames - 1, "forward")
        assert ("repeat" in tag) == (not loop)
        for entry in layout["frames"]:
            rect = entry["frame"]
            assert (rect["w"], rect["h"]) == (width, height)
            frame = sheet[rect["y"]:rect["y"] + rect["h"], rect["x"]:rect["x"] + rect["w"]]
            assert (frame[..., 3] == 0).any() and (frame[..., 3] > 0).any()
        tres = (out / f"{item}.tres").read_text()
        assert f'[ext_resource path="{item}.png" type="Texture" id=1]' in tres
        regions = re.findall(r"region = Rect2\( (\d+), (\d+), (\d+), (\d+) \)", tres)
        assert [tuple(map(int, r)) for r in regions] == [tuple(e["frame"][k] for k in "xywh") for e in layout["frames"]]
        assert f'"name": "{name}",' in tres and f'"speed": {float(fps)}' in tres and f'"loop": {str(loop).lower()}' in tres
        assert provenance["model"] == "assetgen-tiny/text-to-video" and provenance["pipeline"] == "WanPipeline"
        assert (provenance["frames"], provenance["fps"], provenance["loop"]) == (frames, fps, loop)
        assert (provenance["model_frames"] - 1) % 4 == 0 and provenance["model_frames"] >= frames
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["items"]["knight_walk"]["stats"] == {"frames": 8, "fps": 12, "sheet": "512x64"}
    assert manifest["items"]["knight_walk"]["checks"]["anchor_stable"]["figures"]["anchor_drift"] <= 1


def test_the_same_batch_from_scratch_gives_the_same_bytes(tiny_kit, workdir):
    out, _ = animations(workdir)
    first = {path.name: path.read_bytes() for path in out.iterdir() if path.suffix != ".json" or path.stem != "manifest"}
    shutil.rmtree(workdir / "outputs")
    out, result = animations(workdir)
    assert metadata_of(result, "sprite_animations")["generated"] == 2  # made again, not reused
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.name in first} == first


def test_a_changed_fps_makes_only_that_animation_again(tiny_kit, workdir):
    out, _ = animations(workdir)
    spark = (out / "spark.png").read_bytes()
    _, result = animations(workdir, BATCH.replace("fps: 12", "fps: 8"))
    metadata = metadata_of(result, "sprite_animations")
    assert (metadata["generated"], metadata["reused"]) == (1, 1)
    assert '"speed": 8.0' in (out / "knight_walk.tres").read_text()
    assert {f["duration"] for f in json.loads((out / "knight_walk.json").read_text())["frames"]} == {125}
    assert (out / "spark.png").read_bytes() == spark


def test_the_pack_keeps_each_animation_under_sprites_animations(demo_packs):
    folder = demo_packs / "sky_and_motion" / "asset_pack" / "sprites" / "animations"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{item}.{ext}" for item in ("campfire", "hero_walk") for ext in ("json", "png", "tres"))
