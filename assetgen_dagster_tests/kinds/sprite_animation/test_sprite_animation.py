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


def test_writing_a_clip_that_drifts_and_does_not_loop_anchors_it_and_closes_the_loop(tmp_path):
    """The asset's own write on a clip as a video model might make it: a ball moving right and
    bouncing on flat green, growing as it comes closer. The sheet holds its bottom-center still, and
    its last frame leads into its first although the clip's does not."""
    from assetgen_dagster.engine import ItemOutput
    from assetgen_dagster.kinds.sprite_animation import (
        AnimationRequest,
        SpriteAnimationItem,
        SpriteAnimations,
        anchor_stable,
        loop_closes,
    )
    from assetgen_dagster.kinds.sprite_animation.frames import (
        anchor_drift,
        key_frames,
        last_frames,
        loop_step_ratio,
        model_frame_count,
        rects_from_aseprite,
        unpack_sheet,
    )

    item = SpriteAnimationItem(id="ball", kind="sprite_animation", prompt="a bouncing ball", frames=8, size=32)
    made, overlap = model_frame_count(8, True)
    request = AnimationRequest("a bouncing ball", 1, 2, 1.0, 32, 32, made, overlap, 8, 12, True, 32, "bottom-center",
                               "ball")
    rows, cols = np.mgrid[0:32, 0:32]
    video = np.zeros((made, 32, 32, 3), np.float32)
    video[..., 1] = 1.0
    for index in range(made):
        ball = (cols - (6 + index)) ** 2 + (rows - (12 + 3 * (index % 3))) ** 2 <= (2 + index / 2) ** 2
        video[index][ball] = (0.9, 0.2, 0.1)
    as_made = key_frames(last_frames(video, 8))
    assert anchor_drift(as_made, "bottom-center") > 5 and loop_step_ratio(as_made)[2] > 1.5

    animation = SpriteAnimations().write(ItemOutput(tmp_path, item.id, {}), item, request, video)
    layout = json.loads((tmp_path / "ball.json").read_text())
    written = unpack_sheet(np.asarray(Image.open(tmp_path / "ball.png")), rects_from_aseprite(layout))
    assert len(written) == 8 and anchor_drift(written, "bottom-center") <= 1
    assert anchor_stable(item, animation).passed and loop_closes(item, animation).passed
