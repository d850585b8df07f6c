"""PBR maps from a tileable texture: height, normal, roughness and ambient occlusion.

Every filter wraps around the edges (FFT convolution is circular; gradients use np.roll), so the
maps tile exactly like the texture. Height comes from luminance; roughness and AO are estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NORMAL_CONVENTIONS = ("opengl", "directx")


@dataclass(frozen=True)
class PbrMaps:
    height: np.ndarray  # float32 HxW in [0, 1]
    normal: np.ndarray  # float32 HxWx3 unit vectors
    roughness: np.ndarray  # float32 HxW in [0, 1]
    ao: np.ndarray  # float32 HxW in [0, 1], 1 = unoccluded


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of an HxWx3 uint8 or float image, in [0, 1]."""
    rgb = rgb.astype(np.float32) / (255.0 if rgb.dtype == np.uint8 else 1.0)
    return rgb[..., 0] * 0.2126 + rgb[..., 1] * 0.7152 + rgb[..., 2] * 0.0722


def wrap_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with wrap-around edges (circular convolution via the FFT)."""
    h, w = image.shape
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    kernel = np.exp(-2 * (np.pi * sigma) ** 2 * (fx**2 + fy**2))
    return np.real(np.fft.ifft2(np.fft.fft2(image) * kernel)).astype(np.float32)


def normalize01(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-8:
        return np.full_like(values, 0.5, dtype=np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def normal_from_height(height: np.ndarray, strength: float = 2.0, convention: str = "opengl") -> np.ndarray:
    """Unit normals from a height field with wrap-around Sobel gradients.

    ``strength`` scales the slopes; OpenGL maps have green = +Y (up), DirectX flips green.
    """
    if convention not in NORMAL_CONVENTIONS:
        raise ValueError(f"convention must be one of {NORMAL_CONVENTIONS}")
    h = height.astype(np.float32)

    def shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
        return np.roll(np.roll(a, dy, axis=0), dx, axis=1)

    # Sobel: derivative along x smoothed along y, and vice versa (divided by 8 -> slope per pixel).
    gx = ((shift(h, 1, -1) + 2 * shift(h, 0, -1) + shift(h, -1, -1))
          - (shift(h, 1, 1) + 2 * shift(h, 0, 1) + shift(h, -1, 1))) / 8.0
    gy = ((shift(h, -1, 1) + 2 * shift(h, -1, 0) + shift(h, -1, -1))
          - (shift(h, 1, 1) + 2 * shift(h, 1, 0) + shift(h, 1, -1))) / 8.0
    # Image rows grow downwards; +Y (up) in tangent space is towards row 0.
    nx, ny = -gx * strength, gy * strength
    if convention == "directx":
        ny = -ny
    normal = np.stack([nx, ny, np.ones_like(h)], axis=-1)
    return (normal / np.linalg.norm(normal, axis=-1, keepdims=True)).astype(np.float32)


def encode_normal(normal: np.ndarray) -> np.ndarray:
    """Unit vectors -> the usual RGB normal-map encoding (uint8, 128 = 0)."""
    return np.clip(np.round((normal * 0.5 + 0.5) * 255.0), 0, 255).astype(np.uint8)


def decode_normal(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) / 255.0 * 2.0 - 1.0


def pbr_maps(rgb: np.ndarray, strength: float = 2.0, convention: str = "opengl") -> PbrMaps:
    """All maps for one texture (HxWx3 uint8)."""
    lum = luminance(rgb)
    height = normalize01(wrap_blur(lum, 1.0))
    normal = normal_from_height(height, strength, convention)
    detail = normalize01(np.abs(lum - wrap_blur(lum, 2.0)))
    roughness = np.clip(0.35 + 0.45 * (1.0 - height) + 0.2 * detail, 0.0, 1.0).astype(np.float32)
    cavity = np.clip(wrap_blur(height, 4.0) - height, 0.0, None)
    ao = np.clip(1.0 - 2.5 * cavity, 0.0, 1.0).astype(np.float32)
    return PbrMaps(height=height, normal=normal, roughness=roughness, ao=ao)


def to_uint8(gray: np.ndarray) -> np.ndarray:
    return np.clip(np.round(gray * 255.0), 0, 255).astype(np.uint8)


def is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0
