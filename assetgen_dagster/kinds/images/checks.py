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
