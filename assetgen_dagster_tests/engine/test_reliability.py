"""Reliability, round 2: a bad or failing batch does not sink a backfill, a full disk leaves
consistent outputs, concurrent writers take turns, bad catalog overrides are refused before any
download. Each test fails without the mechanism it tests."""

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance
from PIL import Image

import assetgen_dagster.engine.item_asset as item_asset_module
import assetgen_dagster.engine.manifest as manifest_module
import assetgen_dagster.outputs as outputs_module
import assetgen_dagster.kinds.images.generate as images_module
from assetgen_dagster.engine.manifest import Manifest
from assetgen_dagster.models import ModelLoader, ModelOutOfMemoryError
from assetgen_dagster.partitions import PROMPT_BATCHES

from ..conftest import PROJECT_ROOT, dagster_home, materialize_batch, metadata_of, step_failure, write_batch
from ..fixtures.bad_catalogs import BAD_CATALOGS


def items(count: int, prompt: str = "prop") -> str:
    return "items:\n" + "".join(f"  - {{id: item{n}, kind: concept_art, prompt: '{prompt} {n}'}}\n"
                                for n in range(count))


def backfill(keys, instance=None, models=None, names=("concept_art",)):
    """A single-run backfill over ``keys`` (in process), as the CLI's --partition-range does."""
    from dagster import materialize

    from ..conftest import asset_defs, resources

    instance = instance or DagsterInstance.ephemeral()
    known = set(instance.get_dynamic_partitions(PROMPT_BATCHES))
    instance.add_dynamic_partitions(PROMPT_BATCHES, [k for k in keys if k not in known])
    result = materialize(asset_defs(*names), instance=instance, raise_on_error=False,
                         resources=resources(models),
                         tags={"dagster/asset_partition_range_start": keys[0],
                               "dagster/asset_partition_range_end": keys[-1]})
    return result, instance


def materialized_partitions(result, asset="concept_art"):
    return sorted(e.partition for e in result.get_asset_materialization_events()
                  if e.asset_key.to_user_string() == asset)


def outputs(workdir, batch):
    return sorted(p.name for p in (workdir / "outputs" / batch / "concept_art").glob("*.png"))


def attempts(instance, run_id):
    return sum(1 for r in instance.all_logs(run_id) if r.dagster_event and r.dagster_event.event_type in (
        DagsterEventType.STEP_START, DagsterEventType.STEP_RESTARTED))


# --- 1. backfills validate first ------------------------------------------------------------------

def test_a_backfill_names_every_invalid_batch_before_loading_a_model_and_generates_the_rest(tiny_kit, workdir):
    keys = [f"b{n}" for n in range(5)]
    for key in keys:
        write_batch(workdir / "prompts", key, items(2, key))
    write_batch(workdir / "prompts", "b2", "items:\n  - {id: rock, kind: concept_art, prompt: x, seed: 08}\n")
    write_batch(workdir / "prompts", "b3", "items:\n  - {id: rock, kind: concept_art, prompt: x, shader: pbr}\n")
    result, instance = backfill(keys)
    assert not result.success and attempts(instance, result.run_id) == 1  # bad input is not retried
    message = step_failure(result)
    assert "2 of 5 batches failed" in message
    assert "b2.yaml: item 'rock' (items[0]), field 'seed'" in message and "b3.yaml" in message and "'shader'" in message
    assert materialized_partitions(result) == ["b0", "b1", "b4"]  # the valid batches were generated and recorded
    assert all(len(outputs(workdir, key)) == 2 for key in ("b0", "b1", "b4"))
    logs = [r.user_message for r in instance.all_logs(result.run_id) if r.user_message]
    named = next(i for i, m in enumerate(logs) if "2 of 5 batches are invalid and are skipped" in m)
    loading = next(i for i, m in enumerate(logs) if "generating 2 item(s)" in m)
    assert named < loading, "the invalid batches are named before any model loads"
    assert "field 'seed'" in logs[named]

    write_batch(workdir / "prompts", "b2", items(2, "b2"))  # fixed: a re-run makes only what is missing
    again, _ = backfill(keys, instance)
    assert materialized_partitions(again) == ["b0", "b1", "b2", "b4"]
    by_batch = {e.partition: e.materialization.metadata for e in again.get_asset_materialization_events()}
    assert by_batch["b2"]["generated"].value == 2 and by_batch["b0"]["generated"].value == 0


# --- 2. one failing batch does not discard the others ---------------------------------------------

