import os

import pytest

from assetgen_dagster.outputs import OutputPathError, atomic_write_bytes, item_output_path


def test_item_paths_are_confined_to_the_output_dir(tmp_path):
    path = item_output_path(tmp_path, "forest", "concept_art", "rock", ".png")
    assert path == tmp_path.resolve() / "forest" / "concept_art" / "rock.png"
    for bad in ("../x", "/etc", "a/b", ".."):
        with pytest.raises(OutputPathError):
            item_output_path(tmp_path, bad, "concept_art", "rock", ".png")
        with pytest.raises(OutputPathError):
            item_output_path(tmp_path, "forest", "concept_art", bad, ".png")


def test_an_item_writes_beside_its_id_or_into_its_own_folder_and_nowhere_else(tmp_path):
    from assetgen_dagster.engine import ItemOutput

    out = ItemOutput(tmp_path, "sky", {})
    assert out.write_bytes(b"e", ".png") == tmp_path / "sky.png"
    assert out.write_bytes(b"f", "/px.png") == tmp_path / "sky" / "px.png"
    assert sorted(out.records) == ["sky.png", "sky/px.png"]  # manifest names, relative to the asset folder
    for bad in ("/../x.png", "/..", "/.hidden", "/a/b.png", "/", "../x", "x/y", "/" + "a" * 81):
        with pytest.raises(OutputPathError):
            out.path(bad)


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "deep" / "file.bin"
    atomic_write_bytes(target, b"first")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert os.listdir(target.parent) == ["file.bin"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "file.bin"
    atomic_write_bytes(target, b"good")

    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"good"
    assert os.listdir(tmp_path) == ["file.bin"]
