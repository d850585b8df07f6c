"""Frames of an animated sprite: keyed to alpha, aligned on an anchor, closed into a loop, packed into a
sheet with its Aseprite JSON and Godot 3 ``SpriteFrames`` resource. numpy and Pillow only, no models here."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assetgen_dagster.kinds.images.keying import ALPHA_VISIBLE, EmptySpriteError, key_out, resize_rgba

ANCHORS = ("bottom-center", "center")
SHEET_COLUMNS = 8  # frames per sheet row


def model_frame_count(frames: int, loop: bool) -> tuple[int, int]:
    """(frames the video model makes, frames blended into the start to close a loop). A loop needs
    ``overlap`` extra frames past its end; video models such as Wan make ``4k + 1`` frames."""
    overlap = max(1, frames // 2) if loop else 0
    needed = frames + overlap
    return 4 * math.ceil((needed - 1) / 4) + 1, overlap


def last_frames(video: np.ndarray, count: int) -> np.ndarray:
    """The last ``count`` frames of ``video`` (F x H x W x 3, 0..1) as 8-bit RGB: a video model's
    first frames settle the clip, its last are its steadiest."""
    return np.round(np.clip(video[len(video) - count:], 0.0, 1.0) * 255).astype(np.uint8)


def blend(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """``weight`` of RGBA frame ``a`` over the rest of ``b``, mixed in premultiplied alpha."""
    pa, pb = a.astype(np.float32), b.astype(np.float32)
    alpha = weight * pa[..., 3:4] + (1.0 - weight) * pb[..., 3:4]
    colour = weight * pa[..., :3] * pa[..., 3:4] + (1.0 - weight) * pb[..., :3] * pb[..., 3:4]
    colour = np.where(alpha > 0, colour / np.maximum(alpha, 1e-6), 0.0)
    return np.dstack([np.clip(np.round(colour), 0, 255), np.round(alpha)]).astype(np.uint8)


def close_loop(frames: Sequence[np.ndarray], count: int, overlap: int) -> list[np.ndarray]:
    """The first ``count`` of ``frames`` (RGBA, keyed and anchored), the first ``overlap`` of them
    cross-faded with the ones that follow the end, so the last frame leads into the first as every
    frame leads into the next (the seam sits inside the fade, not at the wrap). Anchored first, the
    subject sits in the same place in both, so the fade does not show it twice."""
    out = list(frames[:count])
    for index in range(overlap):
        weight = (index + 1) / (overlap + 1)  # mostly the continuation at frame 0, the original by `overlap`
        out[index] = blend(frames[index], frames[count + index], weight)
    return out


def key_frames(rgb: np.ndarray) -> list[np.ndarray]:
    """Every frame keyed against its own background colour (the median of its border pixels): video
    models drift in brightness and tint over a clip, so one colour for all frames would eat some and
    leave a rim on others. Raises EmptySpriteError naming an empty frame."""
    keyed = [key_out(frame) for frame in rgb]
    for index, frame in enumerate(keyed):
        if not (frame[..., 3] > ALPHA_VISIBLE).any():
            raise EmptySpriteError(f"frame {index} is empty after keying out the background")
    return keyed


def anchor_point(alpha: np.ndarray, anchor: str) -> tuple[float, float] | None:
    """Where the visible content's ``anchor`` is, in pixels: (x, y); None for an empty frame.
    ``bottom-center``: the middle of the content box's bottom edge (where a character stands)."""
    rows = np.flatnonzero((alpha > ALPHA_VISIBLE).any(axis=1))
    cols = np.flatnonzero((alpha > ALPHA_VISIBLE).any(axis=0))
    if rows.size == 0:
        return None
    x = (cols[0] + cols[-1]) / 2.0
    y = float(rows[-1]) if anchor == "bottom-center" else (rows[0] + rows[-1]) / 2.0
    return float(x), y


