"""The real `dagster` CLI and the project's own command, in subprocesses."""

import os
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey, DagsterInstance

from .conftest import CONCEPT_BATCH, dagster_home, write_batch

BIN = Path(sys.executable).parent


def test_dagster_asset_materialize_cli_records_run_in_sqlite(tiny_kit, workdir):
    write_batch(workdir / "prompts", "props", CONCEPT_BATCH)
    home = dagster_home(workdir, ["props"])
    env = {**os.environ, "DAGSTER_HOME": str(home)}

    result = subprocess.run(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "assetgen_dagster.definitions",
         "--select", "concept_art", "--partition", "props"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((workdir / "outputs" / "props" / "concept_art").glob("*.png"))) == 4

    with DagsterInstance.from_config(str(home)) as instance:
        assert (home / "history" / "runs.db").is_file()  # SQLite storage in DAGSTER_HOME
        [run] = instance.get_runs()
        assert run.is_success and run.tags.get("dagster/partition") == "props"
        [record] = instance.fetch_materializations(AssetKey("concept_art"), limit=5).records
        metadata = record.asset_materialization.metadata
        assert metadata["items"].value == 4
        assert metadata["models"].value["concept_art"]["model"] == "assetgen-tiny/text-to-image"


def test_validate_command_reports_bad_files(workdir):
    write_batch(workdir / "prompts", "good", CONCEPT_BATCH)
    write_batch(workdir / "prompts", "bad", "items:\n  - {id: rock, kind: concept_art, prompt: x, steps: 0}\n")
    result = subprocess.run([str(BIN / "assetgen-dagster"), "validate"], capture_output=True, text=True)
    assert result.returncode == 1
    assert "INVALID" in result.stdout and "bad.yaml: item 'rock' (items[0]), field 'steps'" in result.stdout
    assert "ok      " in result.stdout and "good.yaml: 5 items" in result.stdout


def test_models_pull_fetches_each_model_once_and_reports_failures(tiny_kit, tmp_path):
    result = subprocess.run([str(BIN / "assetgen-dagster"), "models", "pull"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "concept_art  assetgen-tiny/text-to-image@" in result.stdout and "already cached" in result.stdout
    assert result.stdout.count("same as concept_art") == 2  # sprite and icon share the model
    assert "texture      assetgen-tiny/texture@" in result.stdout  # the kit's smooth stand-in for textures

    user = tmp_path / "catalog.yaml"
    user.write_text("icon: {repo_id: stabilityai/sdxl-turbo, pipeline: StableDiffusionXLPipeline}\n")
    env = {**os.environ, "ASSETGEN_CATALOG": str(user)}
    result = subprocess.run([str(BIN / "assetgen-dagster"), "models", "pull", "icon"], capture_output=True,
                            text=True, env=env)
    assert result.returncode == 1
    assert "icon         stabilityai/sdxl-turbo: FAILED" in result.stdout
    assert "HF_HUB_OFFLINE=1" in result.stdout


def test_cli_backfill_of_a_partition_range_is_one_run(tiny_kit, workdir):
    keys = ["b1", "b2", "b3"]
    for key in keys:
        write_batch(workdir / "prompts", key, CONCEPT_BATCH.replace("a mossy rock", f"a {key} rock"))
    home = dagster_home(workdir, keys)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    result = subprocess.run(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "assetgen_dagster.definitions",
         "--select", "concept_art,textures,pbr_maps", "--partition-range", "b1...b3"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs()
        assert run.is_success
        records = instance.fetch_materializations(AssetKey("concept_art"), limit=10).records
        assert sorted(r.partition_key for r in records) == keys
        for record in records:  # each batch's materialization carries its own figures
            metadata = record.asset_materialization.metadata
            assert metadata["partitions_in_run"].value == 3 and metadata["generated"].value == 4
            assert metadata["batch_hash"].value != ""
    for key in keys:
        assert len(list((workdir / "outputs" / key / "concept_art").glob("*.png"))) == 4


def test_full_kit_names_the_roles_that_have_a_full_size_model_and_builds_nothing_for_an_unknown_one():
    """The full-size models are built on demand only (gigabytes): here only the refusal runs."""
    result = subprocess.run([str(BIN / "assetgen-dagster"), "full-kit", "voice"], capture_output=True, text=True)
    assert result.returncode == 2
    assert ("no full-size model for voice (roles with one: concept_art, dialogue, icon, item_text, mesh, sfx, "
            "skybox, sprite, texture)") in result.stderr
