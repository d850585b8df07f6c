import json

import numpy as np
import pytest
import trimesh

from assetgen_dagster.kinds.mesh.geometry import (
    clean,
    collision_hull,
    convex_parts,
    export_glb,
    glb_meshes,
    load_glb,
    lod_chain,
    mesh_stats,
    render_preview,
    to_game_space,
)


def messy_mesh():
    """A sphere with duplicated vertices, a degenerate and a duplicate face, flipped winding on
    some faces, and two small floating specks."""
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    faces = sphere.faces.copy()
    faces[:40] = faces[:40, ::-1]  # inconsistent winding
    vertices = np.vstack([sphere.vertices, sphere.vertices[:10]])  # duplicates
    extra = np.array([[0, 1, 1], faces[50]])  # degenerate + duplicate
    speck_a = trimesh.creation.icosphere(subdivisions=1, radius=0.03).apply_translation([3, 0, 0])
    speck_b = trimesh.creation.box(extents=[0.02] * 3).apply_translation([0, 3, 0])
    body = trimesh.Trimesh(vertices, np.vstack([faces, extra]), process=False)
    return trimesh.util.concatenate([body, speck_a, speck_b])


def test_cleanup_removes_floaters_duplicates_and_fixes_normals():
    mesh, report = clean(messy_mesh())
    assert report.dropped_components == 2
    assert report.merged_vertices >= 10 and report.dropped_faces >= 2
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume > 0  # normals point out
    assert len(mesh.faces) == len(trimesh.creation.icosphere(subdivisions=3).faces)


def test_game_space_is_y_up_grounded_centred_and_scaled():
    tall = trimesh.creation.box(extents=[1.0, 2.0, 4.0])  # tallest along z (generator's up)
    placed = to_game_space(tall, target_size=1.5, up_axis="z")
    low, high = placed.bounds
    assert placed.extents.max() == pytest.approx(1.5)
    assert placed.extents[1] == pytest.approx(1.5)  # z became y: up
    assert low[1] == pytest.approx(0.0)  # on the ground
    assert (low[0] + high[0]) == pytest.approx(0.0) and (low[2] + high[2]) == pytest.approx(0.0)


def test_lods_strictly_decrease_within_budgets():
    sphere = trimesh.creation.icosphere(subdivisions=4)  # 5120 faces
    lods = lod_chain(sphere, (1.0, 0.5, 0.25, 0.1), max_faces=4000)
    counts = [len(level.faces) for level in lods]
    assert len(counts) == 4 and all(a > b for a, b in zip(counts, counts[1:]))
    for count, fraction in zip(counts, (1.0, 0.5, 0.25, 0.1)):
        assert count <= int(4000 * fraction)
    # the silhouette survives: the 10 % level still spans the same bounds
    assert np.allclose(lods[-1].bounds, sphere.bounds, atol=0.1)


def test_hull_is_convex_and_watertight():
    hull = collision_hull(trimesh.creation.annulus(r_min=0.5, r_max=1.0, height=0.3))
    assert hull.is_convex and hull.is_watertight


def test_a_concave_prop_decomposes_into_convex_watertight_parts_named_for_godot():
    """An open ring collides as a ring, not a solid disc: V-HACD parts, each convex and watertight,
    together close to the ring's volume (its single hull is 56 % larger), one -convcolonly node each."""
    ring = trimesh.creation.annulus(r_min=0.6, r_max=1.0, height=0.5, sections=48)
    parts = convex_parts(ring, max_hulls=8)
    assert 2 <= len(parts) <= 8 and all(part.is_convex and part.is_watertight for part in parts)
    assert sum(part.volume for part in parts) / ring.volume < 1.2 < collision_hull(ring).volume / ring.volume
    assert [len(p.faces) for p in convex_parts(ring, max_hulls=8)] == [len(p.faces) for p in parts]  # deterministic
    scene = load_glb(export_glb([], parts, {}))
    assert set(scene.graph.nodes_geometry) == {f"collision_{i:02d}-convcolonly" for i in range(len(parts))}


