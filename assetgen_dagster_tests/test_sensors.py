import os

from dagster import AssetKey, DagsterInstance

from assetgen_dagster.engine.batches import BATCH_HASH_TAG
from assetgen_dagster.partitions import PROMPT_BATCHES

from .conftest import CONCEPT_BATCH, sensor_tick, write_batch


def tick(instance, cursor=None):
    """Evaluate the sensor once and apply its partition requests, as the daemon would."""
    result = sensor_tick(instance, cursor)
    for request in result.dynamic_partitions_requests:
        if type(request).__name__ == "AddDynamicPartitionsRequest":
            instance.add_dynamic_partitions(PROMPT_BATCHES, list(request.partition_keys))
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(PROMPT_BATCHES, key)
    return result


def test_new_unchanged_changed_reverted_and_invalid_files(workdir):
    prompts = workdir / "prompts"
    instance = DagsterInstance.ephemeral()
    write_batch(prompts, "props", CONCEPT_BATCH)
    write_batch(prompts, "broken", "items:\n  - {id: Bad Id, kind: icon, prompt: x}\n")
    (prompts / "notes.txt").write_text("not a batch")

    first = tick(instance)
    assert [r.partition_key for r in first.run_requests] == ["props"]
    assert instance.get_dynamic_partitions(PROMPT_BATCHES) == ["props"]
    original_tag = first.run_requests[0].tags[BATCH_HASH_TAG]

    same = tick(instance, first.cursor)
    assert same.run_requests == [] and same.dynamic_partitions_requests == []

    write_batch(prompts, "props", CONCEPT_BATCH.replace("a mossy rock", "a snowy rock"))
    changed = tick(instance, same.cursor)
    assert [r.partition_key for r in changed.run_requests] == ["props"]
    assert changed.dynamic_partitions_requests == []  # already registered
    assert changed.run_requests[0].tags[BATCH_HASH_TAG] != original_tag

    write_batch(prompts, "props", CONCEPT_BATCH)  # an edit undone must regenerate too
    reverted = tick(instance, changed.cursor)
    assert [r.partition_key for r in reverted.run_requests] == ["props"]
    run_keys = [r.run_key for r in (first.run_requests + changed.run_requests + reverted.run_requests)]
    assert len(set(run_keys)) == 3

    # fixing the invalid file makes it a partition with a run; the others stay quiet
    write_batch(prompts, "broken", "items:\n  - {id: good_id, kind: icon, prompt: x}\n")
    fixed = tick(instance, reverted.cursor)
    assert [r.partition_key for r in fixed.run_requests] == ["broken"]
    assert sorted(instance.get_dynamic_partitions(PROMPT_BATCHES)) == ["broken", "props"]


def test_unreadable_file_does_not_break_the_tick(workdir):
    prompts = workdir / "prompts"
    write_batch(prompts, "aaa", "items: [\n")
    (prompts / "bbb.yaml").write_bytes(b"\x00\xff\xfe binary junk")
    (prompts / "ccc.yaml").mkdir()  # a directory named like a batch
    write_batch(prompts, "ddd", CONCEPT_BATCH)
    result = tick(DagsterInstance.ephemeral())
    assert [r.partition_key for r in result.run_requests] == ["ddd"]


