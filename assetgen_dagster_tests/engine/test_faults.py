"""Faults injected into real runs; each test fails without the mechanism it tests."""

import pytest
import torch
from dagster import DagsterEventType

import assetgen_dagster.kinds.images.generate as images_module
from assetgen_dagster.models import ModelDownloadError, ModelLoader, Models
from assetgen_dagster.models.cache import MODEL_CACHE

from ..conftest import CONCEPT_BATCH, materialize_batch, write_batch


def run(partition, models=None, instance=None):
    return materialize_batch(["concept_art"], partition, instance=instance, models=models)


def attempts(instance, run_id):
    return sum(1 for r in instance.all_logs(run_id) if r.dagster_event and r.dagster_event.event_type in (
        DagsterEventType.STEP_START, DagsterEventType.STEP_RESTARTED))


def failure_text(result):
    [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    data = failure.step_failure_data
    text, error = data.user_failure_data.description if data.user_failure_data else "", data.error
    while error is not None:  # the message, then its causes (e.g. what exhausted the retries)
        text += "\n" + error.message
        error = error.cause
    return text


def test_cuda_oom_on_the_first_call_is_absorbed_by_the_ladder(tiny_kit, workdir, monkeypatch):
    write_batch(workdir / "prompts", "props", CONCEPT_BATCH)
    MODEL_CACHE.clear()  # a fresh pipeline starts in "full" mode
    real, calls = images_module.generate_chunk, []

    def oom_once(pipe, requests):
        calls.append(len(requests))
        if len(calls) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real(pipe, requests)

    monkeypatch.setattr(images_module, "generate_chunk", oom_once)
    result, instance = run("props")
    assert result.success and attempts(instance, result.run_id) == 1  # handled inside the step
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    model = metadata["models"].value["concept_art"]
    assert model["memory_mode"] == "sliced" and model["batch_size_used"] == 4
    assert calls == [3, 3, 1]  # the failed call (3 same-shape items), the same chunk sliced, the 3-step item
    MODEL_CACHE.clear()  # do not leave a sliced pipeline to the other tests


class BrokenHubModels(Models):
    def use(self, model, on_progress=None, adapters=()):
        raise ModelDownloadError("hub answered 503 Service Unavailable")


class BrokenHub(ModelLoader):
    """The real loader behind a hub that always answers 503."""

    def bind(self, roles, profile=None):
        return BrokenHubModels(**vars(super().bind(roles, profile)))


def test_persistent_transient_error_fails_after_max_retries_and_spares_other_batches(tiny_kit, workdir):
    write_batch(workdir / "prompts", "doomed", CONCEPT_BATCH)
    write_batch(workdir / "prompts", "fine", CONCEPT_BATCH)
    failed, instance = run("doomed", models=BrokenHub())
    assert not failed.success
    assert attempts(instance, failed.run_id) == 4  # first try + 3 retries with backoff
    text = failure_text(failed)
    assert "Exceeded max_retries of 3" in text and "hub answered 503" in text
    assert not (workdir / "outputs" / "doomed").exists()
    fine, _ = run("fine", instance=instance)
    assert fine.success
    assert len(list((workdir / "outputs" / "fine" / "concept_art").glob("*.png"))) == 4


def test_model_missing_offline_fails_once_naming_the_fix(tiny_kit, workdir, tmp_path, monkeypatch):
    write_batch(workdir / "prompts", "props", CONCEPT_BATCH)
    monkeypatch.setenv("ASSETGEN_ALLOWED_REPOS", "stabilityai/*")
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("concept_art: {repo_id: stabilityai/sdxl-turbo, pipeline: StableDiffusionXLPipeline}\n")
    result, instance = run("props", models=ModelLoader(catalog_path=str(catalog)))
    assert not result.success and attempts(instance, result.run_id) == 1
    text = failure_text(result)
    assert "ModelNotCachedError" in text and "assetgen-dagster models pull" in text and "HF_HUB_OFFLINE=1" in text
    assert "stabilityai/sdxl-turbo" in text


@pytest.mark.parametrize("bad", ["items: [\n", "items:\n  - {id: x, kind: concept_art, prompt: y, width: 9999}\n"])
def test_bad_input_is_not_retried(tiny_kit, workdir, bad):
    write_batch(workdir / "prompts", "bad", bad)
    result, instance = run("bad")
    assert not result.success and attempts(instance, result.run_id) == 1
    assert "bad.yaml" in failure_text(result)
