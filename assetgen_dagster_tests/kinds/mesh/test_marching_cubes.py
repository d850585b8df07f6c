import math

import numpy as np
import pytest
import torch
import trimesh
from diffusers.pipelines.shap_e.renderer import MeshDecoder

from assetgen_dagster.kinds.mesh.marching_cubes import EDGES, marching_cubes_table


@pytest.fixture(scope="module")
def decoder():
    cases, masks = marching_cubes_table()
    decoder = MeshDecoder()
    decoder.cases.copy_(torch.from_numpy(cases))
    decoder.masks.copy_(torch.from_numpy(masks))
    return decoder


def mesh_of(decoder, field):
    out = decoder(field, torch.tensor([-1.0, -1.0, -1.0]), torch.tensor([2.0, 2.0, 2.0]))
    return trimesh.Trimesh(out.verts.numpy(), out.faces.numpy())


GRID = torch.linspace(-1, 1, 24)
X, Y, Z = torch.meshgrid(GRID, GRID, GRID, indexing="ij")


def test_table_shape_and_trivial_cases():
    cases, masks = marching_cubes_table()
    assert cases.shape == (256, 5, 3) and masks.shape == (256, 5)
    assert not masks[0].any() and not masks[255].any()  # all outside / all inside: no surface
    assert masks[1].sum() == 1 and set(cases[1, 0]) == {0, 4, 8}  # corner 0 alone: one triangle
    assert masks.sum(axis=1).max() <= 5
    for case in range(256):  # a case and its complement cut the same edges
        assert set(cases[case][masks[case]].ravel()) == set(cases[255 - case][masks[255 - case]].ravel())
    assert len(EDGES) == 12


def test_sphere_is_watertight_with_the_right_volume_and_outward_normals(decoder):
    sphere = mesh_of(decoder, 0.6 - torch.sqrt(X**2 + Y**2 + Z**2))
    assert sphere.is_watertight and sphere.is_winding_consistent
    assert sphere.volume == pytest.approx(4 / 3 * math.pi * 0.6**3, rel=0.03)  # positive: outward
    assert sphere.euler_number == 2


def test_torus_is_watertight_with_genus_one(decoder):
    torus = mesh_of(decoder, 0.25 - torch.sqrt((torch.sqrt(X**2 + Y**2) - 0.55) ** 2 + Z**2))
    assert torus.is_watertight and torus.euler_number == 0
    assert torus.volume == pytest.approx(2 * math.pi**2 * 0.55 * 0.25**2, rel=0.05)


def test_ambiguous_faces_never_crack(decoder):
    rng = np.random.default_rng(0)
    field = torch.from_numpy(rng.standard_normal((12, 12, 12)).astype(np.float32))
    field[0], field[-1], field[:, 0], field[:, -1], field[:, :, 0], field[:, :, -1] = -1, -1, -1, -1, -1, -1
    noisy = mesh_of(decoder, field)  # every kind of case, ambiguous faces included, closed by the border
    assert len(noisy.faces) > 500 and noisy.is_watertight
