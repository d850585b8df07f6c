import numpy as np

from assetgen_dagster import checks
from assetgen_dagster.generate.pbr import encode_normal, normal_from_height, wrap_blur

rng = np.random.default_rng(0)
SEAMLESS = (wrap_blur(rng.random((64, 64)), 2.0) * 255).astype(np.uint8)
_, X = np.mgrid[0:64, 0:64]
SEAMED = (X * 4).astype(np.uint8)


def test_not_constant():
    assert checks.not_constant({"ok": SEAMLESS}).passed
    bad = checks.not_constant({"flat": np.zeros((8, 8)), "nan": np.array([[np.nan, 1.0]]), "ok": SEAMLESS})
    assert not bad.passed and set(bad.failures) == {"flat", "nan"}


def test_tileable_per_axis():
    good = checks.tileable({"t": (SEAMLESS, "both")})
    assert good.passed and good.metadata["max_seam_ratio"] < 1.5
    bad = checks.tileable({"t": (SEAMED, "both")})
    assert not bad.passed and "x seam ratio" in bad.failures["t"]
    assert checks.tileable({"t": (SEAMED, "y")}).passed  # seamed in x, but only y must tile


def test_power_of_two():
    assert checks.power_of_two({"a": np.zeros((64, 128, 3))}).passed
    assert checks.power_of_two({"a": np.zeros((96, 64, 3))}).failures == {"a": "64x96 is not power-of-two"}


def test_unit_normals():
    _, x = np.mgrid[0:32, 0:32]
    good = encode_normal(normal_from_height(np.sin(x / 5.0), 3.0))
    assert checks.unit_normals({"n": good}).passed
    assert not checks.unit_normals({"n": np.full((4, 4, 3), 128, dtype=np.uint8)}).passed  # length 0
    inward = encode_normal(np.dstack([np.zeros((4, 4)), np.zeros((4, 4)), -np.ones((4, 4))]))
    assert "into the surface" in checks.unit_normals({"n": inward}).failures["n"]


def sprite(alpha):
    return np.dstack([np.full(alpha.shape + (3,), 200, dtype=np.uint8), alpha.astype(np.uint8)])


def test_has_transparency():
    alpha = np.zeros((16, 16))
    alpha[4:12, 4:12] = 255
    assert checks.has_transparency({"s": sprite(alpha)}).passed
    bad = checks.has_transparency({"empty": sprite(np.zeros((8, 8))), "opaque": sprite(np.full((8, 8), 255)),
                                   "lost": None})
    assert set(bad.failures) == {"empty", "opaque", "lost"}


def test_trimmed():
    alpha = np.zeros((20, 20))
    alpha[2:18, 2:18] = 255
    assert checks.trimmed({"s": sprite(alpha)}, {"s": 2}).passed
    loose = checks.trimmed({"s": sprite(alpha)}, {"s": 1})
    assert not loose.passed and "wider than margin 1" in loose.failures["s"]


def test_exact_sizes():
    icons = {"i": {64: np.zeros((64, 64, 4)), 32: np.zeros((32, 32, 4))}}
    assert checks.exact_sizes(icons, {"i": [64, 32]}).passed
    bad = checks.exact_sizes({"i": {64: np.zeros((64, 60, 4))}}, {"i": [64, 32]})
    assert bad.failures == {"i": "64: 60x64, 32: missing"}
