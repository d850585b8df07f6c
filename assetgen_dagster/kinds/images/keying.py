"""Transparent sprites and icons from images generated on a flat key background.

Keying, trimming, a TexturePacker-style atlas and icon downscaling with premultiplied alpha.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

KEY_COLORS = {"green": (0, 255, 0), "magenta": (255, 0, 255), "blue": (0, 0, 255)}
ALPHA_VISIBLE = 8  # alpha at or below this (of 255) counts as empty when trimming


def background_prompt(prompt: str, background: str) -> str:
    """The prompt a generator needs to paint the subject on a flat, keyable background."""
    return f"{prompt}, centered, isolated on a plain flat solid {background} background"


def estimate_background(rgb: np.ndarray) -> np.ndarray:
    """The background colour: the median of the image's border pixels (robust to a subject touching it)."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float32)
    return np.median(border, axis=0)


def key_out(rgb: np.ndarray, key: tuple[int, int, int] | None = None,
            soft: tuple[float, float] = (0.04, 0.40)) -> np.ndarray:
    """RGBA uint8 with the flat background made transparent and soft edges unmixed from it.

    ``key`` defaults to the estimated border colour. Pixels closer than ``soft[0]`` (RGB distance,
    0..1) to it are fully transparent, farther than ``soft[1]`` fully opaque, a linear ramp between.
    A colour-difference key, not a matting model: a subject close to the key colour loses opacity.
    """
    pixels = rgb.astype(np.float32)
    background = np.asarray(key, dtype=np.float32) if key is not None else estimate_background(rgb)
    distance = np.linalg.norm(pixels - background, axis=-1) / (255.0 * np.sqrt(3.0))
    alpha = np.clip((distance - soft[0]) / (soft[1] - soft[0]), 0.0, 1.0)
    # Unmix: observed = a * colour + (1 - a) * background  ->  colour = (observed - (1 - a) bg) / a.
    safe = np.maximum(alpha, 1e-3)[..., None]
    colour = np.clip((pixels - (1.0 - alpha[..., None]) * background) / safe, 0.0, 255.0)
    return np.dstack([np.round(colour), np.round(alpha * 255.0)]).astype(np.uint8)


class EmptySpriteError(ValueError):
    """Nothing is left after keying: the generator painted only background."""


def content_box(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom), exclusive, of visible pixels, or None if there are none."""
    rows = np.flatnonzero((alpha > ALPHA_VISIBLE).any(axis=1))
    cols = np.flatnonzero((alpha > ALPHA_VISIBLE).any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def trim(rgba: np.ndarray, margin: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Crop to the visible content plus ``margin`` transparent pixels (padding if needed)."""
    box = content_box(rgba[..., 3])
    if box is None:
        raise EmptySpriteError("the sprite is empty after keying out the background")
    left, top, right, bottom = box
    cropped = rgba[top:bottom, left:right]
    padded = np.zeros((cropped.shape[0] + 2 * margin, cropped.shape[1] + 2 * margin, 4), dtype=np.uint8)
    padded[margin:margin + cropped.shape[0], margin:margin + cropped.shape[1]] = cropped
    return padded, box


def square(rgba: np.ndarray, margin_fraction: float = 0.06) -> np.ndarray:
    """Centre the visible content on a transparent square canvas with a small margin."""
    trimmed, _ = trim(rgba, 0)
    side = int(np.ceil(max(trimmed.shape[:2]) * (1 + 2 * margin_fraction)))
    canvas = np.zeros((side, side, 4), dtype=np.uint8)
    y, x = (side - trimmed.shape[0]) // 2, (side - trimmed.shape[1]) // 2
    canvas[y:y + trimmed.shape[0], x:x + trimmed.shape[1]] = trimmed
    return canvas


def resize_rgba(rgba: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Lanczos downscale to ``size`` (a square side, or width and height) in premultiplied alpha,
    so transparent pixels' colours do not bleed in."""
    from PIL import Image

    size = (size, size) if isinstance(size, int) else size
    premultiplied = rgba.astype(np.float32)
    premultiplied[..., :3] *= premultiplied[..., 3:4] / 255.0
    channels = [np.asarray(Image.fromarray(premultiplied[..., c]).resize(size, Image.Resampling.LANCZOS))
                for c in range(4)]
    out = np.stack(channels, axis=-1)
    alpha = np.clip(out[..., 3], 0.0, 255.0)
    colour = np.where(alpha[..., None] > 0, out[..., :3] * 255.0 / np.maximum(alpha[..., None], 1e-6), 0.0)
    return np.dstack([np.clip(np.round(colour), 0, 255), np.round(alpha)]).astype(np.uint8)


@dataclass(frozen=True)
class AtlasFrame:
    name: str
    x: int
    y: int
    w: int
    h: int


def pack_atlas(sprites: dict[str, np.ndarray], padding: int = 2) -> tuple[np.ndarray, list[AtlasFrame]]:
    """Shelf-pack RGBA sprites (tallest first) into a power-of-two atlas; returns image and frames."""
    order = sorted(sprites, key=lambda n: (-sprites[n].shape[0], n))
    total_area = sum((s.shape[0] + padding) * (s.shape[1] + padding) for s in sprites.values())
    widest = max(s.shape[1] for s in sprites.values()) + padding
    width = 1 << int(np.ceil(np.log2(max(widest, np.sqrt(total_area)))))
    frames, x, y, shelf = [], 0, 0, 0
    for name in order:
        h, w = sprites[name].shape[:2]
        if x + w + padding > width:
            x, y, shelf = 0, y + shelf, 0
        frames.append(AtlasFrame(name, x, y, w, h))
        x, shelf = x + w + padding, max(shelf, h + padding)
    height = 1 << int(np.ceil(np.log2(max(y + shelf, 1))))
    atlas = np.zeros((height, width, 4), dtype=np.uint8)
    for frame in frames:
        atlas[frame.y:frame.y + frame.h, frame.x:frame.x + frame.w] = sprites[frame.name]
    return atlas, frames


def atlas_json(frames: list[AtlasFrame], image_name: str, size: tuple[int, int]) -> dict[str, Any]:
    """The frame map in TexturePacker's JSON (hash) layout, which Godot, Unity and Phaser importers read.
    Frames are the sprite files as saved (already trimmed), so each is untrimmed relative to its file."""
    return {
        "frames": {
            f"{f.name}.png": {
                "frame": {"x": f.x, "y": f.y, "w": f.w, "h": f.h},
                "rotated": False,
                "trimmed": False,
                "spriteSourceSize": {"x": 0, "y": 0, "w": f.w, "h": f.h},
                "sourceSize": {"w": f.w, "h": f.h},
            }
            for f in frames
        },
        "meta": {"app": "assetgen-dagster", "image": image_name, "format": "RGBA8888",
                 "size": {"w": size[0], "h": size[1]}, "scale": "1"},
    }
