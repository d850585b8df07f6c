"""The 2D kinds' per-item checks, on synthetic images with known answers."""

import numpy as np

from assetgen_dagster.engine.checks import batch_outcome
from assetgen_dagster.kinds.icon import Icons, exact_sizes
from assetgen_dagster.kinds.images.checks import has_transparency, not_constant
from assetgen_dagster.kinds.sprite import trimmed
from assetgen_dagster.kinds.texture import Textures, power_of_two, tileable, unit_normals
from assetgen_dagster.kinds.texture.pbr import encode_normal, normal_from_height, wrap_blur

from ..conftest import parse_batch

rng = np.random.default_rng(0)
SEAMLESS = (wrap_blur(rng.random((64, 64)), 2.0) * 255).astype(np.uint8)
_, X = np.mgrid[0:64, 0:64]
SEAMED = (X * 4).astype(np.uint8)


def item(kind: str, **fields):
    body = ", ".join(f"{k}: {v}" for k, v in {"id": "x", "kind": kind, "prompt": "p", **fields}.items())
    return parse_batch(f"items:\n  - {{{body}}}\n").items[0]


def test_not_constant():
    assert not_constant(SEAMLESS).passed
    assert "constant image" in not_constant(np.zeros((8, 8))).message
    assert "NaN" in not_constant(np.array([[np.nan, 1.0]])).message


def test_tileable_per_axis():
    good = tileable(SEAMLESS, "both")
    assert good.passed and good.figures["seam_ratio"] < 1.5
    bad = tileable(SEAMED, "both")
    assert not bad.passed and "x seam ratio" in bad.message
    assert tileable(SEAMED, "y").passed  # seamed in x, but only y must tile


def test_batch_outcome_names_failures_and_summarises():
    check = next(c for c in Textures.checks if c.name == "tileable")
    outcome = batch_outcome(check, {"good": tileable(SEAMLESS, "both"), "bad": tileable(SEAMED, "x")})
    assert not outcome.passed and set(outcome.failures) == {"bad"}
    assert outcome.metadata["items_checked"] == 2 and outcome.metadata["items_failed"] == 1
    assert outcome.metadata["max_seam_ratio"] > 1.5
    assert outcome.description.startswith("bad: x seam ratio")


def test_power_of_two():
    assert power_of_two(np.zeros((64, 128, 3))).passed
    assert power_of_two(np.zeros((96, 64, 3))).message == "64x96 is not power-of-two"


def test_unit_normals():
    _, x = np.mgrid[0:32, 0:32]
    good = encode_normal(normal_from_height(np.sin(x / 5.0), 3.0))
    assert unit_normals(good).passed
    assert not unit_normals(np.full((4, 4, 3), 128, dtype=np.uint8)).passed  # length 0
    inward = encode_normal(np.dstack([np.zeros((4, 4)), np.zeros((4, 4)), -np.ones((4, 4))]))
    assert "into the surface" in unit_normals(inward).message


def sprite(alpha):
    return np.dstack([np.full(alpha.shape + (3,), 200, dtype=np.uint8), alpha.astype(np.uint8)])


def test_has_transparency():
    alpha = np.zeros((16, 16))
    alpha[4:12, 4:12] = 255
    assert has_transparency(sprite(alpha)).passed
    assert "empty" in has_transparency(sprite(np.zeros((8, 8)))).message
    assert "fully opaque" in has_transparency(sprite(np.full((8, 8), 255))).message


def test_trimmed():
    alpha = np.zeros((20, 20))
    alpha[2:18, 2:18] = 255
    assert trimmed(item("sprite", margin=2), sprite(alpha)).passed
    loose = trimmed(item("sprite", margin=1), sprite(alpha))
    assert not loose.passed and "wider than margin 1" in loose.message


def test_exact_sizes():
    icon = item("icon", sizes="[64, 32]")
    assert exact_sizes(icon, {64: np.zeros((64, 64, 4)), 32: np.zeros((32, 32, 4))}).passed
    assert exact_sizes(icon, {64: np.zeros((64, 60, 4))}).message == "64: 60x64, 32: missing"
    assert Icons.checks[0].name == "exact_sizes"
