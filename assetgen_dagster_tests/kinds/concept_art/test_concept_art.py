import hashlib
import json

import numpy as np
from dagster import AssetKey, DagsterEventType, Failure
from PIL import Image

from assetgen_dagster.batches import BatchError
from assetgen_dagster.engine.common import is_retryable
from assetgen_dagster.engine.report import step_failure as step_error
from assetgen_dagster.kinds.images.tiny import TINY_TEXT_TO_IMAGE_REPO as TEXT_TO_IMAGE_REPO
from assetgen_dagster.models import (
    ModelDownloadError,
    ModelLoader,
    ModelNotAllowedError,
    ModelNotCachedError,
    ModelOutOfMemoryError,
    Models,
    ModelTooLargeError,
)
from assetgen_dagster.tiny import snapshot_commit

from ...conftest import CONCEPT_BATCH, checks_of, materialize_batch, step_failure, write_batch
from ...conftest import metadata_of as asset_metadata


def run_concept_art(batch_id, instance=None, models=None):
    return materialize_batch(["concept_art"], batch_id, instance=instance, models=models)


def metadata_of(result):
    return asset_metadata(result, "concept_art")


def test_materializes_pngs_with_provenance_and_metadata(tiny_kit, workdir):
    write_batch(workdir / "prompts", "props", CONCEPT_BATCH)
    result, _ = run_concept_art("props")
    assert result.success
    meta = metadata_of(result)
    out_dir = workdir / "outputs" / "props" / "concept_art"
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "chest.png", "lamp.png", "manifest.json", "rock.png", "shrine.png"]
    assert (meta["items"], meta["generated"], meta["reused"]) == (4, 4, 0)
    [model] = meta["models"].values()  # by role
    assert model["model"] == TEXT_TO_IMAGE_REPO and meta["models"].keys() == {"concept_art"}
    assert model["revision"] == snapshot_commit(TEXT_TO_IMAGE_REPO)
    assert model["device"] == "cpu" and model["batch_size_used"] == 4 and model["memory_mode"] == "full"
    assert model["cache_state"] in ("warm", "hot") and model["model_mb"] > 1
    assert model["peak_memory_mb"] > 0 and model["torch_settings"]["attention"] == "sdpa"
    assert meta["seeds"]["lamp"] == 42
    assert meta["steps"] == {"rock": 2, "chest": 2, "lamp": 2, "shrine": 3}
    assert meta["generate_seconds"] > 0 and model["load_seconds"] >= 0
    assert sorted(meta["outputs"]) == sorted(str(p) for p in out_dir.glob("*.png"))
    assert model["license"] == "random weights built locally; test use only"
    manifest = json.loads((out_dir / "manifest.json").read_text())
    lamp_file = manifest["items"]["lamp"]["files"]["lamp.png"]
    assert lamp_file["sha256"] == hashlib.sha256((out_dir / "lamp.png").read_bytes()).hexdigest()
    assert manifest["items"]["lamp"]["provenance"]["seed"] == 42
    assert meta["preview"].startswith("**props: concept art**\n\n![props: concept art](data:image/jpeg;base64,")
    assert "| lamp | 42 | a brass lantern | all pass |" in meta["preview"]  # one row per item
    assert len(meta["preview"]) < 40_000

    with Image.open(out_dir / "lamp.png") as image:
        assert image.size == (64, 64) and image.mode == "RGB"
        provenance = json.loads(image.text["assetgen"])
    assert provenance["model"] == TEXT_TO_IMAGE_REPO
    assert provenance["revision"] == model["revision"]
    assert (provenance["seed"], provenance["steps"], provenance["guidance"]) == (42, 2, 0.0)
    assert provenance["prompt"] == "a brass lantern" and provenance["batch"] == "props"
    assert provenance["code_version"] == "concept_art/1" and provenance["license"] == model["license"]
    assert len(provenance["identity"]) == 64


def regenerate_into(folder, monkeypatch, models=None):
    """A run of concept_art into an empty output folder (nothing to reuse), with the model loaded afresh."""
    from assetgen_dagster.models.cache import MODEL_CACHE

    MODEL_CACHE.clear()
    monkeypatch.setenv("ASSETGEN_OUTPUT_DIR", str(folder))
    result, _ = run_concept_art("props", models=models)
    assert result.success and metadata_of(result)["generated"] == 4  # every item made again, none reused
    return {p.name: p for p in (folder / "props" / "concept_art").glob("*.png")}


