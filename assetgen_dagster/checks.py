"""Quality checks a studio gates on, as pure functions over images (the assets report them as
Dagster asset checks). Each returns which items failed and the figures behind the verdict.

numpy and the generate/ helpers are imported inside the checks: this module is imported when the
code location loads, and numpy alone would add ~0.15 s to that."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


MAX_SEAM_RATIO = 1.5  # wrap-around edge difference / interior neighbour difference
NORMAL_TOLERANCE = 0.02  # |length - 1| of decoded 8-bit normals (quantisation alone is < 0.01)


@dataclass
class CheckOutcome:
    passed: bool
    failures: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        if self.passed:
            return "all items pass"
        return "; ".join(f"{item}: {why}" for item, why in self.failures.items())


def _outcome(failures: dict[str, str], **metadata: Any) -> CheckOutcome:
    return CheckOutcome(passed=not failures, failures=failures, metadata=metadata)


def merge_outcomes(by_batch: dict[str, CheckOutcome]) -> CheckOutcome:
    """One outcome for several partitions: failures as ``batch/item``, figures per batch."""
    if not by_batch:
        return CheckOutcome(passed=True, metadata={"items": 0})
    if len(by_batch) == 1:
        return next(iter(by_batch.values()))
    failures = {f"{batch}/{item}": why for batch, o in by_batch.items() for item, why in o.failures.items()}
    metadata: dict[str, Any] = {"per_partition": {batch: o.metadata for batch, o in by_batch.items()}}
    return _outcome(failures, **metadata)


def not_constant(images: dict[str, np.ndarray]) -> CheckOutcome:
    """No image is a single flat value or contains NaN/inf (what a NaN-poisoned decode produces)."""
    import numpy as np

    failures = {}
    for item, image in images.items():
        values = np.asarray(image, dtype=np.float32)
        if not np.isfinite(values).all():
            failures[item] = "contains NaN or infinite values"
        elif float(values.std()) == 0.0:
            failures[item] = f"constant image (every value {float(values.flat[0]):g})"
    return _outcome(failures, items=len(images))


def tileable(textures: dict[str, tuple[np.ndarray, str]], max_ratio: float = MAX_SEAM_RATIO) -> CheckOutcome:
    """Along each tiled axis, the wrap-around edge difference is comparable to interior differences."""
    from assetgen_dagster.generate.pbr import seam_ratio

    failures, ratios = {}, {}
    for item, (image, tile) in textures.items():
        axes = {"both": (1, 0), "x": (1,), "y": (0,)}[tile]
        item_ratios = {("x" if axis == 1 else "y"): round(seam_ratio(image, axis), 3) for axis in axes}
        ratios[item] = item_ratios
        seams = [f"{axis} seam ratio {ratio}" for axis, ratio in item_ratios.items() if ratio > max_ratio]
        if seams:
            failures[item] = ", ".join(seams) + f" > {max_ratio}"
    worst = max((r for item in ratios.values() for r in item.values()), default=0.0)
    return _outcome(failures, seam_ratios=ratios, max_seam_ratio=worst, threshold=max_ratio)


def power_of_two(images: dict[str, np.ndarray]) -> CheckOutcome:
    from assetgen_dagster.generate.pbr import is_power_of_two

    failures = {item: f"{image.shape[1]}x{image.shape[0]} is not power-of-two"
                for item, image in images.items()
                if not (is_power_of_two(image.shape[0]) and is_power_of_two(image.shape[1]))}
    return _outcome(failures, sizes={item: f"{im.shape[1]}x{im.shape[0]}" for item, im in images.items()})


def unit_normals(normal_maps: dict[str, np.ndarray], tolerance: float = NORMAL_TOLERANCE) -> CheckOutcome:
    """Decoded normal-map vectors have unit length within ``tolerance`` and point out of the surface."""
    import numpy as np

    from assetgen_dagster.generate.pbr import decode_normal

    failures, errors = {}, {}
    for item, rgb in normal_maps.items():
        vectors = decode_normal(rgb)
        error = float(np.abs(np.linalg.norm(vectors, axis=-1) - 1.0).max())
        errors[item] = round(error, 4)
        if error > tolerance:
            failures[item] = f"max |length - 1| = {error:.3f} > {tolerance}"
        elif (vectors[..., 2] <= 0).any():
            failures[item] = "some normals point into the surface (z <= 0)"
    return _outcome(failures, max_length_error=errors, tolerance=tolerance)


def has_transparency(sprites: dict[str, np.ndarray | None]) -> CheckOutcome:
    """Each sprite has visible and fully transparent pixels: not empty, not a solid rectangle."""
    from assetgen_dagster.generate.sprites import ALPHA_VISIBLE

    failures, coverage = {}, {}
    for item, rgba in sprites.items():
        if rgba is None:
            failures[item] = "empty after keying out the background (nothing was written)"
            continue
        alpha = rgba[..., 3]
        visible = float((alpha > ALPHA_VISIBLE).mean())
        coverage[item] = round(visible, 3)
        if visible == 0.0:
            failures[item] = "empty: no visible pixel"
        elif not (alpha == 0).any():
            failures[item] = "fully opaque: the background was not keyed out"
    return _outcome(failures, visible_fraction=coverage)


def trimmed(sprites: dict[str, np.ndarray], margin: dict[str, int]) -> CheckOutcome:
    """Visible content reaches within the item's margin of every edge (no wasted transparent border)."""
    from assetgen_dagster.generate.sprites import content_box

    failures = {}
    for item, rgba in sprites.items():
        box = content_box(rgba[..., 3])
        if box is None:
            failures[item] = "no visible content"
            continue
        left, top, right, bottom = box
        h, w = rgba.shape[:2]
        gaps = {"left": left, "top": top, "right": w - right, "bottom": h - bottom}
        loose = {side: gap for side, gap in gaps.items() if gap > margin[item]}
        if loose:
            failures[item] = f"transparent border wider than margin {margin[item]}: {loose}"
    return _outcome(failures)


