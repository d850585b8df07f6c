"""The demo packs in a real engine: Godot 3 (Debian's godot3-server) imports them headless and a
GDScript loads every file as a game would; the test asserts on what Godot made of them."""

import json
import shutil

import pytest
from PIL import Image

from .clients import godot_facts, godot_project
from .conftest import DEMO_BATCHES


@pytest.fixture(scope="module")
def godot(demo_packs, tmp_path_factory):
    project = godot_project(tmp_path_factory.mktemp("godot"),
                            {batch: demo_packs / batch / "asset_pack" for batch in DEMO_BATCHES})
    return project, godot_facts(project)


def test_every_prop_is_one_textured_smooth_mesh_with_convex_collision_under_a_static_body(godot):
    _, report = godot
    props = {f"{batch}/{path}": facts for batch, pack in report.items() for path, facts in pack["props"].items()}
    assert len(props) >= 4, props.keys()
    for path, facts in props.items():
        assert facts["loaded"], path
        [mesh] = facts["meshes"]  # one visual mesh: no level drawn on top of another
        assert mesh["normals"] and mesh["uvs"] and mesh["albedo_texture"], (path, mesh)
        assert mesh["vertices"] < 2 * mesh["triangles"], (path, mesh)  # shared, smooth normals: not faceted
        # Godot makes one StaticBody per -convcolonly node: each convex part is its own static body.
        assert facts["convex_shapes_under_static_body"] == facts["shapes"] == facts["static_bodies"] >= 1, facts


def test_each_lod_file_holds_one_mesh_with_fewer_triangles_than_the_last(godot):
    _, report = godot
    for batch, pack in report.items():
        chains = {}
        for path, facts in sorted(pack["lods"].items()):
            [mesh] = facts["meshes"]
            assert facts["shapes"] == 0, path
            chains.setdefault(path.rsplit("_LOD", 1)[0], []).append(mesh["triangles"])
        for prop, triangles in chains.items():
            assert len(triangles) >= 2 and all(a > b for a, b in zip(triangles, triangles[1:])), (batch, prop, triangles)


def test_music_loops_import_as_loops_and_sound_effects_do_not(godot, demo_packs):
    _, report = godot
    wavs = report["audio_demo"]["wav"]
    manifest = json.loads((demo_packs / "audio_demo" / "asset_pack" / "manifest.json").read_text())
    loops = {item["id"] for item in manifest["items"] if item["kind"] == "music"}
    assert wavs and all(facts["loaded"] for facts in wavs.values())
    for path, facts in wavs.items():
        item = path.rsplit("/", 1)[1].rsplit(".", 1)[0]
        looping = item in loops and path.startswith("audio/music/")
        assert facts["loops"] == looping, (path, facts)


def test_oggs_loop_in_godot_exactly_when_the_clip_is_a_loop(godot, demo_packs):
    """Godot 3 loops every OGG by default; the import preset shipped beside each one decides."""
    _, report = godot
    oggs = report["audio_demo"]["ogg"]
    manifest = json.loads((demo_packs / "audio_demo" / "asset_pack" / "manifest.json").read_text())
    loops = {f"audio/music/{item['id']}.ogg" for item in manifest["items"] if item["kind"] == "music"
             and any(f["path"].endswith(".ogg.import") for f in item["files"])}
    assert oggs and all(facts is not None and facts["seconds"] > 0 for facts in oggs.values()), oggs
    looping = {path for path, facts in oggs.items() if facts["loops"]}
    wav_loops = {path.replace(".wav", ".ogg") for path, facts in report["audio_demo"]["wav"].items() if facts["loops"]}
    assert looping == wav_loops and looping and looping <= loops, (looping, wav_loops)


def test_a_voiced_dialogues_lines_load_in_godot_by_line_id_and_do_not_loop(godot, demo_packs):
    """The narrative demo's voiced conversation: one OGG per Yarn line id, which Godot 3 imports as a
    one-shot (its .import preset says so) of some length."""
    _, report = godot
    pack = demo_packs / "narrative_demo" / "asset_pack"
    record = json.loads((pack / "text" / "dialogue" / "smith_greeting.json").read_text())
    expected = {f"audio/dialogue/{line['id']}.ogg" for line in record["lines"]}
    oggs = report["narrative_demo"]["ogg"]
    assert set(oggs) == expected and len(expected) == 4, (sorted(oggs), sorted(expected))
    assert all(facts is not None and facts["seconds"] > 0 and not facts["loops"] for facts in oggs.values()), oggs


def test_every_translation_key_resolves_in_every_locale(godot):
    _, report = godot
    tables = report["narrative_demo"]["translations"]
    assert tables, report["narrative_demo"]
    for path, facts in tables.items():
        assert facts["keys"] > 0 and len(facts["locales"]) >= 3, facts
        assert all(unresolved == 0 for unresolved in facts["locales"].values()), (path, facts)


