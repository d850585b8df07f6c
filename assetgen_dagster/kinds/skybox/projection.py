"""Equirectangular skies: wrap-aware resizing, smooth poles, and the six faces of a cubemap.

Our own numpy math (no library does this with the conventions engines use):

- **Equirect** (``u`` left to right, ``v`` top to bottom, both 0..1): longitude ``(u - 0.5) * 360``
  degrees, latitude ``(0.5 - v) * 180``. The image centre looks along -Z (the forward axis of Godot
  and glTF), a quarter to the right of it along +X, the top row is straight up (+Y); right-handed,
  Y up. The column before ``u = 0`` is the last one: the image wraps horizontally.
- **Cubemap faces** ``px, nx, py, ny, pz, nz`` (+X, -X, +Y, -Y, +Z, -Z) are laid out as the OpenGL
  cube-map table says (the order of KTX and of Godot 4's cubemap import from six images): a
  face pixel at column ``s``, row ``t`` (0..1, ``t`` downwards) looks along the direction in
  :data:`FACE_DIRECTIONS`. Sampling the cubemap along a direction gives what the equirect shows there.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

FACES = ("px", "nx", "py", "ny", "pz", "nz")

# Direction of a face pixel from sc = 2s - 1 and tc = 2t - 1 (the OpenGL cube-map table, inverted).
FACE_DIRECTIONS: dict[str, Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]] = {
    "px": lambda sc, tc: (np.ones_like(sc), -tc, -sc),
    "nx": lambda sc, tc: (-np.ones_like(sc), -tc, sc),
    "py": lambda sc, tc: (sc, np.ones_like(sc), tc),
    "ny": lambda sc, tc: (sc, -np.ones_like(sc), -tc),
    "pz": lambda sc, tc: (sc, -tc, np.ones_like(sc)),
    "nz": lambda sc, tc: (-sc, -tc, -np.ones_like(sc)),
}


def resize_equirect(rgb: np.ndarray, width: int) -> np.ndarray:
    """``rgb`` resized (Lanczos) to ``width`` x ``width // 2``. Each side is resampled from its own
    columns only, not wrapped around: resampling across the wrap would smear a seam the generation
    left into a ramp the seam check cannot tell from sky, and a sky that wraps still wraps (its two
    edge columns stay as close as they were generated)."""
    from PIL import Image

    if rgb.shape[1::-1] == (width, width // 2):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, width // 2), Image.Resampling.LANCZOS))


def block_mean(rgb: np.ndarray, factor: int) -> np.ndarray:
    """``rgb`` shrunk by averaging ``factor`` x ``factor`` blocks (no block straddles the wrap): the
    scale a sky was generated at, where a seam is one step between two columns. Upscaled (and
    resampled wrapping), the same seam is a ramp as wide as the scale, which a step measure misses."""
    if factor <= 1:
        return rgb
    height, width = (rgb.shape[0] // factor) * factor, (rgb.shape[1] // factor) * factor
    blocks = rgb[:height, :width].astype(np.float32).reshape(height // factor, factor, width // factor, factor, -1)
    return blocks.mean(axis=(1, 3))


def smooth_poles(rgb: np.ndarray, band: float = 1 / 6) -> np.ndarray:
    """The rows within ``band`` of the height of each pole blended toward their own mean colour,
    fully at the pole row: a pole is one point of the sphere, so its row must be one colour, or the
    cubemap's up and down faces show a pinch (a star of streaks). Blending per row keeps the wrap."""
    height = rgb.shape[0]
    rows = min(max(1, round(height * band)), height // 2)
    out = rgb.copy()
    for band_rows in (np.arange(rows), np.arange(height - rows, height)):  # only the bands change
        pixels = rgb[band_rows].astype(np.float32)
        distance = np.minimum(band_rows, height - 1 - band_rows) / rows  # 0 at the pole rows
        ramp = np.clip(1.0 - distance, 0.0, 1.0)
        weight = (ramp * ramp * (3.0 - 2.0 * ramp))[:, None, None]  # smoothstep: 1 at the pole, 0 at the edge
        blended = pixels * (1.0 - weight) + pixels.mean(axis=1, keepdims=True) * weight
        out[band_rows] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    return out


def direction_to_equirect(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) in the equirect of unit-or-not directions (see the module docstring)."""
    norm = np.sqrt(x * x + y * y + z * z)
    longitude = np.arctan2(x, -z)
    latitude = np.arcsin(np.clip(y / norm, -1.0, 1.0))
    return (longitude / (2 * np.pi) + 0.5) % 1.0, 0.5 - latitude / np.pi


def sample_equirect(pixels: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``pixels`` (float) at (u, v), wrapping in u and clamping in v."""
    height, width = pixels.shape[:2]
    px, py = u * width - 0.5, np.clip(v * height - 0.5, 0.0, height - 1.0)
    x0, y0 = np.floor(px).astype(int), np.floor(py).astype(int)
    fx, fy = (px - x0)[..., None], (py - y0)[..., None]
    x0, x1 = x0 % width, (x0 + 1) % width
    y1 = np.minimum(y0 + 1, height - 1)
    top = pixels[y0, x0] * (1 - fx) + pixels[y0, x1] * fx
    bottom = pixels[y1, x0] * (1 - fx) + pixels[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def face_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(sc, tc) at the centres of a face's pixels, each -1..1."""
    centres = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    tc, sc = np.meshgrid(centres, centres, indexing="ij")
    return sc, tc


def cube_faces(equirect: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """The six ``size`` x ``size`` faces of the sky ``equirect``, by name (:data:`FACES`)."""
    sc, tc = face_grid(size)
    pixels = equirect.astype(np.float32)
    faces = {}
    for name in FACES:
        u, v = direction_to_equirect(*FACE_DIRECTIONS[name](sc, tc))
        faces[name] = np.clip(np.round(sample_equirect(pixels, u, v)), 0, 255).astype(np.uint8)
    return faces


def direction_to_face(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(face index into :data:`FACES`, s, t) of directions: the OpenGL cube-map selection rule."""
    ax, ay, az = np.abs(x), np.abs(y), np.abs(z)
    major_x = (ax >= ay) & (ax >= az)
    major_y = ~major_x & (ay >= az)
    major_z = ~major_x & ~major_y
    face = np.select([major_x & (x > 0), major_x, major_y & (y > 0), major_y, major_z & (z > 0)], [0, 1, 2, 3, 4], 5)
    sc = np.select([face == 0, face == 1, face == 5], [-z, z, -x], x)
    tc = np.select([face == 2, face == 3], [z, -z], -y)
    major = np.select([major_x, major_y], [ax, ay], az)
    return face, (sc / major + 1) / 2, (tc / major + 1) / 2


def edge_mismatch(faces: dict[str, np.ndarray]) -> dict[str, float]:
    """How much the cube's faces disagree along their shared edges, per face: the mean difference
    between each border pixel and the pixel just across the edge on the neighbouring face, divided by
    the mean difference between the border pixel and the one just inside its own face. About 1 where
    the faces continue one another; large for a face that is flipped, rotated or from another sky."""
    size = faces[FACES[0]].shape[0]
    stack = np.stack([faces[name].astype(np.float32) for name in FACES])
    border = np.arange(size)
    step = 2.0 / size
    ratios = {}
    for index, name in enumerate(FACES):
        across, inside = [], []
        for row, col, inward in ((np.zeros_like(border), border, (1, 0)), (np.full_like(border, size - 1), border, (-1, 0)),
                                 (border, np.zeros_like(border), (0, 1)), (border, np.full_like(border, size - 1), (0, -1))):
            sc = (col + 0.5) * step - 1.0 - inward[1] * step  # one pixel outward, beyond the edge
            tc = (row + 0.5) * step - 1.0 - inward[0] * step
            face, s, t = direction_to_face(*FACE_DIRECTIONS[name](sc, tc))
            other = stack[face, np.clip((t * size).astype(int), 0, size - 1), np.clip((s * size).astype(int), 0, size - 1)]
            here = stack[index, row, col]
            across.append(np.abs(here - other).mean())
            inside.append(np.abs(here - stack[index, row + inward[0], col + inward[1]]).mean())
        ratios[name] = float((np.mean(across) + 1.0) / (np.mean(inside) + 1.0))  # +1 level: flat skies are not noise
    return ratios
