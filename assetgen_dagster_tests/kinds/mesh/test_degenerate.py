"""Degenerate meshes fail loudly: too few faces, a sliver, a scatter of pieces, an empty field.
A failed check blocks that item's LODs and collision, and the metadata says why."""

import numpy as np
import trimesh

from assetgen_dagster.kinds.mesh import (
    MeshItem,
    bounds_match,
    enough_geometry,
    finite_vertices,
    hulls_convex_watertight,
    lod_budgets,
    round_trip,
    single_object,
)

from ...conftest import checks_of, materialize_batch, metadata_of, write_batch


def item(**fields):
    return MeshItem.model_validate({"id": "crate", "kind": "mesh", "prompt": "a crate", **fields})


def test_an_eight_face_piece_fails_enough_geometry():
    """The held-out crate of the issue: an 8-face piece that every other check passed."""
    piece = trimesh.Trimesh(vertices=[[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]],
                            faces=[[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
    assert piece.is_watertight and len(piece.faces) == 8
    verdict = enough_geometry(item(), piece)
    assert not verdict.passed and "8 faces, fewer than min_faces 64" in verdict.message
    assert enough_geometry(item(min_faces=8), piece).passed


def test_nan_and_flat_vertices_fail_finite_vertices():
    box = trimesh.creation.box()
    assert finite_vertices(item(), box).passed
    broken = box.copy()
    broken.vertices[3] = [np.nan, 0.0, np.inf]
    assert finite_vertices(item(), broken).message == "contains NaN or infinite vertices"
    collapsed = trimesh.Trimesh(vertices=np.zeros((4, 3)), faces=[[0, 1, 2], [0, 2, 3]], process=False)
    assert "no spread" in finite_vertices(item(), collapsed).message


def test_bounds_match_the_target_size_and_the_ground():
    box = trimesh.creation.box(extents=[2.0, 1.0, 0.5]).apply_translation([0, 0.5, 0])
    assert bounds_match(item(target_size=2.0), box).passed
    too_small = bounds_match(item(target_size=2.5), box)
    assert not too_small.passed and too_small.message == "largest extent 2.000 m, target 2.5 m"
    floating = bounds_match(item(target_size=2.0), box.copy().apply_translation([0, 0.3, 0]))
    assert not floating.passed and "not on the ground" in floating.message


def test_lod_budgets_and_the_glb_round_trip_fail_what_they_should():
    sphere = trimesh.creation.icosphere(subdivisions=3)  # 1,280 faces
    chain = [sphere, sphere.simplify_quadric_decimation(face_count=400), sphere.simplify_quadric_decimation(face_count=100)]
    lods = item(max_faces=2000, lod_fractions=[1.0, 0.5, 0.1])
    assert lod_budgets(lods, (chain, chain)).passed and round_trip(lods, (chain, chain)).passed
    flat = lod_budgets(lods, (chain, [chain[0], chain[0], chain[2]]))
    assert not flat.passed and "do not strictly decrease" in flat.message
    assert "LOD0 has 1280 faces, budget 1000" in lod_budgets(item(max_faces=1000, lod_fractions=[1.0, 0.5, 0.1]),
                                                             (chain, chain)).message
    assert "exceeds its budget" in lod_budgets(item(max_faces=2000, lod_fractions=[1.0, 0.2, 0.05]), (chain, chain)).message
    lost = round_trip(lods, (chain, chain[:2]))
    assert not lost.passed and lost.message == "exported [1280, 400, 100], reloaded [1280, 400]"


def test_an_open_or_concave_collision_part_fails():
    hull = trimesh.creation.box()
    assert hulls_convex_watertight(item(), [hull, trimesh.creation.icosphere()]).passed
    open_box = trimesh.Trimesh(hull.vertices, hull.faces[:-2])
    concave = trimesh.creation.annulus(r_min=0.5, r_max=1.0, height=0.3)
    verdict = hulls_convex_watertight(item(), [hull, open_box, concave])
    assert not verdict.passed and verdict.message == "part 1: not convex; part 2: not convex"  # open: not convex either


def test_a_sliver_fails_on_volume_and_a_solid_passes():
    sliver = trimesh.creation.cylinder(radius=0.01, segment=[[0, 0, 0], [1, 1, 1]], sections=32)
    verdict = enough_geometry(item(), sliver)
    assert not verdict.passed and "of its bounding box" in verdict.message and verdict.figures["volume_share"] < 0.02
    solid = trimesh.creation.icosphere(subdivisions=2)
    assert enough_geometry(item(), solid).figures["volume_share"] > 0.5


def test_a_scatter_of_pieces_fails_single_object():
    scatter = trimesh.util.concatenate([trimesh.creation.box(extents=[0.2, 0.2, 0.2]).apply_translation([x, 0, 0])
                                        for x in np.arange(5)])
    verdict = single_object(item(), scatter)
    assert not verdict.passed and verdict.figures == {"pieces": 5, "main_share": 0.2}
    with_a_floater = trimesh.util.concatenate([trimesh.creation.box(), trimesh.creation.box(extents=[0.1] * 3)
                                               .apply_translation([3, 0, 0])])
    assert single_object(item(), with_a_floater).passed


def test_a_failed_check_blocks_lods_and_collision_for_that_item_only(tiny_kit, workdir):
    write_batch(workdir / "prompts", "props", """\
        defaults: {seed: 3}
        items:
          - {id: crate, kind: mesh, prompt: "a wooden crate", grid_size: 8, min_faces: 5000}
          - {id: barrel, kind: mesh, prompt: "a barrel", grid_size: 16}
        """)
    result, _ = materialize_batch(["meshes", "mesh_lods", "collision_meshes"], "props")
    assert result.success
    evaluation = checks_of(result)[("meshes", "enough_geometry")]
    assert not evaluation.passed and "crate:" in evaluation.description and "fewer than min_faces 5000" in \
        evaluation.description
    for asset in ("mesh_lods", "collision_meshes"):
        metadata = metadata_of(result, asset)
        assert set(metadata["blocked"]) == {"crate"} and "enough_geometry failed" in metadata["blocked"]["crate"]
        assert (metadata["generated"], metadata["items"]) == (1, 2)
    out = workdir / "outputs" / "props"
    assert not (out / "mesh_lods" / "crate.glb").exists() and (out / "mesh_lods" / "barrel.glb").exists()


def test_an_empty_field_is_refused_not_crashed_on(tmp_path):
    """A field with no surface decodes to nothing (diffusers then fails colouring no vertices); the
    asset refuses the item against enough_geometry and writes nothing, so it is not retried."""
    import pytest

    from assetgen_dagster.engine import ItemOutput, ItemRejected
    from assetgen_dagster.kinds.mesh import Meshes

    with pytest.raises(ItemRejected) as refused:
        Meshes().write(ItemOutput(tmp_path, "crate", {}), item(grid_size=16), None, trimesh.Trimesh())
    assert refused.value.check == "enough_geometry" and "no surface on the 16^3 grid" in refused.value.reason
    assert not list(tmp_path.iterdir())
