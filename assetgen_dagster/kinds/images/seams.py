"""How well an image wraps around along an axis: the measures behind the texture and skybox seam checks."""

from __future__ import annotations

import numpy as np


def seam_ratio(image: np.ndarray, axis: int) -> float:
    """Wrap-around edge difference / the neighbour differences just inside the edges, along
    ``axis`` (1 = x). About 1 for a tileable image; well above 1 where opposite edges do not meet.

    Comparing with the differences next to the edge (not the whole interior) keeps a smooth periodic
    image, whose slope is steepest at the edge, from looking seamed.
    """
    rows = np.take(image, [0, 1, -2, -1], axis=axis).astype(np.float32)  # only the edges are compared
    if rows.ndim == 3:
        rows = rows.mean(axis=-1)
    a = rows if axis == 0 else rows.T  # first, second, second-last and last line
    edge, first_step, last_step = np.abs(a[[0, 1, 3]] - a[[3, 0, 2]]).mean(axis=1)
    return float(edge / max((first_step + last_step) / 2, 1e-3))


def seam_correlation_gap(image: np.ndarray, axis: int, pairs: int = 32) -> float:
    """How much less alike the two lines meeting at the wrap-around are than neighbouring lines
    inside, along ``axis`` (1 = x): the median correlation of ``pairs`` evenly spaced interior
    neighbour pairs minus the correlation of the last line with the first. About 0 for a tileable
    image; large where the opposite edges are unrelated (the difference of values alone, which
    ``seam_ratio`` measures, misses edges that differ in level but not in pattern, and the reverse)."""
    n = image.shape[axis]
    inner = np.unique(np.linspace(1, n - 3, min(pairs, n - 3)).astype(int))
    picked = np.concatenate([[n - 1, 0], np.ravel(np.column_stack([inner, inner + 1]))])
    lines = np.take(image, picked, axis=axis).astype(np.float32)
    if lines.ndim == 3:
        lines = lines.mean(axis=-1)
    lines = lines if axis == 0 else lines.T  # one line per row
    centred = lines - lines.mean(axis=1, keepdims=True)
    scale = np.sqrt((centred**2).sum(axis=1))
    flat = scale < 1e-6  # a constant line is alike any other constant line
    z = centred / np.where(flat, 1.0, scale)[:, None]
    correlations = (z[0::2] * z[1::2]).sum(axis=1)
    both_flat = flat[0::2] & flat[1::2]
    correlations = np.where(both_flat, 1.0, correlations)
    return float(np.median(correlations[1:]) - correlations[0])
