import os

import pytest

from assetgen_dagster.outputs import OutputPathError, atomic_link, atomic_write_bytes, item_output_path


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


def test_publishing_a_link_leaves_no_temp_even_when_it_is_already_in_place(tmp_path):
    """A pick published again (the same candidate, a run after a re-roll of another) renames a link
    over a link to the same file, which POSIX makes a no-op: the temp name must go all the same."""
    first, second, picked = tmp_path / "v0.png", tmp_path / "v1.png", tmp_path / "item.png"
    first.write_bytes(b"zero")
    second.write_bytes(b"one")
    for source in (first, first, second):
        atomic_link(source, picked)
        assert picked.read_bytes() == source.read_bytes() and os.path.samefile(picked, source)
        assert sorted(os.listdir(tmp_path)) == ["item.png", "v0.png", "v1.png"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "file.bin"
    atomic_write_bytes(target, b"good")

    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"good"
    assert os.listdir(tmp_path) == ["file.bin"]