def test_regenerating_from_scratch_gives_identical_bytes(tiny_kit, workdir, monkeypatch):
    write_batch(workdir / "prompts", "props", CONCEPT_BATCH)
    first = regenerate_into(workdir / "first", monkeypatch)
    second = regenerate_into(workdir / "second", monkeypatch)
    assert sorted(first) == sorted(second) == ["chest.png", "lamp.png", "rock.png", "shrine.png"]
    assert {name: path.read_bytes() for name, path in first.items()} == \
        {name: path.read_bytes() for name, path in second.items()}


def test_pipeline_batch_size_changes_pixels_by_at_most_rounding(tiny_kit, workdir, monkeypatch):
    write_batch(workdir / "prompts", "props", CONCEPT_BATCH)
    batched = regenerate_into(workdir / "batched", monkeypatch)
    one_by_one = workdir / "catalog.yaml"
    one_by_one.write_text("concept_art: {params: {batch_size: 1}}\n")
    single = regenerate_into(workdir / "single", monkeypatch, ModelLoader(catalog_path=str(one_by_one)))
    for name, path in batched.items():
        a = np.asarray(Image.open(path), dtype=np.int16)
        b = np.asarray(Image.open(single[name]), dtype=np.int16)
        assert np.abs(a - b).max() <= 1, name
        assert (a != b).mean() < 1e-3, name


def test_batch_without_concept_art_says_so_and_checks_nothing(tiny_kit, workdir):
    write_batch(workdir / "prompts", "sprites_only", "items:\n  - {id: hero, kind: sprite, prompt: a hero}\n")
    result, _ = run_concept_art("sprites_only")
    assert result.success
    meta = metadata_of(result)
    assert meta["items"] == 0 and meta["note"] == "no `concept_art` items in this batch: nothing to make"
    assert (meta["generated"], meta["reused"], meta["models"], meta["outputs"]) == (0, 0, {}, [])
    assert result.get_asset_check_evaluations() == []
    assert not (workdir / "outputs" / "sprites_only").exists()


def test_every_materialization_has_the_same_metadata_keys(tiny_kit, workdir):
    """Generated, reused, or no item of the kind: the same keys, models by role with the same fields,
    so two runs compare side by side in the UI."""
    write_batch(workdir / "prompts", "props", CONCEPT_BATCH)
    write_batch(workdir / "prompts", "none", "items:\n  - {id: hero, kind: sprite, prompt: a hero}\n")
    generated = metadata_of(run_concept_art("props")[0])
    reused = metadata_of(run_concept_art("props")[0])
    empty = metadata_of(run_concept_art("none")[0])
    assert (generated["generated"], reused["reused"]) == (4, 4)
    assert generated.keys() == reused.keys() == empty.keys()
    assert generated["models"].keys() == reused["models"].keys() == {"concept_art"}
    made, kept = generated["models"]["concept_art"], reused["models"]["concept_art"]
    assert made.keys() == kept.keys()
    assert {key: kept[key] for key in ("model", "revision", "license", "pipeline")} == \
        {key: made[key] for key in ("model", "revision", "license", "pipeline")}
    assert kept["cache_state"] == "not loaded: every item was current" and made["cache_state"] in ("warm", "hot")


def _step_attempts(instance, run_id):
    return sum(
        1 for record in instance.all_logs(run_id) if record.dagster_event
        and record.dagster_event.event_type in (DagsterEventType.STEP_START, DagsterEventType.STEP_RESTARTED)
    )


def test_bad_batch_fails_once_without_retries_naming_file_item_and_field(tiny_kit, workdir):
    write_batch(workdir / "prompts", "broken", "items:\n  - {id: rock, kind: concept_art, prompt: x, steps: 0}\n")
    result, instance = run_concept_art("broken")
    assert not result.success
    assert _step_attempts(instance, result.run_id) == 1
    message = step_failure(result)
    assert "broken.yaml" in message and "item 'rock'" in message and "field 'steps'" in message
    assert not (workdir / "outputs" / "broken").exists()


def test_deleted_batch_file_fails_clearly(tiny_kit, workdir):
    result, _ = run_concept_art("vanished")
    assert not result.success
    assert "no batch file for partition 'vanished'" in step_failure(result)


def test_error_classes_map_to_retry_behaviour():
    for error in (BatchError("b.yaml", ["bad"]), ModelNotAllowedError("no"), ModelNotCachedError("offline"),
                  ModelTooLargeError("never fits"), ModelOutOfMemoryError("ladder exhausted")):
        assert not is_retryable(error)
        failure = step_error({"b": error}, 1)
        assert isinstance(failure, Failure) and failure.allow_retries is False
    transient = ModelDownloadError("hub 503")
    assert step_error({"b": transient}, 1) is transient  # left to the retry policy, traceback intact
    several = step_error({"a": transient, "b": BatchError("b.yaml", ["bad"])}, 3)
    assert several.allow_retries and "2 of 3 batches failed" in several.description