def shift(frame: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``frame`` moved by whole pixels, transparent where nothing moved in."""
    out = np.zeros_like(frame)
    height, width = frame.shape[:2]
    src_y, dst_y = slice(max(0, -dy), min(height, height - dy)), slice(max(0, dy), min(height, height + dy))
    src_x, dst_x = slice(max(0, -dx), min(width, width - dx)), slice(max(0, dx), min(width, width + dx))
    out[dst_y, dst_x] = frame[src_y, src_x]
    return out


def align(frames: Sequence[np.ndarray], anchor: str) -> list[np.ndarray]:
    """Frames moved so their ``anchor`` sits where it does in the median frame: the character stays
    put on the sheet and the game moves it, as engines expect."""
    points = [anchor_point(frame[..., 3], anchor) for frame in frames]
    target = np.median(np.array([p for p in points if p is not None]), axis=0)
    return [frame if point is None else shift(frame, round(target[0] - point[0]), round(target[1] - point[1]))
            for frame, point in zip(frames, points, strict=True)]


def sized(frames: Sequence[np.ndarray], width: int) -> list[np.ndarray]:
    """Frames scaled (premultiplied Lanczos) to ``width`` px, keeping their aspect ratio; the faint
    alpha that resampling rings into the background (at most ``ALPHA_VISIBLE``) is cleared, or an
    engine draws it as a grey haze around the sprite."""
    height, source_width = frames[0].shape[:2]
    size = (width, max(1, round(height * width / source_width)))
    scaled = [frame if frame.shape[1::-1] == size else resize_rgba(frame, size) for frame in frames]
    return [np.where((frame[..., 3] <= ALPHA_VISIBLE)[..., None], 0, frame).astype(np.uint8) for frame in scaled]


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int


def pack_sheet(frames: Sequence[np.ndarray]) -> tuple[np.ndarray, list[Rect]]:
    """Frames in a grid, left to right and top to bottom, :data:`SHEET_COLUMNS` per row."""
    height, width = frames[0].shape[:2]
    columns = min(len(frames), SHEET_COLUMNS)
    rows = math.ceil(len(frames) / columns)
    sheet = np.zeros((rows * height, columns * width, 4), dtype=np.uint8)
    rects = []
    for index, frame in enumerate(frames):
        rect = Rect((index % columns) * width, (index // columns) * height, width, height)
        sheet[rect.y:rect.y + rect.h, rect.x:rect.x + rect.w] = frame
        rects.append(rect)
    return sheet, rects


def unpack_sheet(sheet: np.ndarray, rects: Sequence[Rect]) -> list[np.ndarray]:
    return [sheet[r.y:r.y + r.h, r.x:r.x + r.w] for r in rects]


def frame_duration_ms(fps: int) -> int:
    return round(1000 / fps)


def aseprite_json(rects: Sequence[Rect], name: str, fps: int, loop: bool, image: str,
                  size: tuple[int, int]) -> dict[str, Any]:
    """The sheet's map in Aseprite's JSON export format (array of frames), which Aseprite importers
    for Godot, Unity and Phaser read: one frame tag naming the animation, ``repeat: "1"`` when it
    plays once."""
    tag: dict[str, Any] = {"name": name, "from": 0, "to": len(rects) - 1, "direction": "forward",
                           "color": "#000000ff"}
    if not loop:
        tag["repeat"] = "1"
    return {
        "frames": [{"filename": f"{name} {index}", "frame": {"x": r.x, "y": r.y, "w": r.w, "h": r.h},
                    "rotated": False, "trimmed": False,
                    "spriteSourceSize": {"x": 0, "y": 0, "w": r.w, "h": r.h}, "sourceSize": {"w": r.w, "h": r.h},
                    "duration": frame_duration_ms(fps)} for index, r in enumerate(rects)],
        "meta": {"app": "assetgen-dagster", "version": "1", "image": image, "format": "RGBA8888",
                 "size": {"w": size[0], "h": size[1]}, "scale": "1", "frameTags": [tag], "layers": [],
                 "slices": []},
    }


def rects_from_aseprite(layout: dict[str, Any]) -> list[Rect]:
    return [Rect(**{key: int(entry["frame"][key]) for key in "xywh"}) for entry in layout["frames"]]


def godot_sprite_frames(rects: Sequence[Rect], name: str, fps: int, loop: bool, image: str) -> str:
    """A Godot 3 ``SpriteFrames`` resource (text ``.tres``): one animation of AtlasTexture regions of
    the sheet, which sits beside it (``image`` is a path relative to the resource)."""
    lines = [f'[gd_resource type="SpriteFrames" load_steps={len(rects) + 2} format=2]', "",
             f'[ext_resource path={json.dumps(image)} type="Texture" id=1]', ""]
    for index, r in enumerate(rects, start=1):
        lines += [f'[sub_resource type="AtlasTexture" id={index}]', "atlas = ExtResource( 1 )",
                  f"region = Rect2( {r.x}, {r.y}, {r.w}, {r.h} )", ""]
    frames = ", ".join(f"SubResource( {index} )" for index in range(1, len(rects) + 1))
    lines += ["[resource]", "animations = [ {", f'"frames": [ {frames} ],', f'"loop": {str(loop).lower()},',
              f'"name": {json.dumps(name)},', f'"speed": {float(fps)}', "} ]", ""]
    return "\n".join(lines)


def frame_change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two RGBA frames in premultiplied alpha (the colour of a
    transparent pixel does not count), in 8-bit levels."""
    def premultiplied(frame: np.ndarray) -> np.ndarray:
        values = frame.astype(np.float32)
        return np.dstack([values[..., :3] * values[..., 3:4] / 255.0, values[..., 3]])

    return float(np.abs(premultiplied(a) - premultiplied(b)).mean())


def loop_step_ratio(frames: Sequence[np.ndarray]) -> tuple[float, float, float]:
    """(change from the last frame to the first, the median change between consecutive frames,
    their ratio): about 1 or less for a loop that closes, large for one whose last frame jumps."""
    steps = [frame_change(a, b) for a, b in itertools.pairwise(frames)]
    wrap = frame_change(frames[-1], frames[0])
    typical = float(np.median(steps))
    return wrap, typical, (wrap + 0.5) / (typical + 0.5)  # +0.5 level: two still frames are not a jump


def anchor_drift(frames: Sequence[np.ndarray], anchor: str) -> float | None:
    """The most any frame's anchor is from the first frame's, in pixels (either axis); None when a
    frame is empty."""
    points = [anchor_point(frame[..., 3], anchor) for frame in frames]
    if any(point is None for point in points):
        return None
    first = points[0]
    return max(max(abs(x - first[0]), abs(y - first[1])) for x, y in points)


__all__ = ["ANCHORS", "EmptySpriteError", "Rect", "align", "anchor_drift", "anchor_point", "aseprite_json", "blend",
           "close_loop", "frame_change", "godot_sprite_frames", "key_frames", "last_frames", "loop_step_ratio",
           "model_frame_count", "pack_sheet", "rects_from_aseprite", "sized", "unpack_sheet"]
