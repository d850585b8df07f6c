"""The mesh kind end to end on the tiny kit: both routes, LODs, hulls, reuse, the pack."""

import json

import numpy as np
import pytest
import trimesh

from assetgen_dagster.kinds.mesh.geometry import glb_meshes, solid

from ...clients import gltf_problems
from ...conftest import checks_of, materialize_batch, metadata_of, shared_workdir, step_failure, write_batch

BATCH = """\
    defaults: {seed: 4}
    items:
      - {id: rock_art, kind: concept_art, prompt: "a mossy rock"}
      - {id: crate, kind: mesh, prompt: "a wooden crate", grid_size: 16, target_size: 0.8}
      - {id: barrel, kind: mesh, prompt: "a barrel", grid_size: 24, lod_fractions: [1.0, 0.4, 0.1], max_faces: 2000}
      - {id: rock, kind: mesh, prompt: "a rock", source: concept_art, concept: rock_art, target_size: 2.0}
      - {id: plaque, kind: mesh, prompt: "a rock plaque", source: concept_art, concept: rock_art, route: relief}
    """
ALL = ["concept_art", "meshes", "mesh_lods", "collision_meshes", "asset_pack"]


def run(names, instance=None):
    return materialize_batch(names, "props", instance=instance)


meta = metadata_of


@pytest.fixture(scope="module")
def built(tiny_kit, tmp_path_factory):
    """The batch made once for the tests that read it (and one that re-runs it, which changes nothing)."""
    with shared_workdir(tmp_path_factory, "props") as root:
        write_batch(root / "prompts", "props", BATCH)
        result, instance = run(ALL)
        assert result.success
        yield root / "outputs" / "props", result, instance


def test_meshes_by_both_routes_are_game_ready(built):
    out, result, _ = built
    for item, size in (("crate", 0.8), ("barrel", 1.0), ("rock", 2.0), ("plaque", 1.0)):
        glb = (out / "meshes" / f"{item}.glb").read_bytes()
        mesh = glb_meshes(glb)["LOD0"]
        assert np.isfinite(mesh.vertices).all()
        assert mesh.extents.max() == pytest.approx(size, rel=0.01)
        assert mesh.bounds[0][1] == pytest.approx(0.0, abs=1e-6)  # on the ground
    crate = glb_meshes((out / "meshes" / "crate.glb").read_bytes())["LOD0"]
    assert solid(crate).is_watertight  # Shap-E route: a closed surface (open only along its UV seams)
    assert crate.visual.uv.shape == (len(crate.vertices), 2)
    texture = crate.visual.material.baseColorTexture
    assert texture.size == (512, 512) and len(set(texture.getdata())) > 8  # baked colours, not one flat fill
    for item, model in (("rock", "assetgen-tiny/shap-e-img2img"), ("plaque", "assetgen-tiny/depth")):
        scene = trimesh.load(out / "meshes" / f"{item}.glb", force="scene")
        assert scene.metadata["assetgen"]["source"] == "concept_art" and scene.metadata["assetgen"]["model"] == model
    rock = glb_meshes((out / "meshes" / "rock.glb").read_bytes())["LOD0"]  # image -> Shap-E: an object, textured
    assert solid(rock).is_watertight and rock.visual.material.baseColorTexture.size == (512, 512)
    assert glb_meshes((out / "meshes" / "plaque.glb").read_bytes())["LOD0"].visual.material.baseColorTexture.size \
        == (64, 64)  # the relief keeps the concept image as its texture
    stats = meta(result, "meshes")["item_stats"]
    assert set(stats) == {"crate", "barrel", "rock", "plaque"} and stats["crate"]["watertight"]
    assert meta(result, "meshes")["models"].keys() == {"mesh", "image_to_3d", "depth"}  # every role is reported
    assert all(e.passed for e in result.get_asset_check_evaluations()), checks_of(result)


def test_lods_and_hulls(built):
    out, result, _ = built
    barrel = glb_meshes((out / "mesh_lods" / "barrel.glb").read_bytes())
    faces = [len(barrel[f"LOD{i}"].faces) for i in range(3)]
    assert faces[0] <= 2000 and faces[0] > faces[1] > faces[2]
    assert meta(result, "mesh_lods")["item_stats"]["barrel"]["lod_faces"] == faces
    for level in barrel.values():  # every LOD keeps its UVs and the baked texture, in a PBR material
        material = level.visual.material
        assert level.visual.uv.shape == (len(level.vertices), 2) and 0 <= level.visual.uv.min() <= level.visual.uv.max() <= 1
        assert material.baseColorTexture.size == (512, 512)
        assert (material.metallicFactor, material.roughnessFactor) == (0.0, 0.9)
    hull = glb_meshes((out / "collision_meshes" / "crate.glb").read_bytes())["collision"]
    assert hull.is_convex and hull.is_watertight
    pack = json.loads((out / "asset_pack" / "manifest.json").read_text())
    paths = {f["path"] for item in pack["items"] for f in item["files"]}
    assert {"meshes/barrel.glb", "meshes/barrel_LOD0.glb", "meshes/barrel_LOD2.glb", "meshes/crate.glb"} <= paths
    assert not any(path.endswith("_collision.glb") for path in paths)  # collision is inside the prop scene
    assert pack["missing"] == {}