def test_materialization_is_recorded_in_storage(tiny_kit, workdir):
    write_batch(workdir / "prompts", "props", CONCEPT_BATCH)
    result, instance = run_concept_art("props")
    assert result.success
    [record] = instance.fetch_materializations(AssetKey("concept_art"), limit=10).records
    assert record.partition_key == "props"
    assert record.asset_materialization.metadata["items"].value == 4


class FlakyHubModels(Models):
    """The real models, but the hub 'fails' on the first call of each test (a transient fault)."""

    failures_left: int = 0

    def use(self, model, on_progress=None, adapters=()):
        if FlakyHubModels.failures_left > 0:
            FlakyHubModels.failures_left -= 1
            raise ModelDownloadError("hub answered 503")
        return super().use(model, on_progress, adapters)


class FlakyHubLoader(ModelLoader):
    def bind(self, roles, profile=None):
        return FlakyHubModels(**vars(super().bind(roles, profile)))


def test_transient_model_errors_are_retried(tiny_kit, workdir):
    write_batch(workdir / "prompts", "props", CONCEPT_BATCH)
    FlakyHubModels.failures_left = 1
    result, instance = run_concept_art("props", models=FlakyHubLoader())
    assert result.success
    assert _step_attempts(instance, result.run_id) == 2
    assert metadata_of(result)["items"] == 4


def test_the_checks_fail_a_black_a_white_a_flat_and_a_wrongly_sized_picture():
    from assetgen_dagster.kinds.concept_art import ConceptArt

    noise = np.random.default_rng(0).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    checks = {check.name: check for check in ConceptArt.checks}

    def verdicts(rgb, asked=(48, 64)):
        from assetgen_dagster.kinds.concept_art import Picture

        return {name: check.check(None, Picture(rgb, asked)) for name, check in checks.items()}

    assert all(verdict.passed for verdict in verdicts(noise).values())
    almost_black = noise // 80  # every channel <= 3: what a safety checker's black frame decodes to
    assert verdicts(almost_black)["not_blank"].message == "blank: 100% of the pixels are black"
    assert verdicts(np.full_like(noise, 253))["not_blank"].message == "blank: 100% of the pixels are white"
    assert not verdicts(np.full_like(noise, 90))["not_constant"].passed
    assert verdicts(noise, asked=(64, 64))["size_as_asked"].message == "48x64, asked for 64x64"
    assert [check.name for check in ConceptArt.checks if check.blocking] == ["not_blank", "not_constant"]


def test_a_blank_picture_fails_not_blank_and_blocks_its_mesh(tiny_kit, workdir, monkeypatch):
    from assetgen_dagster.kinds.images import generate as generation

    real = generation.generate_chunk

    def black_boulder(pipe, requests):
        images = real(pipe, requests)
        return [Image.new("RGB", image.size) if "boulder" in request.prompt else image
                for image, request in zip(images, requests, strict=True)]

    monkeypatch.setattr(generation, "generate_chunk", black_boulder)
    write_batch(workdir / "prompts", "props", """\
        items:
          - {id: rock, kind: concept_art, prompt: "a mossy boulder"}
          - {id: lamp, kind: concept_art, prompt: "a brass lantern"}
          - {id: rock_3d, kind: mesh, prompt: "a boulder", source: concept_art, concept: rock, grid_size: 8}
        """)
    result, _ = materialize_batch(["concept_art", "meshes"], "props")
    assert result.success  # one blank picture stops only what is made from it
    blank = checks_of(result)[("concept_art", "not_blank")]
    assert not blank.passed and "rock: blank: 100% of the pixels are black" in blank.description
    assert "lamp" not in blank.description and checks_of(result)[("concept_art", "size_as_asked")].passed
    meshes = asset_metadata(result, "meshes")
    assert meshes["generated"] == 0 and "concept_art check not_blank failed" in meshes["blocked"]["rock_3d"]


def test_the_checks_are_declared_to_dagster_blocking_where_they_block():
    from ...conftest import REGISTRY

    specs = {spec.name: spec for spec in REGISTRY.definitions["concept_art"].check_specs}
    assert (specs["not_blank"].blocking, specs["not_constant"].blocking, specs["size_as_asked"].blocking) == \
        (True, True, False)
    tileable = {spec.name: spec for spec in REGISTRY.definitions["textures"].check_specs}["tileable"]
    assert tileable.blocking