def exact_sizes(icons: dict[str, dict[int, np.ndarray]], expected: dict[str, list[int]]) -> CheckOutcome:
    """Every requested icon size exists and is exactly size x size."""
    failures = {}
    for item, sizes in expected.items():
        got = icons.get(item, {})
        wrong = [f"{size}: {'missing' if size not in got else 'x'.join(map(str, got[size].shape[1::-1]))}"
                 for size in sizes if size not in got or got[size].shape[:2] != (size, size)]
        if wrong:
            failures[item] = ", ".join(wrong)
    return _outcome(failures, sizes={item: sorted(sizes) for item, sizes in expected.items()})


def bounds_match(meshes: dict[str, tuple["np.ndarray", float]], tolerance: float = 0.01) -> CheckOutcome:
    """Largest extent equals the item's target size (within ``tolerance``) and the mesh rests on y = 0."""
    import numpy as np

    failures, extents = {}, {}
    for item, (bounds, target) in meshes.items():
        low, high = np.asarray(bounds)
        size = float((high - low).max())
        extents[item] = round(size, 4)
        if abs(size - target) > tolerance * target:
            failures[item] = f"largest extent {size:.3f} m, target {target} m"
        elif abs(float(low[1])) > tolerance * target:
            failures[item] = f"lowest point at y = {float(low[1]):.3f}, not on the ground"
    return _outcome(failures, extents=extents)


def lod_budgets(lods: dict[str, list], budgets: dict[str, tuple[list[float], int]]) -> CheckOutcome:
    """Each LOD has fewer faces than the one before and no more than its budget."""
    failures, counts = {}, {}
    for item, levels in lods.items():
        faces = [len(level.faces) for level in levels]
        counts[item] = faces
        fractions, max_faces = budgets[item]
        top = min(faces[0], max_faces) if faces else 0
        if any(b >= a for a, b in zip(faces, faces[1:])):
            failures[item] = f"face counts do not strictly decrease: {faces}"
        elif faces and faces[0] > max_faces:
            failures[item] = f"LOD0 has {faces[0]} faces, budget {max_faces}"
        elif any(count > max(4, int(top * fraction)) for count, fraction in zip(faces[1:], fractions[1:])):
            failures[item] = f"a level exceeds its budget: {faces} for {fractions} of {top}"
    return _outcome(failures, face_counts=counts)


def same_face_counts(exported: dict[str, list], reloaded: dict[str, list]) -> CheckOutcome:
    """What was exported reloads with the same face counts."""
    failures = {}
    for item, levels in exported.items():
        before, after = [len(m.faces) for m in levels], [len(m.faces) for m in reloaded.get(item, [])]
        if before != after:
            failures[item] = f"exported {before}, reloaded {after}"
    return _outcome(failures, items=len(exported))


def convex_watertight(hulls: dict[str, object]) -> CheckOutcome:
    failures = {item: "not convex" if not hull.is_convex else "not watertight"
                for item, hull in hulls.items() if not (hull.is_convex and hull.is_watertight)}
    return _outcome(failures, hulls=len(hulls))
