"""Textures through the real pipeline on the tiny kit (whose texture model makes spatially smooth
images): generated with wrap-around padding they pass `tileable`; with tiling switched off, every
one of them fails it and gets no PBR maps."""

from ...conftest import checks_of, materialize_batch, metadata_of, write_batch

BATCH = """\
    defaults: {seed: 4}
    items:
      - {id: moss, kind: texture, prompt: "moss"}
      - {id: sand, kind: texture, prompt: "sand"}
      - {id: slate, kind: texture, prompt: "slate", seed: 11}
      - {id: bark, kind: texture, prompt: "bark strip", tile: x}
      - {id: reeds, kind: texture, prompt: "reeds", tile: y, width: 128}
    """


def test_tiled_textures_pass_the_seam_check(tiny_kit, workdir):
    write_batch(workdir / "prompts", "mats", BATCH)
    result, _ = materialize_batch(["textures", "pbr_maps"], "mats")
    checks = checks_of(result)
    assert checks[("textures", "tileable")].passed, checks[("textures", "tileable")].description
    assert checks[("pbr_maps", "maps_tile")].passed
    assert metadata_of(result, "pbr_maps")["generated"] == 5


def test_with_tiling_switched_off_every_texture_fails_the_seam_check(tiny_kit, workdir, without_wrap_around):
    write_batch(workdir / "prompts", "mats", BATCH)
    result, _ = materialize_batch(["textures", "pbr_maps"], "mats")
    check = checks_of(result)[("textures", "tileable")]
    assert not check.passed
    assert check.metadata["items_failed"].value == 5  # each one, not just a few
    assert "seam" in check.description
    assert set(metadata_of(result, "pbr_maps")["blocked"]) == {"moss", "sand", "slate", "bark", "reeds"}


def test_the_pack_names_normal_maps_by_convention_and_adds_an_orm_texture(demo_packs):
    """materials/<item>/: albedo, height, roughness, ao, normal_gl or normal_dx as the item asks,
    orm.png (R occlusion, G roughness, B metallic 0), and a Godot import preset with repeat per image."""
    import numpy as np
    from PIL import Image

    pack = demo_packs / "forest_level" / "asset_pack"
    expected = {"forest_floor": "normal_gl", "mossy_cobbles": "normal_gl", "bark_strip": "normal_dx"}
    for item, normal in expected.items():
        folder = pack / "materials" / item
        images = {"albedo", "height", "roughness", "ao", "orm", normal}
        assert {p.name for p in folder.iterdir()} == {f"{n}.png" for n in images} | {f"{n}.png.import" for n in images}
        load = lambda name: np.asarray(Image.open(folder / f"{name}.png"))  # noqa: E731
        orm = load("orm")
        assert orm.shape[2] == 3 and (orm[..., 0] == load("ao")).all() and (orm[..., 1] == load("roughness")).all()
        assert (orm[..., 2] == 0).all()
        assert "flags/repeat=1" in (folder / f"{normal}.png.import").read_text()
        assert "compress/normal_map=1" in (folder / f"{normal}.png.import").read_text()
        assert "compress/normal_map=0" in (folder / "albedo.png.import").read_text()
    gl, dx = (np.asarray(Image.open(pack / "materials" / item / f"{name}.png")) for item, name in
              (("forest_floor", "normal_gl"), ("bark_strip", "normal_dx")))
    assert gl.shape[2] == dx.shape[2] == 3