def test_a_batch_failing_during_generation_does_not_discard_the_others(tiny_kit, workdir, monkeypatch):
    keys = ["a1", "a2", "a3"]
    for key in keys:
        write_batch(workdir / "prompts", key, items(3, f"{key} prop"))
    real = images_module.generate_chunk

    def fails_for_a2(pipe, requests):
        if any(request.prompt.startswith("a2") for request in requests):
            raise ModelOutOfMemoryError("out of memory on cuda even with sequential_offload and batch size 1")
        return real(pipe, requests)

    monkeypatch.setattr(images_module, "generate_chunk", fails_for_a2)
    result, instance = backfill(keys)
    assert not result.success
    message = step_failure(result)
    assert "1 of 3 batches failed" in message and "- a2: ModelOutOfMemoryError" in message
    assert materialized_partitions(result) == ["a1", "a3"]
    assert outputs(workdir, "a1") == outputs(workdir, "a3") == ["item0.png", "item1.png", "item2.png"]
    assert outputs(workdir, "a2") == []

    monkeypatch.setattr(images_module, "generate_chunk", real)
    again, _ = backfill(keys, instance)
    assert again.success
    generated = {e.partition: e.materialization.metadata["generated"].value for e in again.get_asset_materialization_events()}
    assert generated == {"a1": 0, "a2": 3, "a3": 0}  # only the failed batch is made again


# --- 3. disk full ---------------------------------------------------------------------------------

def assert_consistent(folder: Path) -> dict:
    """No temp file, no half file under a final name, and every recorded item's files verify."""
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name]
    for png in folder.glob("*.png"):
        with Image.open(png) as image:
            image.load()  # a truncated PNG raises here
    recorded = Manifest(folder, folder.parent.name, folder.name)
    assert recorded.corrupt is None
    for item_id, entry in recorded.entries.items():
        assert recorded.current(item_id, entry["identity"]) is not None, f"{item_id} recorded but not intact"
    return recorded.entries


class FillingDisk:
    """The ``os`` module as outputs.py sees it, but the disk fills at the n-th fsync: the temp file is
    there, half written, when the error comes (the cleanup path a real full disk takes)."""

    def __init__(self, allowed: int):
        self.allowed, self.calls = allowed, 0

    def fsync(self, fd: int) -> None:
        self.calls += 1
        if self.calls > self.allowed:
            raise OSError(errno.ENOSPC, "No space left on device")
        os.fsync(fd)

    def __getattr__(self, name: str):
        return getattr(os, name)


@pytest.mark.parametrize("where", ["file", "mid_write", "journal", "compaction"])
def test_a_full_disk_leaves_consistent_outputs_and_says_what_is_needed(tiny_kit, workdir, monkeypatch, where):
    write_batch(workdir / "prompts", "full", items(8))
    calls = {"n": 0}

    def full_after(real, allowed):
        def write(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] > allowed:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(*args, **kwargs)
        return write

    module, name, allowed = {"file": (item_asset_module, "atomic_write_bytes", 5),
                             "mid_write": (outputs_module, "os", 5),
                             "journal": (manifest_module, "append_line", 5),
                             "compaction": (manifest_module, "atomic_write_bytes", 0)}[where]
    real = getattr(module, name)
    monkeypatch.setattr(module, name, FillingDisk(allowed) if where == "mid_write" else full_after(real, allowed))
    result, instance = materialize_batch(["concept_art"], "full")
    assert not result.success and attempts(instance, result.run_id) == 1  # not retried: space must be freed
    message = step_failure(result)
    output_dir = str(workdir / "outputs")
    assert f"no space left in {output_dir}" in message and " free) while writing concept_art" in message
    assert "it needs about" in message and "KB more" in message and "re-run" in message
    folder = workdir / "outputs" / "full" / "concept_art"
    recorded = assert_consistent(folder)
    assert len(recorded) == {"file": 5, "mid_write": 4, "journal": 5, "compaction": 8}[where]  # what was finished

    monkeypatch.setattr(module, name, real)  # space freed
    again, _ = materialize_batch(["concept_art"], "full", instance=instance)
    assert again.success
    meta = metadata_of(again, "concept_art")
    assert (meta["generated"], meta["reused"]) == (8 - len(recorded), len(recorded))
    assert len(assert_consistent(folder)) == 8


