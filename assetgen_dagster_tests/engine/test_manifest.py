"""The manifest journal: O(1) records per item, compaction, torn tails, corrupt files reported."""

import json

from assetgen_dagster.engine.manifest import Manifest, file_record

from ..conftest import CONCEPT_BATCH, materialize_batch, metadata_of, write_batch


def entry(folder, name, identity="i"):
    path = folder / f"{name}.png"
    path.write_bytes(name.encode() * 10)
    return {"identity": identity, "files": {path.name: file_record(path)}, "provenance": {}}


def test_records_go_to_the_journal_and_compact_into_the_manifest(tmp_path):
    manifest = Manifest(tmp_path, "b", "a")
    manifest.record("one", entry(tmp_path, "one"))
    manifest.record("two", entry(tmp_path, "two"))
    assert not manifest.path.exists() and len(manifest.journal_path.read_text().splitlines()) == 2
    reread = Manifest(tmp_path, "b", "a")  # what a re-run after a crash sees
    assert set(reread.entries) == {"one", "two"} and reread.current("one", "i") is not None
    reread.compact(["two", "one", "gone"])
    assert not reread.journal_path.exists()
    data = json.loads(reread.path.read_text())
    assert set(data["items"]) == {"two", "one"} and data["format"] == 2  # items no longer in the batch are dropped
    lines = reread.path.read_text().splitlines()  # one item per line, in batch order
    assert lines[1].startswith('"two": {') and lines[2].startswith('"one": {') and len(lines) == 4
    assert Manifest(tmp_path, "b", "a").entries == reread.entries


def test_a_torn_last_line_is_the_item_in_flight(tmp_path):
    manifest = Manifest(tmp_path, "b", "a")
    manifest.record("one", entry(tmp_path, "one"))
    with open(manifest.journal_path, "a") as handle:
        handle.write('{"item": "two", "entry": {"identity"')  # killed mid-append
    reread = Manifest(tmp_path, "b", "a")
    assert set(reread.entries) == {"one"} and reread.corrupt is None
    reread.record("three", entry(tmp_path, "three"))  # the next run cuts the torn tail before appending
    after = Manifest(tmp_path, "b", "a")
    assert set(after.entries) == {"one", "three"} and after.corrupt is None


def test_changed_files_are_not_current(tmp_path):
    manifest = Manifest(tmp_path, "b", "a")
    manifest.record("one", entry(tmp_path, "one"))
    assert manifest.current("one", "i") and not manifest.current("one", "other identity")
    (tmp_path / "one.png").write_bytes(b"tampered, same length")  # new mtime: re-hashed
    assert manifest.current("one", "i") is None


def test_corrupt_manifest_and_journal_are_reported(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    broken = Manifest(tmp_path, "b", "a")
    assert broken.entries == {} and "manifest.json is corrupt" in broken.corrupt
    (tmp_path / "manifest.json").unlink()
    (tmp_path / "manifest.journal").write_text('garbage\n{"item": "x", "entry": {}}\n')
    assert "line 1 is corrupt" in Manifest(tmp_path, "b", "a").corrupt


def test_a_corrupt_manifest_is_reported_and_its_items_regenerated(tiny_kit, workdir):
    write_batch(workdir / "prompts", "props", CONCEPT_BATCH)
    first, instance = materialize_batch(["concept_art"], "props")
    folder = workdir / "outputs" / "props" / "concept_art"
    (folder / "manifest.json").write_text('{"items": {"rock": "not an entry"')
    again, _ = materialize_batch(["concept_art"], "props", instance=instance)
    assert again.success
    meta = metadata_of(again, "concept_art")
    assert meta["generated"] == 4 and meta["reused"] == 0
    assert "manifest.json is corrupt" in meta["corrupt_manifest"]
    warnings = [e.message for e in instance.all_logs(again.run_id) if "is corrupt" in (e.user_message or "")]
    assert warnings, "the corrupt manifest is logged as a warning"
    assert set(json.loads((folder / "manifest.json").read_text())["items"]) == {"rock", "chest", "lamp", "shrine"}