def test_every_texture_loads_at_its_written_size(godot, demo_packs):
    _, report = godot
    count = 0
    for batch, pack in report.items():
        for path, facts in pack["textures"].items():
            with Image.open(demo_packs / batch / "asset_pack" / path) as image:
                assert facts["size"] == list(image.size), (batch, path)
            count += 1
    assert count >= 10


def test_material_maps_import_with_repeat_so_they_tile(godot):
    _, report = godot
    materials = {path: facts for path, facts in report["forest_level"]["textures"].items()
                 if path.startswith("materials/")}
    assert len(materials) == 3 * 6  # three textures: albedo, height, normal, roughness, ao, orm
    assert all(facts["repeat"] for facts in materials.values()), materials
    others = [facts for path, facts in report["ui_kit"]["textures"].items()]
    assert others and not any(facts["repeat"] for facts in others)  # sprites and icons keep Godot's default


def test_every_sprite_animation_loads_as_sprite_frames_and_plays_through_its_frames(godot, demo_packs):
    """The .tres beside each sheet is a Godot SpriteFrames: its one animation has the sheet's frames,
    the item's fps and loop, and an AnimatedSprite playing it shows every frame."""
    _, report = godot
    resources = report["sky_and_motion"]["sprite_frames"]
    pack = demo_packs / "sky_and_motion" / "asset_pack"
    manifest = json.loads((pack / "manifest.json").read_text())
    items = {item["id"]: item for item in manifest["items"] if item["kind"] == "sprite_animation"}
    assert len(resources) == len(items) == 2, resources
    for path, facts in resources.items():
        layout = json.loads((pack / path.replace(".tres", ".json")).read_text())
        [tag] = layout["meta"]["frameTags"]
        first = layout["frames"][0]
        assert facts["loaded"] and facts["animations"] == [tag["name"]], (path, facts)
        assert facts["frames"] == facts["frames_shown"] == len(layout["frames"]), (path, facts)
        assert facts["speed"] == round(1000 / first["duration"]) and facts["loop"] == ("repeat" not in tag)
        assert facts["frame_size"] == [first["frame"]["w"], first["frame"]["h"]]
        assert facts["sheet_size"] == [layout["meta"]["size"]["w"], layout["meta"]["size"]["h"]]
        assert facts["playing"] or not facts["loop"], facts  # a loop is still going after every frame


def test_every_skybox_is_an_environment_whose_background_is_its_panorama(godot, demo_packs):
    _, report = godot
    environments = report["sky_and_motion"]["environments"]
    pack = demo_packs / "sky_and_motion" / "asset_pack"
    assert list(environments) == ["skyboxes/dusk_sky.tres"], environments
    with Image.open(pack / "skyboxes" / "dusk_sky.png") as image:
        size = list(image.size)
    assert environments["skyboxes/dusk_sky.tres"] == {"loaded": True, "background_is_sky": True,
                                                      "panorama_sky": True, "panorama_size": size}


def test_godot_sees_two_visible_lods_and_a_mesh_without_normals(godot, tmp_path):
    """The checks above can fail: a prop GLB as packs were before (every LOD a sibling node) and one
    exported without normals (Godot shades it flat: a vertex per corner)."""
    import trimesh

    from assetgen_dagster.kinds.mesh.geometry import load_glb

    project, _ = godot
    pack = next(p for p in (project / "packs").iterdir() if list((p / "meshes").glob("*_LOD1.glb")))
    prop = next(p for p in sorted((pack / "meshes").glob("*.glb")) if "_LOD" not in p.name)
    broken = tmp_path / "broken"
    shutil.copytree(pack, broken / "packs" / "broken", ignore=shutil.ignore_patterns("*.import"))
    meshes = broken / "packs" / "broken" / "meshes"
    stem = prop.stem
    levels = trimesh.Scene()
    for index, level in enumerate(sorted(meshes.glob(f"{stem}_LOD*.glb"))[:2]):
        [mesh] = load_glb(level.read_bytes()).geometry.values()
        levels.add_geometry(mesh, node_name=f"LOD{index}")
    (meshes / f"{stem}.glb").write_bytes(levels.export(file_type="glb"))
    [lod1] = load_glb((meshes / f"{stem}_LOD1.glb").read_bytes()).geometry.values()
    bare = trimesh.Trimesh(lod1.vertices, lod1.faces, visual=lod1.visual, process=False)  # no normals cached
    (meshes / f"{stem}_LOD1.glb").write_bytes(trimesh.Scene(bare).export(file_type="glb", include_normals=False))
    facts = godot_facts(godot_project(broken, {}))["broken"]
    assert len(facts["props"][f"meshes/{stem}.glb"]["meshes"]) == 2  # two levels drawn at once
    [flat] = facts["lods"][f"meshes/{stem}_LOD1.glb"]["meshes"]
    assert flat["vertices"] >= 3 * flat["triangles"] or not flat["normals"], flat  # faceted