def test_the_pack_holds_one_prop_scene_with_collision_and_a_file_per_lod(built):
    """What an engine imports: one visual mesh (smooth normals, UVs, textured) plus -convcolonly
    collision nodes in meshes/<item>.glb; each LOD alone in its file, fewer faces each level."""
    from assetgen_dagster.kinds.mesh.geometry import load_glb

    out, _, _ = built
    pack = out / "asset_pack" / "meshes"
    for item in ("barrel", "crate", "rock"):
        scene = load_glb((pack / f"{item}.glb").read_bytes())
        nodes = {node: scene.graph[node][1] for node in scene.graph.nodes_geometry}
        visual = [node for node in nodes if not node.endswith("-convcolonly")]
        assert visual == ["LOD0"] and len(nodes) >= 2, nodes
        lod0 = scene.geometry[nodes["LOD0"]]
        assert lod0.visual.uv.shape == (len(lod0.vertices), 2) and lod0.visual.material.baseColorTexture is not None
        assert_smooth_normals(lod0)
        for node in set(nodes) - {"LOD0"}:
            assert scene.geometry[nodes[node]].is_convex, (item, node)
        faces = []
        for level in sorted(pack.glob(f"{item}_LOD*.glb")):
            [mesh] = load_glb(level.read_bytes()).geometry.values()
            assert_smooth_normals(mesh)
            faces.append(len(mesh.faces))
        assert len(faces) >= 2 and faces == sorted(faces, reverse=True) and len(set(faces)) == len(faces), (item, faces)
        assert faces[0] == len(lod0.faces)


def assert_smooth_normals(mesh):
    """Unit normals written in the file, shared by neighbouring faces (not one vertex per corner as
    flat shading needs), and facing the way the faces do."""
    assert "vertex_normals" in mesh._cache.cache, "the GLB carries no NORMAL attribute"
    normals = mesh.vertex_normals
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-3)
    assert len(mesh.vertices) < 2 * len(mesh.faces)  # flat shading needs 3 per face
    corner = normals[mesh.faces].mean(axis=1)
    assert ((corner * mesh.face_normals).sum(axis=1) > 0).mean() > 0.95


def test_rerun_reuses_meshes_and_is_byte_identical(built):
    out, _, instance = built
    before = {p.name: p.read_bytes() for p in (out / "meshes").glob("*.glb")}
    again, _ = run(ALL, instance)
    assert (meta(again, "meshes")["generated"], meta(again, "meshes")["reused"]) == (0, 4)
    assert {p.name: p.read_bytes() for p in (out / "meshes").glob("*.glb")} == before


def test_concept_route_without_its_image_fails_once(tiny_kit, workdir):
    write_batch(workdir / "prompts", "props", BATCH)
    result, instance = run(["meshes"])
    assert not result.success
    assert "item 'rock'" in step_failure(result) and "materialize `concept_art`" in step_failure(result)


def test_decomposed_collision_writes_one_convex_watertight_node_per_part(tiny_kit, workdir):
    write_batch(workdir / "prompts", "arches", """\
        items:
          - {id: arch, kind: mesh, prompt: "a stone arch", grid_size: 16, collision: decomposed, max_hulls: 4}
          - {id: block, kind: mesh, prompt: "a stone block", grid_size: 16}
        """)
    result, _ = materialize_batch(["meshes", "collision_meshes"], "arches")
    assert result.success and checks_of(result)[("collision_meshes", "hull_convex_watertight")].passed
    out = workdir / "outputs" / "arches" / "collision_meshes"
    scene = trimesh.load(out / "arch.glb", force="scene")
    nodes = sorted(scene.graph.nodes_geometry)
    assert 1 <= len(nodes) <= 4 and all(node.endswith("-convcolonly") for node in nodes)
    assert all(part.is_convex and part.is_watertight for part in scene.geometry.values())
    assert sorted(trimesh.load(out / "block.glb", force="scene").graph.nodes_geometry) == ["collision-convcolonly"]
    stats = metadata_of(result, "collision_meshes")["item_stats"]
    assert stats["arch"]["parts"] == len(nodes) and stats["block"]["parts"] == 1


HELD_OUT = """\
    defaults: {seed: 11}
    items:
      - {id: well_art, kind: concept_art, prompt: "a stone well with a wooden roof"}
      - {id: banner_art, kind: concept_art, prompt: "a heraldic banner, flat"}
      - {id: bucket, kind: mesh, prompt: "an open wooden bucket", grid_size: 24, collision: decomposed, max_hulls: 6,
         texture_size: 256, lod_fractions: [1.0, 0.5, 0.2]}
      - {id: well, kind: mesh, prompt: "a stone well", source: concept_art, concept: well_art, grid_size: 24,
         collision: decomposed, max_hulls: 4}
      - {id: banner, kind: mesh, prompt: "a banner", source: concept_art, concept: banner_art, route: relief,
         target_size: 1.5}
    """


def test_held_out_props_by_every_route_are_textured_on_every_lod_with_convex_parts(tiny_kit, workdir):
    write_batch(workdir / "prompts", "village", HELD_OUT)
    result, _ = materialize_batch(ALL, "village")
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations()), checks_of(result)
    out = workdir / "outputs" / "village"
    sizes = {"bucket": (256, 256), "well": (512, 512), "banner": (64, 64)}
    for item, size in sizes.items():
        levels = glb_meshes((out / "mesh_lods" / f"{item}.glb").read_bytes())
        assert len(levels) >= 2
        for name, level in levels.items():
            assert level.visual.uv.shape == (len(level.vertices), 2), (item, name)
            assert level.visual.material.baseColorTexture.size == size, (item, name)
    for item in ("bucket", "well"):
        parts = [mesh for name, mesh in glb_meshes((out / "collision_meshes" / f"{item}.glb").read_bytes()).items()]
        assert parts and all(part.is_convex and part.is_watertight for part in parts)
    assert metadata_of(result, "collision_meshes")["item_stats"]["banner"]["parts"] == 1
    glbs = sorted(out.rglob("*.glb"))  # every asset's files and the pack's
    assert len(glbs) >= 9 and gltf_problems(glbs) == {}  # the Khronos glTF Validator: 0 errors, 0 warnings
