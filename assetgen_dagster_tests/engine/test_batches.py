"""One batch per run: an edit during a run does not mix two versions of a batch."""

import json

from assetgen_dagster.engine.batches import BATCH_HASH_TAG
from assetgen_dagster.kinds import concept_art

from ..conftest import CONCEPT_BATCH, materialize_batch, metadata_of, write_batch

BATCH = CONCEPT_BATCH.rstrip(" ") + "      - {id: floor, kind: texture, prompt: \"a stone floor\"}\n"


def test_an_edit_during_a_run_is_not_seen_by_its_later_steps(tiny_kit, workdir, monkeypatch):
    path = write_batch(workdir / "prompts", "props", BATCH)
    real_write = concept_art.ConceptArt.write

    def write_then_edit(self, out, item, request, raw):
        write_batch(workdir / "prompts", "props", BATCH.replace("a stone floor", "a lava floor"))
        return real_write(self, out, item, request, raw)

    monkeypatch.setattr(concept_art.ConceptArt, "write", write_then_edit)
    result, instance = materialize_batch(["concept_art", "textures"], "props")
    assert result.success and "a lava floor" in path.read_text()  # edited while the run was going
    with open(workdir / "outputs" / "props" / "textures" / "manifest.json") as handle:
        texture = json.load(handle)["items"]["floor"]["provenance"]
    assert texture["prompt"] == "a stone floor"  # the run's snapshot, taken by its first step
    assert metadata_of(result, "concept_art")["batch_hash"] == metadata_of(result, "textures")["batch_hash"]

    monkeypatch.setattr(concept_art.ConceptArt, "write", real_write)
    next_run, _ = materialize_batch(["textures"], "props", instance=instance)
    assert metadata_of(next_run, "textures")["generated"] == 1  # the next run sees the edit


def test_a_run_told_other_content_by_the_sensor_says_so(tiny_kit, workdir):
    write_batch(workdir / "prompts", "props", BATCH)
    result, instance = materialize_batch(["concept_art"], "props",
                                         tags={BATCH_HASH_TAG: "f" * 64, "dagster/partition": "props"})
    assert result.success
    assert metadata_of(result, "concept_art")["requested_batch_hash"] == "f" * 16
    assert any("changed after the sensor requested this run" in (e.user_message or "")
               for e in instance.all_logs(result.run_id))
