import os

from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetKey, AssetSelection, DagsterInstance

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


def check_events(result) -> list:
    return [event for event in result.asset_events if isinstance(event, AssetCheckEvaluation)]


def test_an_invalid_file_fails_the_batch_files_check_until_fixed_or_removed(workdir):
    prompts = workdir / "prompts"
    instance = DagsterInstance.ephemeral()
    write_batch(prompts, "good", CONCEPT_BATCH)
    write_batch(prompts, "broken", "items:\n  - {id: rock, kind: concept_art, prompt: x, steps: 0}\n")
    first = tick(instance)
    [observed, failed] = first.asset_events
    assert observed.asset_key == AssetKey("prompt_batch_files")
    assert {key: observed.metadata[key].value for key in ("files", "valid", "invalid")} == \
        {"files": 2, "valid": 1, "invalid": 1}
    assert (failed.asset_key, failed.check_name, failed.passed) == (AssetKey("prompt_batch_files"), "valid_batch_files",
                                                                     False)
    assert failed.severity == AssetCheckSeverity.ERROR
    assert "broken.yaml" in failed.description and "item 'rock'" in failed.description \
        and "field 'steps'" in failed.description and "good.yaml" not in failed.description
    assert [r.partition_key for r in first.run_requests] == ["good"]  # the valid batch still runs
    assert check_events(tick(instance, first.cursor)) == []  # nothing changed: nothing reported again
    os.utime(prompts / "broken.yaml", ns=(1, 1))  # touched, same content
    assert check_events(tick(instance, first.cursor)) == []
    write_batch(prompts, "broken", "items:\n\t- id: rock\n")
    second = tick(instance, first.cursor)
    [syntax] = check_events(second)
    assert not syntax.passed and "broken.yaml: invalid YAML at line 2, column 1: a tab" in syntax.description
    write_batch(prompts, "broken", CONCEPT_BATCH)  # fixed
    fixed = tick(instance, second.cursor)
    [cleared] = check_events(fixed)
    assert cleared.passed and cleared.description == "every batch file is valid"
    write_batch(prompts, "other", "items: [\n")
    broken_again = tick(instance, fixed.cursor)
    assert not check_events(broken_again)[0].passed
    (prompts / "other.yaml").unlink()  # removed
    [cleared_again] = check_events(tick(instance, broken_again.cursor))
    assert cleared_again.passed


def test_the_batch_files_check_runs_from_the_ui_too(workdir):
    """Executed on its own (the UI's "Execute" on the check), it validates the folder at that moment."""
    from dagster import materialize

    from assetgen_dagster.batch_check import batch_files_check
    from assetgen_dagster.partitions import prompt_batch_files

    from .conftest import REGISTRY, resources

    write_batch(workdir / "prompts", "good", CONCEPT_BATCH)
    write_batch(workdir / "prompts", "broken", "items:\n  - {id: rock, kind: concept_art, prompt: x, size: [3, 3]}\n")
    result = materialize([prompt_batch_files, batch_files_check(REGISTRY)], resources=resources(),
                         selection=AssetSelection.all_asset_checks(), raise_on_error=False)
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed and "broken.yaml" in evaluation.description and "item 'rock'" in evaluation.description
    assert evaluation.metadata["invalid_files"].value == 1


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
    empty sensor cursor. No run is launched until the file changes. A run selects the assets of the
    batch's kinds and the pack, and once each other asset that has no "0 items" materialization for
    the batch yet (so the asset graph shows no kind it lacks as missing); after that, only its own."""
    from .conftest import REGISTRY, materialize_batch

    write_batch(workdir / "prompts", "props", CONCEPT_BATCH)
    made, instance = materialize_batch(["concept_art", "sprites", "asset_pack"], "props")
    assert made.success
    fresh = tick(instance)
    assert fresh.run_requests == []
    write_batch(workdir / "prompts", "props", CONCEPT_BATCH.replace("a mossy rock", "a snowy rock"))
    edited = tick(instance, fresh.cursor)
    [request] = edited.run_requests
    first = [key.to_user_string() for key in request.asset_selection]
    assert first[:2] == ["concept_art", "sprites"] and first[-1] == "asset_pack"
    assert set(first) == {*REGISTRY.definitions, "asset_pack"}  # every other asset, once
    settled, _ = materialize_batch(first, "props", instance=instance)
    assert settled.success
    empty = {event.asset_key.to_user_string(): event.materialization.metadata
             for event in settled.get_asset_materialization_events()}
    assert empty["meshes"]["items"].value == 0 and empty["meshes"]["note"].value.startswith("no `mesh` items")
    write_batch(workdir / "prompts", "props", CONCEPT_BATCH.replace("a mossy rock", "a grey rock"))
    [again] = tick(instance, edited.cursor).run_requests
    assert [key.to_user_string() for key in again.asset_selection] == ["concept_art", "sprites", "asset_pack"]


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


CAST_BATCH = """\
    voices:
      guard: {reference: refs/guard.wav, transcript: "Ah, oh."}
    items:
      - {id: halt, kind: voice, text: "Halt!", voice: guard}
    """


def test_an_edited_reference_clip_is_an_edit_of_the_batches_that_use_it(workdir):
    prompts = workdir / "prompts"
    (prompts / "refs").mkdir()
    (prompts / "refs" / "guard.wav").write_bytes(b"first take")
    (prompts / "refs" / "unused.wav").write_bytes(b"nobody's")
    write_batch(prompts, "cast", CAST_BATCH)
    write_batch(prompts, "props", CONCEPT_BATCH)
    instance = DagsterInstance.ephemeral()
    first = tick(instance)
    assert sorted(r.partition_key for r in first.run_requests) == ["cast", "props"]

    (prompts / "refs" / "unused.wav").write_bytes(b"changed, but no batch reads it")
    os.utime(prompts / "refs" / "guard.wav")  # touched, same bytes: the same content
    quiet = tick(instance, first.cursor)
    assert quiet.run_requests == []

    (prompts / "refs" / "guard.wav").write_bytes(b"the actor's second take")
    edited = tick(instance, quiet.cursor)
    assert [r.partition_key for r in edited.run_requests] == ["cast"]  # the batch file itself is untouched
    assert edited.run_requests[0].tags[BATCH_HASH_TAG] != next(
        r for r in first.run_requests if r.partition_key == "cast").tags[BATCH_HASH_TAG]
    assert tick(instance, edited.cursor).run_requests == []

    (prompts / "refs" / "guard.wav").unlink()  # gone: the run that follows says why (the batch fails)
    assert [r.partition_key for r in tick(instance, edited.cursor).run_requests] == ["cast"]
