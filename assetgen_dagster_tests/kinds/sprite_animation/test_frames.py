"""Animation frames on synthetic clips: loops closed by the cross-fade, frames anchored, the sheet and
its Aseprite JSON and Godot resource; each check failing on the broken input it exists for."""

import numpy as np
import pytest

from assetgen_dagster.kinds.sprite_animation import (
    Animation,
    SpriteAnimationItem,
    alpha_coverage,
    anchor_stable,
    frame_count,
    loop_closes,
)
from assetgen_dagster.kinds.sprite_animation import frames as anim


def item(**fields):
    return SpriteAnimationItem(id="walk", kind="sprite_animation", prompt="a knight walking", **fields)


def blob(x, y, size=32, radius=5, colour=(200, 40, 40)):
    """An RGBA frame: a disc at (x, y) on transparency."""
    rows, cols = np.mgrid[0:size, 0:size]
    frame = np.zeros((size, size, 4), np.uint8)
    inside = (cols - x) ** 2 + (rows - y) ** 2 <= radius**2
    frame[inside] = (*colour, 255)
    return frame


@pytest.mark.parametrize("frames, loop, made, overlap", [(8, True, 13, 4), (8, False, 9, 0), (2, True, 5, 1),
                                                         (32, True, 49, 16), (13, False, 13, 0)])
def test_the_video_model_is_asked_for_four_k_plus_one_frames_with_room_to_close_a_loop(frames, loop, made, overlap):
    assert anim.model_frame_count(frames, loop) == (made, overlap)


def test_the_cross_fade_closes_a_loop_that_the_raw_clip_leaves_open():
    """A disc growing steadily: anchored, it stays in place, but the raw loop jumps from big to small."""
    frames = [blob(16, 16, radius=3 + i) for i in range(12)]
    opened = loop_closes(item(frames=8), Animation(frames[:8], {}))
    assert not opened.passed and opened.figures["loop_ratio"] > 3
    closed = anim.close_loop(frames, 8, 4)
    assert len(closed) == 8 and loop_closes(item(frames=8), Animation(closed, {})).passed
    assert np.array_equal(closed[4], frames[4]) and not np.array_equal(closed[0], frames[0])


def test_a_blend_mixes_in_premultiplied_alpha():
    red, clear = blob(8, 8, size=16), np.zeros((16, 16, 4), np.uint8)
    half = anim.blend(red, clear, 0.5)
    assert half[8, 8, 3] == 128 and tuple(half[8, 8, :3]) == (200, 40, 40)  # no darkening toward black


def test_a_loop_whose_last_frame_jumps_fails_and_a_one_shot_is_not_held_to_it():
    frames = [blob(8 + 2 * i, 16) for i in range(6)] + [blob(28, 4)]
    verdict = loop_closes(item(frames=7), Animation(frames, {}))
    assert not verdict.passed and "jumps" in verdict.message
    assert loop_closes(item(frames=7, loop=False), Animation(frames, {})).passed


def test_aligned_frames_keep_their_anchor_and_a_drifting_anchor_fails():
    drifting = [blob(8 + 3 * i, 12 + i) for i in range(6)]
    verdict = anchor_stable(item(frames=6), Animation(drifting, {}))
    assert not verdict.passed and verdict.figures["anchor_drift"] == 15
    for anchor in ("bottom-center", "center"):
        aligned = anim.align(drifting, anchor)
        assert anchor_stable(item(frames=6, anchor=anchor), Animation(aligned, {})).passed
        assert anim.anchor_drift(aligned, anchor) <= 1


def test_alpha_coverage_fails_on_an_opaque_or_an_empty_frame():
    frames = [blob(16, 16) for _ in range(4)]
    assert alpha_coverage(item(frames=4), Animation(frames, {})).passed
    opaque = [*frames[:3], np.full((32, 32, 4), 255, np.uint8)]
    assert "frame 3: fully opaque" in alpha_coverage(item(frames=4), Animation(opaque, {})).message
    empty = [np.zeros((32, 32, 4), np.uint8), *frames[1:]]
    assert "frame 0: empty" in alpha_coverage(item(frames=4), Animation(empty, {})).message


def test_keying_refuses_a_frame_with_nothing_left():
    video = np.zeros((3, 16, 16, 3), np.uint8)
    video[..., 1] = 255
    video[1, 4:8, 4:8] = (255, 0, 0)
    with pytest.raises(anim.EmptySpriteError, match="frame 0 is empty"):
        anim.key_frames(video)


def test_sized_frames_keep_their_aspect_and_lose_the_faint_alpha_haze():
    frames = anim.sized([blob(16, 16, size=32)] * 2, 80)
    assert frames[0].shape == (80, 80, 4)
    alpha = frames[0][..., 3]
    assert ((alpha == 0) | (alpha > 8)).all()
    wide = np.zeros((16, 32, 4), np.uint8)
    assert anim.sized([wide], 64)[0].shape == (32, 64, 4)


def test_the_sheet_json_and_godot_resource_describe_the_same_frames():
    frames = [blob(4 + i, 10, size=20) for i in range(11)]
    sheet, rects = anim.pack_sheet(frames)
    assert sheet.shape == (40, 160, 4) and len(rects) == 11  # 8 per row
    assert all(np.array_equal(a, b) for a, b in zip(anim.unpack_sheet(sheet, rects), frames, strict=True))
    layout = anim.aseprite_json(rects, "walk", 12, True, "walk.png", (160, 40))
    assert [f["duration"] for f in layout["frames"]] == [83] * 11
    assert layout["meta"]["frameTags"] == [{"name": "walk", "from": 0, "to": 10, "direction": "forward",
                                            "color": "#000000ff"}]
    assert layout["meta"]["size"] == {"w": 160, "h": 40} and anim.rects_from_aseprite(layout) == rects
    once = anim.aseprite_json(rects, "walk", 12, False, "walk.png", (160, 40))
    assert once["meta"]["frameTags"][0]["repeat"] == "1"
    tres = anim.godot_sprite_frames(rects, "walk", 12, True, "walk.png")
    assert tres.startswith('[gd_resource type="SpriteFrames" load_steps=13 format=2]')
    assert '[ext_resource path="walk.png" type="Texture" id=1]' in tres
    assert tres.count('[sub_resource type="AtlasTexture"') == 11 and "region = Rect2( 40, 20, 20, 20 )" in tres
    assert '"loop": true,' in tres and '"speed": 12.0' in tres and '"name": "walk",' in tres


def test_the_frame_count_check_compares_the_sheet_its_json_and_the_item():
    frames = [blob(10, 10, size=20)] * 4
    sheet, rects = anim.pack_sheet(frames)
    layout = anim.aseprite_json(rects, "walk", 12, True, "walk.png", sheet.shape[1::-1])
    assert frame_count(item(frames=4), Animation(frames, layout)).passed
    assert "asked for 5 frames" in frame_count(item(frames=5), Animation(frames, layout)).message
    short = {**layout, "frames": layout["frames"][:3]}
    assert not frame_count(item(frames=4), Animation(frames, short)).passed


@pytest.mark.parametrize("fields", [{"frames": 1}, {"frames": 33}, {"fps": 0}, {"size": 8}, {"anchor": "top-left"},
                                    {"animation": "Walk Cycle"}])
def test_bad_options_are_refused(fields):
    with pytest.raises(ValueError):
        item(**fields)
