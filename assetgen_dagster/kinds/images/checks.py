"""Checks the 2D kinds share, as verdicts over one item's pixels. numpy is imported when they run."""

from __future__ import annotations

from typing import Any

from assetgen_dagster.engine import Verdict, fail, ok


def not_constant(values: Any) -> Verdict:
    """Not a single flat value, no NaN/inf (what a NaN-poisoned decode produces)."""
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind in "fc" and not np.isfinite(array).all():  # 8-bit pixels cannot be NaN
        return fail("contains NaN or infinite values")
    if array.min() == array.max():
        return fail(f"constant image (every value {float(array.flat[0]):g})")
    return ok()


BLANK_LEVELS = 4  # within this many 8-bit levels of black or white counts as blank
BLANK_SHARE = 0.99  # ... on at least this share of the pixels


def not_blank(rgb: Any) -> Verdict:
    """Not (almost) all black or all white: what a safety checker or a failed decode returns."""
    import numpy as np

    pixels = np.asarray(rgb, dtype=np.int16)
    for colour, near in (("black", pixels.max(axis=-1) <= BLANK_LEVELS),
                         ("white", pixels.min(axis=-1) >= 255 - BLANK_LEVELS)):
        share = round(float(near.mean()), 4)
        if share >= BLANK_SHARE:
            return fail(f"blank: {share:.0%} of the pixels are {colour}", blank_share=share)
    return ok()


def size_as_asked(rgb: Any, asked: tuple[int, int]) -> Verdict:
    """The image is ``asked`` = (width, height) pixels."""
    height, width = rgb.shape[:2]
    if (width, height) != tuple(asked):
        return fail(f"{width}x{height}, asked for {asked[0]}x{asked[1]}")
    return ok(size=f"{width}x{height}")


def has_transparency(rgba: Any) -> Verdict:
    """Visible and fully transparent pixels: not empty, not a solid rectangle."""
    from assetgen_dagster.kinds.images.keying import ALPHA_VISIBLE

    alpha = rgba[..., 3]
    visible = round(float((alpha > ALPHA_VISIBLE).mean()), 3)
    if visible == 0.0:
        return fail("empty: no visible pixel", visible_fraction=visible)
    if not (alpha == 0).any():
        return fail("fully opaque: the background was not keyed out", visible_fraction=visible)
    return ok(visible_fraction=visible)