def test_missing_prompts_dir_is_an_empty_tick(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSETGEN_PROMPTS_DIR", str(tmp_path / "nope"))
    result = tick(DagsterInstance.ephemeral())
    assert result.run_requests == []


def test_deleted_file_removes_the_partition_and_keeps_outputs(workdir):
    prompts = workdir / "prompts"
    instance = DagsterInstance.ephemeral()
    write_batch(prompts, "props", CONCEPT_BATCH)
    write_batch(prompts, "other", CONCEPT_BATCH)
    first = tick(instance)
    output = workdir / "outputs" / "props" / "concept_art" / "rock.png"
    output.parent.mkdir(parents=True)
    output.write_bytes(b"png")
    (prompts / "props.yaml").unlink()
    after = tick(instance, first.cursor)
    assert after.run_requests == []
    assert instance.get_dynamic_partitions(PROMPT_BATCHES) == ["other"]
    assert output.read_bytes() == b"png"
    write_batch(prompts, "props", CONCEPT_BATCH)  # restored: registered and run again
    restored = tick(instance, after.cursor)
    assert [r.partition_key for r in restored.run_requests] == ["props"]


def test_invalid_file_is_recorded_once_per_content_as_an_observation(workdir):
    prompts = workdir / "prompts"
    instance = DagsterInstance.ephemeral()
    write_batch(prompts, "broken", "items:\n  - {id: rock, kind: concept_art, prompt: x, steps: 0}\n")
    first = tick(instance)
    [observation] = first.asset_events
    assert observation.asset_key == AssetKey("prompt_batch_files")
    error = observation.metadata["error"].value
    assert "broken.yaml" in error and "item 'rock'" in error and "field 'steps'" in error
    assert tick(instance, first.cursor).asset_events == []  # same content: not recorded again
    path = prompts / "broken.yaml"
    os.utime(path, ns=(1, 1))  # touched but identical content
    assert tick(instance, first.cursor).asset_events == []
    write_batch(prompts, "broken", "items: [\n")
    [again] = tick(instance, first.cursor).asset_events
    assert "invalid YAML" in again.metadata["error"].value


def test_unchanged_files_are_not_parsed(workdir, monkeypatch):
    from .conftest import REGISTRY

    prompts = workdir / "prompts"
    for n in range(20):
        write_batch(prompts, f"b{n:02d}", CONCEPT_BATCH)
    instance = DagsterInstance.ephemeral()
    first = tick(instance)
    assert len(first.run_requests) == 20
    parsed = []
    real_parse = REGISTRY.schema.parse
    monkeypatch.setattr(REGISTRY.schema, "parse", lambda text, path: parsed.append(path) or real_parse(text, path))
    quiet = tick(instance, first.cursor)
    assert quiet.run_requests == [] and parsed == []
    write_batch(prompts, "b07", CONCEPT_BATCH.replace("a mossy rock", "a red rock"))
    changed = tick(instance, quiet.cursor)
    assert [r.partition_key for r in changed.run_requests] == ["b07"] and [p.name for p in parsed] == ["b07.yaml"]


def test_a_batch_another_run_already_made_is_current_for_a_fresh_sensor(tiny_kit, workdir):
    """What `make ui` after `make demo` meets: partitions registered and packed by other runs, an
    empty sensor cursor. No run is launched until the file changes; runs then select only the
    assets of the batch's kinds and the pack."""
    from .conftest import materialize_batch

    write_batch(workdir / "prompts", "props", CONCEPT_BATCH)
    made, instance = materialize_batch(["concept_art", "sprites", "asset_pack"], "props")
    assert made.success
    fresh = tick(instance)
    assert fresh.run_requests == []
    write_batch(workdir / "prompts", "props", CONCEPT_BATCH.replace("a mossy rock", "a snowy rock"))
    [request] = tick(instance, fresh.cursor).run_requests
    assert [key.to_user_string() for key in request.asset_selection] == ["concept_art", "sprites", "asset_pack"]


def test_a_content_already_launched_is_not_requested_again_by_anyone(workdir):
    """The sensor's own skip (a save of the same content, a touch) and the watcher's (a content it
    launched) go through the launch claim: what was launched last is never requested twice."""
    from assetgen_dagster.batches import batch_hash
    from assetgen_dagster.launches import claim_launch, last_launch, read_batch

    from .conftest import REGISTRY

    prompts, outputs = workdir / "prompts", workdir / "outputs"
    instance = DagsterInstance.ephemeral()
    path = write_batch(prompts, "props", CONCEPT_BATCH)
    first = tick(instance)
    assert [r.partition_key for r in first.run_requests] == ["props"]
    os.utime(path, ns=(1, 1))  # touched: the cursor sees a change, the content is the same
    assert tick(instance, first.cursor).run_requests == []
    write_batch(prompts, "props", CONCEPT_BATCH.replace("a mossy rock", "a red rock"))
    batch, still_read = read_batch(path, REGISTRY.schema)
    assert claim_launch(outputs, "props", batch_hash(batch), "watch", still_read, lambda: None)  # the watcher first
    assert tick(instance, first.cursor).run_requests == []
    assert last_launch(outputs, "props").by == "watch"