@pytest.fixture
def small_filesystem(tmp_path):
    """A 200 KB tmpfs as the output directory, when this machine lets the tests mount one."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("SMALL-FILESYSTEM TEST SKIPPED: cannot mount a tmpfs here (ENOSPC is injected by the other tests)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_real_full_filesystem(tiny_kit, workdir, monkeypatch, small_filesystem):
    monkeypatch.setenv("ASSETGEN_OUTPUT_DIR", str(small_filesystem))
    write_batch(workdir / "prompts", "big", items(40))  # ~12 KB per noise PNG: ~500 KB
    result, instance = materialize_batch(["concept_art"], "big")
    assert not result.success and attempts(instance, result.run_id) == 1  # not retried: space must be freed
    assert f"no space left in {small_filesystem}" in step_failure(result)
    folder = small_filesystem / "big" / "concept_art"
    recorded = assert_consistent(folder)
    assert 0 < len(recorded) < 40
    subprocess.run(["mount", "-o", "remount,size=4m", str(small_filesystem)], check=True)
    again, _ = materialize_batch(["concept_art"], "big", instance=instance)
    assert again.success and metadata_of(again, "concept_art")["reused"] == len(recorded)
    assert len(assert_consistent(folder)) == 40


# --- 5. concurrent writers ------------------------------------------------------------------------

def test_two_runs_on_one_batch_take_turns_and_the_second_reuses_the_first(tiny_kit, workdir):
    write_batch(workdir / "prompts", "shared", items(24))
    home = dagster_home(workdir, ["shared"])
    with DagsterInstance.from_config(str(home)) as instance:
        instance.event_log_storage.set_concurrency_slots("gpu", 2)  # two GPUs: both model steps may run at once
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    dagster = str(Path(sys.executable).with_name("dagster"))
    logs = [workdir / f"run{n}.log" for n in range(2)]  # files: a full stderr pipe would stall a run
    runs = [subprocess.Popen([dagster, "asset", "materialize", "-m", "assetgen_dagster.definitions",
                              "--select", "concept_art,asset_pack", "--partition", "shared"],
                             cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
            for log in logs]
    for process, log in zip(runs, logs, strict=True):
        assert process.wait(timeout=300) == 0, log.read_text()[-3000:]
    from dagster import AssetKey

    with DagsterInstance.from_config(str(home)) as instance:
        records = instance.fetch_materializations(AssetKey("concept_art"), limit=5).records
        generated = sorted(r.asset_materialization.metadata["generated"].value for r in records)
        waited = [r.user_message for run in instance.get_runs() for r in instance.all_logs(run.run_id)
                  if "waiting for" in (r.user_message or "") and "shared.lock" in (r.user_message or "")]
    assert generated == [0, 24], "one run made the batch, the other waited and reused it all"
    assert waited, "the second writer says whom it waits for"
    folder = workdir / "outputs" / "shared" / "concept_art"
    assert len(assert_consistent(folder)) == 24
    pack = json.loads((workdir / "outputs" / "shared" / "asset_pack" / "manifest.json").read_text())
    assert len(pack["items"]) == 24 and pack["missing"] == {}


# --- 6. bad catalog overrides ----------------------------------------------------------------------

@pytest.fixture
def pickle_repo(tiny_kit, monkeypatch):
    """A cached diffusers repo whose UNet has only pickle weights, allow-listed."""
    from assetgen_dagster.tiny import hub_cache_dir, install_snapshot

    source = next((hub_cache_dir() / "models--assetgen-tiny--text-to-image" / "snapshots").iterdir())

    def build(folder: Path) -> None:
        shutil.copytree(source, folder, dirs_exist_ok=True)
        for weights in (folder / "unet").glob("*.safetensors"):
            weights.unlink()
        (folder / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"pickled")

    install_snapshot("studio/pickled", "d" * 40, build)
    monkeypatch.setenv("ASSETGEN_ALLOWED_REPOS", "studio/*")
    return "studio/pickled"


@pytest.mark.parametrize("name", sorted(BAD_CATALOGS))
def test_a_bad_catalog_override_is_refused_before_any_download(tiny_kit, workdir, tmp_path, monkeypatch,
                                                                pickle_repo, name):
    import huggingface_hub

    text, expected = BAD_CATALOGS[name]
    catalog = tmp_path / "studio-catalog.yaml"
    catalog.write_text(text.replace("{pickle_repo}", pickle_repo))
    downloads = []
    real_snapshot = huggingface_hub.snapshot_download
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: downloads.append(a) or 1 / 0)
    monkeypatch.setattr(huggingface_hub, "snapshot_download",
                        lambda *a, **k: real_snapshot(*a, **k) if k.get("local_files_only") else downloads.append(a))
    write_batch(workdir / "prompts", "props", items(2))
    result, instance = materialize_batch(["concept_art"], "props", models=ModelLoader(catalog_path=str(catalog)))
    assert not result.success and attempts(instance, result.run_id) == 1, "a bad catalog is not retried"
    message = step_failure(result)
    for fragment in expected:
        assert fragment in message, (fragment, message)
    assert downloads == [], "refused before any download"
    assert not (workdir / "outputs" / "props" / "concept_art").exists()


def test_the_bad_catalog_corpus_covers_what_the_issue_lists():
    assert {"not_allow_listed", "pickle_only", "unknown_pipeline", "missing_revision", "absurd_steps"} <= set(BAD_CATALOGS)