def test_glb_round_trip_keeps_counts_and_provenance():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    lods = lod_chain(sphere)
    data = export_glb(lods, [collision_hull(sphere)], {"model": "assetgen-tiny/shap-e", "seed": 7})
    scene = load_glb(data)
    geometry = scene.geometry
    assert [len(geometry[f"LOD{i}"].faces) for i in range(len(lods))] == [len(level.faces) for level in lods]
    assert "collision" in geometry and geometry["collision"].is_convex
    assert scene.metadata["assetgen"] == {"model": "assetgen-tiny/shap-e", "seed": 7}  # glTF scene extras
    assert set(scene.graph.nodes_geometry) == {"LOD0", "LOD1", "LOD2", "LOD3", "collision-convcolonly"}


def test_stats_and_preview():
    box = trimesh.creation.box(extents=[1, 2, 3])
    stats = mesh_stats(box)
    assert stats["faces"] == 12 and stats["watertight"] and stats["volume"] == pytest.approx(6.0)
    assert json.dumps(stats)
    preview = np.asarray(render_preview(to_game_space(box, 1.0)))
    assert preview.shape == (96, 96, 3) and preview.std() > 10  # something was drawn


def test_text_to_meshes_through_the_tiny_shap_e(tiny_kit):
    from diffusers import ShapEPipeline

    from assetgen_dagster.kinds.mesh.geometry import MeshRequest, text_to_meshes

    pipe = ShapEPipeline.from_pretrained("assetgen-tiny/shap-e", local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    requests = [MeshRequest(f"prop {n}", seed=n, steps=2, guidance=3.0, grid_size=16) for n in range(3)]
    batched = text_to_meshes(pipe, requests, batch_size=2)
    single = text_to_meshes(pipe, requests[2:], batch_size=1)
    assert len(batched) == 3 and all(m.is_watertight and len(m.faces) > 100 for m in batched)
    assert batched[0].visual.vertex_colors.shape[0] == len(batched[0].vertices)
    assert np.allclose(batched[2].vertices, single[0].vertices, atol=1e-4)  # per-item generators


def test_relief_mesh_from_an_image_and_its_depth():
    from PIL import Image

    from assetgen_dagster.kinds.mesh.geometry import relief_mesh

    image = Image.new("RGB", (64, 32), (200, 100, 50))
    y, x = np.mgrid[0:32, 0:64]
    depth = np.exp(-((x - 32) ** 2 + (y - 16) ** 2) / 100.0)  # a bump in the middle
    mesh = relief_mesh(image, depth, resolution=16, relief=0.3, base=0.05)
    assert len(mesh.vertices) == 2 * 256 and len(mesh.faces) == 2 * (2 * 15 * 15) + 2 * 4 * 15
    assert mesh.extents[0] == pytest.approx(1.0) and mesh.extents[1] == pytest.approx(0.5)  # image aspect
    assert mesh.vertices[:, 2].max() == pytest.approx(0.3) and mesh.vertices[:, 2].min() == pytest.approx(-0.05)
    assert mesh.is_watertight and mesh.volume > 0  # a closed slab, outward normals
    assert mesh.visual.uv.shape == (512, 2)
    flat = relief_mesh(image, np.zeros((8, 8)), resolution=8)  # a flat depth map still makes a solid
    assert flat.is_watertight and collision_hull(flat).is_convex


def test_lods_of_a_textured_relief_keep_uvs_and_texture():
    from PIL import Image

    from assetgen_dagster.kinds.mesh.geometry import relief_mesh

    image = Image.new("RGB", (32, 32), (10, 200, 30))
    y, x = np.mgrid[0:32, 0:32]
    mesh = relief_mesh(image, np.sin(x / 5.0) + np.cos(y / 7.0), resolution=32)
    lods = lod_chain(mesh, (1.0, 0.5, 0.2))
    assert len(lods) == 3
    for level in lods[1:]:
        assert level.visual.uv.shape == (len(level.vertices), 2)
        assert level.visual.material.baseColorTexture.size == (32, 32)
    reloaded = glb_meshes(export_glb(lods, [], {}))
    assert getattr(reloaded["LOD2"].visual, "uv", None) is not None
