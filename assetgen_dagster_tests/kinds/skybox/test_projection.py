"""The equirect and cubemap math on skies whose colour is known in every direction, and each skybox
check failing on the broken input it exists for."""

import numpy as np
import pytest

from assetgen_dagster.kinds.skybox import Sky, SkyboxItem, cube_edges_match, poles_smooth, shapes, wraps_horizontally
from assetgen_dagster.kinds.skybox.projection import (
    FACE_DIRECTIONS,
    FACES,
    cube_faces,
    direction_to_equirect,
    direction_to_face,
    edge_mismatch,
    face_grid,
    resize_equirect,
    smooth_poles,
)


def direction_sky(height=256):
    """An equirect whose colour is its direction: (x, y, z) from -1..1 to 0..255."""
    v, u = np.meshgrid((np.arange(height) + 0.5) / height, (np.arange(2 * height) + 0.5) / (2 * height), indexing="ij")
    longitude, latitude = (u - 0.5) * 2 * np.pi, (0.5 - v) * np.pi
    xyz = np.stack([np.cos(latitude) * np.sin(longitude), np.sin(latitude), -np.cos(latitude) * np.cos(longitude)], -1)
    return np.round((xyz + 1) * 127.5).astype(np.uint8)


def smooth_sky(height=128, seed=0):
    """A smooth, periodic-in-x random sky (a few low-frequency waves)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:2 * height] / height
    channels = [sum(rng.uniform(20, 40) * np.sin(np.pi * (k * x + rng.uniform(0, 2)) + rng.uniform(1, 3) * y)
                    for k in (1, 2, 3)) + 128 for _ in range(3)]
    return np.clip(np.stack(channels, -1), 0, 255).astype(np.uint8)


def test_the_image_centre_looks_forward_along_minus_z_and_a_quarter_right_along_plus_x():
    forward, right, up, behind = (np.array(d, dtype=float) for d in ([0, 0, -1], [1, 0, 0], [0, 1, 0], [0, 0, 1]))
    assert np.allclose(direction_to_equirect(*forward), (0.5, 0.5))
    assert np.allclose(direction_to_equirect(*right), (0.75, 0.5))
    assert np.isclose(direction_to_equirect(*up)[1], 0.0)  # the top row
    assert np.allclose(direction_to_equirect(*behind), (0.0, 0.5))  # the wrap column


@pytest.mark.parametrize("face", FACES)
def test_every_face_pixel_maps_back_to_its_own_face_and_position(face):
    sc, tc = face_grid(8)
    index, s, t = direction_to_face(*FACE_DIRECTIONS[face](sc, tc))
    assert (index == FACES.index(face)).all()
    assert np.allclose(s, (sc + 1) / 2) and np.allclose(t, (tc + 1) / 2)


def test_each_face_shows_the_sky_in_its_direction():
    faces = cube_faces(direction_sky(), 32)
    centre = {name: faces[name][16, 16].astype(int) for name in FACES}
    expected = {"px": (255, 128, 128), "nx": (0, 128, 128), "py": (128, 255, 128), "ny": (128, 0, 128),
                "pz": (128, 128, 255), "nz": (128, 128, 0)}
    for name, colour in expected.items():
        assert np.abs(centre[name] - colour).max() <= 12, (name, centre[name])


def test_faces_cut_from_one_sky_meet_at_every_edge_and_a_flipped_or_turned_face_does_not():
    faces = cube_faces(smooth_sky(), 64)
    assert max(edge_mismatch(faces).values()) < 1.3
    assert cube_edges_match(Sky(None, faces)).passed
    for broken in ({**faces, "pz": faces["pz"][:, ::-1]}, {**faces, "py": np.rot90(faces["py"])},
                   {**faces, "nx": faces["px"]}):
        verdict = cube_edges_match(Sky(None, broken))
        assert not verdict.passed and verdict.figures["edge_ratio"] > 2.0, verdict


def test_a_resized_sky_still_wraps_at_its_generated_scale_and_a_sky_with_a_seam_fails():
    sky = resize_equirect(smooth_sky(32), 256)  # generated 64 px wide
    assert sky.shape == (128, 256, 3)
    assert wraps_horizontally(Sky(sky, {}, 64)).passed
    seamed = sky[:, :192]  # three quarters of the sky: its ends do not meet
    verdict = wraps_horizontally(Sky(seamed, {}, 48))
    assert not verdict.passed and "seam at 0/360" in verdict.message


def test_smoothed_poles_are_one_colour_and_a_pinched_pole_fails():
    sky = smooth_sky(128)
    pinched = poles_smooth(Sky(sky, {}))
    assert not pinched.passed and "pinched pole" in pinched.message
    smoothed = smooth_poles(sky)
    assert poles_smooth(Sky(smoothed, {})).passed
    assert (smoothed[0] == smoothed[0, 0]).all() and (smoothed[-1] == smoothed[-1, 0]).all()
    middle = slice(32, 96)  # rows beyond the bands are untouched
    assert np.array_equal(smoothed[middle], sky[middle])
    assert wraps_horizontally(Sky(smoothed, {})).passed  # blending per row keeps the wrap


def test_the_shape_check_wants_two_to_one_and_square_faces_of_the_asked_size():
    item = SkyboxItem(id="sky", kind="skybox", prompt="sky", size=1024, cubemap_size=128)
    face = np.zeros((128, 128, 3), np.uint8)
    good = Sky(np.zeros((512, 1024, 3), np.uint8), dict.fromkeys(FACES, face))
    assert shapes(item, good).passed
    assert not shapes(item, Sky(np.zeros((512, 1000, 3), np.uint8), good.faces)).passed
    assert not shapes(item, Sky(good.equirect, {**good.faces, "px": face[:, :100]})).passed


@pytest.mark.parametrize("fields, problem", [({"size": 1536}, "power of two"), ({"size": 512}, "greater than"),
                                             ({"cubemap_size": 100}, "power of two"),
                                             ({"size": 1024, "cubemap_size": 1024}, "more than half")])
def test_bad_sizes_are_refused(fields, problem):
    with pytest.raises(ValueError, match=problem):
        SkyboxItem(id="sky", kind="skybox", prompt="sky", **fields)
