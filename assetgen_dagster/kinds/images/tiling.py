"""Seamless (tileable) generation: wrap-around padding in every Conv2d of the UNet and VAE.

Per axis, like a torus (``both``) or a cylinder (``x`` or ``y``). The patch is undone when the
``with`` block ends, so a cached pipeline is never left modified.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

TILE_MODES = ("both", "x", "y")


def _padded_forward(conv: Any, wrap_x: bool, wrap_y: bool):
    """A Conv2d forward that pads x and y itself: circular on wrapped axes, zeros elsewhere."""
    import torch.nn.functional as F

    pad_y, pad_x = conv.padding

    def forward(input, weight, bias):
        padded = F.pad(input, (pad_x, pad_x, 0, 0), mode="circular" if wrap_x else "constant")
        padded = F.pad(padded, (0, 0, pad_y, pad_y), mode="circular" if wrap_y else "constant")
        return F.conv2d(padded, weight, bias, conv.stride, 0, conv.dilation, conv.groups)

    return forward


@contextmanager
def seamless_tiling(pipe: Any, tile: str | None) -> Iterator[None]:
    """Make ``pipe``'s UNet and VAE convolutions wrap around on the ``tile`` axes for the block."""
    if tile is None:
        yield
        return
    if tile not in TILE_MODES:
        raise ValueError(f"tile must be one of {TILE_MODES}, not {tile!r}")
    import torch

    wrap_x, wrap_y = tile in ("both", "x"), tile in ("both", "y")
    patched = []
    for name in ("unet", "vae"):
        model = getattr(pipe, name, None)
        if model is None:
            continue
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d) and module.padding != (0, 0) and module.padding_mode == "zeros":
                patched.append(module)
                module._conv_forward = _padded_forward(module, wrap_x, wrap_y)
    try:
        yield
    finally:
        for module in patched:
            del module._conv_forward  # the instance attribute shadowed the class method
