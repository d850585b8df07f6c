import numpy as np
import pytest

from assetgen_dagster.kinds.images.seams import seam_ratio
from assetgen_dagster.kinds.texture.pbr import decode_normal, encode_normal, normal_from_height, pbr_maps, wrap_blur


def test_normals_of_a_slope_have_the_expected_direction():
    _, x = np.mgrid[0:32, 0:32]
    height = np.sin(2 * np.pi * x / 32)  # periodic ridge along x
    normal = normal_from_height(height, strength=1.0)
    # Where height rises with x the surface faces -x; where it falls, +x; y stays 0; all unit length.
    rising, falling = normal[:, 0], normal[:, 16]
    assert (rising[:, 0] < 0).all() and (falling[:, 0] > 0).all()
    assert np.allclose(normal[..., 1], 0, atol=1e-6)
    assert np.allclose(np.linalg.norm(normal, axis=-1), 1, atol=1e-6)
    slope = np.pi * 2 / 32 * np.cos(0)  # analytic d(height)/dx at x = 0
    assert abs(rising[0, 0] - (-slope / np.sqrt(1 + slope**2))) < 0.01  # Sobel ~ the true gradient


def test_opengl_and_directx_differ_in_green_only():
    y, _ = np.mgrid[0:32, 0:32]
    height = np.sin(2 * np.pi * y / 32)
    gl = normal_from_height(height, 2.0, "opengl")
    dx = normal_from_height(height, 2.0, "directx")
    assert np.allclose(gl[..., 1], -dx[..., 1]) and np.allclose(gl[..., [0, 2]], dx[..., [0, 2]])
    # Height rises towards the bottom rows (y grows downwards), so an OpenGL normal tilts up (+green).
    assert gl[0, 0, 1] > 0
    with pytest.raises(ValueError):
        normal_from_height(height, 1.0, "vulkan")


def test_strength_scales_the_tilt():
    _, x = np.mgrid[0:32, 0:32]
    height = np.sin(2 * np.pi * x / 32)
    assert abs(normal_from_height(height, 4.0)[0, 0, 0]) > abs(normal_from_height(height, 1.0)[0, 0, 0])


def test_encoding_round_trip_and_flat_surface():
    flat = normal_from_height(np.zeros((8, 8)))
    assert (encode_normal(flat) == [128, 128, 255]).all()
    assert np.allclose(decode_normal(encode_normal(flat)), flat, atol=0.01)


def test_maps_tile_when_the_texture_tiles():
    rng = np.random.default_rng(0)
    texture = (wrap_blur(rng.random((64, 64)), 2.0)[..., None].repeat(3, axis=2) * 255).astype(np.uint8)
    maps = pbr_maps(texture)
    for values in (maps.height, maps.roughness, maps.ao, maps.normal[..., 0]):
        assert seam_ratio(values, 0) < 1.5 and seam_ratio(values, 1) < 1.5
    assert 0 <= maps.roughness.min() and maps.roughness.max() <= 1
    assert 0 <= maps.ao.min() and maps.ao.max() <= 1 and maps.ao.min() < 1
