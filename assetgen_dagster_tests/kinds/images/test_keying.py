import numpy as np
import pytest

from assetgen_dagster.kinds.images.keying import (
    EmptySpriteError,
    atlas_json,
    key_out,
    pack_atlas,
    resize_rgba,
    square,
    trim,
)

GREEN, RED = np.array([0, 255, 0]), np.array([220, 30, 30])


def disc_on_green(size=64, radius=12, centre=(30, 26)):
    """A red disc with a one-pixel anti-aliased edge on a flat green background."""
    y, x = np.mgrid[0:size, 0:size]
    coverage = np.clip(radius + 0.5 - np.hypot(x - centre[1], y - centre[0]), 0, 1)[..., None]
    return np.round(coverage * RED + (1 - coverage) * GREEN).astype(np.uint8), coverage[..., 0]


def test_keying_makes_background_transparent_and_unmixes_edges():
    image, coverage = disc_on_green()
    rgba = key_out(image)
    alpha = rgba[..., 3].astype(int)
    assert (alpha[coverage == 0] == 0).all()
    assert (alpha[coverage == 1] == 255).all()
    edge = (coverage > 0.15) & (coverage < 0.5)
    assert edge.any() and ((alpha[edge] > 0) & (alpha[edge] < 255)).all()  # soft edges
    order = np.argsort(coverage[edge])
    assert (np.diff(alpha[edge][order]) >= 0).all()  # more coverage, more opacity
    # unmixing takes the key colour's spill out of edge pixels
    assert (rgba[..., 1][edge].astype(int) < image[..., 1][edge].astype(int)).all()
    assert (rgba[..., 1][alpha > 128] < 130).all()


def test_trim_keeps_the_margin_and_reports_the_box():
    rgba = key_out(disc_on_green()[0])
    sprite, box = trim(rgba, margin=3)
    left, top, right, bottom = box
    assert (left, top) == (14, 18) and (right - left, bottom - top) == (25, 25)
    assert sprite.shape == (25 + 6, 25 + 6, 4)
    assert (sprite[:3, :, 3] == 0).all() and (sprite[3, :, 3] > 0).any()


def test_an_all_background_image_is_empty():
    with pytest.raises(EmptySpriteError):
        trim(key_out(np.full((32, 32, 3), GREEN, dtype=np.uint8)), 2)


def test_atlas_json_matches_the_png():
    sprites = {f"s{i}": np.full((h, w, 4), (i * 40, 0, 0, 255), dtype=np.uint8)
               for i, (h, w) in enumerate([(20, 30), (50, 10), (8, 8), (33, 17)])}
    atlas, frames = pack_atlas(sprites, padding=2)
    h, w = atlas.shape[:2]
    assert h & (h - 1) == 0 and w & (w - 1) == 0
    mapping = atlas_json(frames, "atlas.png", (w, h))
    assert mapping["meta"]["size"] == {"w": w, "h": h} and mapping["meta"]["image"] == "atlas.png"
    assert set(mapping["frames"]) == {f"{n}.png" for n in sprites}
    boxes = []
    for name, sprite in sprites.items():
        f = mapping["frames"][f"{name}.png"]["frame"]
        assert 0 <= f["x"] and f["x"] + f["w"] <= w and 0 <= f["y"] and f["y"] + f["h"] <= h
        assert np.array_equal(atlas[f["y"]:f["y"] + f["h"], f["x"]:f["x"] + f["w"]], sprite)
        boxes.append((f["x"], f["y"], f["x"] + f["w"], f["y"] + f["h"]))
    for i, a in enumerate(boxes):  # frames never overlap
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_icon_downscale_is_exact_and_has_no_dark_or_green_fringe():
    _, coverage = disc_on_green(256, 100, (128, 128))
    rgba = np.zeros((256, 256, 4), dtype=np.uint8)
    rgba[..., :3] = np.where(coverage[..., None] > 0, RED, GREEN)  # transparent pixels are green
    rgba[..., 3] = np.round(coverage * 255)
    canvas = square(rgba)
    for size in (128, 64, 32, 16):
        icon = resize_rgba(canvas, size)
        assert icon.shape == (size, size, 4)
        partial = (icon[..., 3] > 30) & (icon[..., 3] < 225)
        assert partial.any()
        # premultiplied filtering: hidden green never bleeds into the visible edge
        assert (icon[..., 0][partial] > 180).all() and (icon[..., 1][partial] < 60).all()
