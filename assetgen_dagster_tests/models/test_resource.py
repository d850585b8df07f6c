import pytest

from assetgen_dagster.kinds.images.tiny import TINY_TEXT_TO_IMAGE_REPO as TEXT_TO_IMAGE_REPO
from assetgen_dagster.models import ModelLoader, ModelNotAllowedError, ModelNotCachedError
from assetgen_dagster.models.cache import MODEL_CACHE
from assetgen_dagster.models.devices import detect_device, dtype_for
from assetgen_dagster.tiny import snapshot_commit

from ..conftest import models


@pytest.fixture
def fresh_cache():
    MODEL_CACHE.clear()
    yield MODEL_CACHE
    MODEL_CACHE.clear()


def test_loads_once_then_serves_from_cache(tiny_kit, fresh_cache):
    loader = models()
    with loader.use("concept_art") as first:
        assert first.cache_state == "warm"  # on disk already (the tiny kit), loaded now
        assert first.commit == snapshot_commit(TEXT_TO_IMAGE_REPO)
        assert (first.device, first.dtype) == ("cpu", "float32")
        assert type(first.pipeline).__name__ == "StableDiffusionPipeline"
    # a new resource object (as each Dagster run makes) and another kind on the same model
    with models().use("sprite") as second:
        assert second.cache_state == "hot"
        assert second.pipeline is first.pipeline
        assert second.load_seconds < first.load_seconds
    assert fresh_cache.loads == 1
    assert first.provenance() == {
        "model": TEXT_TO_IMAGE_REPO, "revision": first.commit, "pipeline": "StableDiffusionPipeline",
        "license": "random weights built locally; test use only", "dtype": "float32", "device": "cpu",
    }


def test_a_resolved_model_loads_its_commit_even_if_the_branch_moves(tiny_kit, fresh_cache, tmp_path, monkeypatch):
    import shutil

    from assetgen_dagster.tiny import hub_cache_dir, install_snapshot

    source = hub_cache_dir() / f"models--{TEXT_TO_IMAGE_REPO.replace('/', '--')}" / "snapshots" / \
        snapshot_commit(TEXT_TO_IMAGE_REPO)
    install_snapshot("studio/moving", "a" * 40, lambda folder: shutil.copytree(source, folder, dirs_exist_ok=True))
    monkeypatch.setenv("ASSETGEN_ALLOWED_REPOS", "studio/*")
    user = tmp_path / "catalog.yaml"
    user.write_text("concept_art: {repo_id: studio/moving, license: test}\n")
    loader = models(ModelLoader(catalog_path=str(user)))
    resolved = loader.resolve("concept_art")
    assert resolved.commit == "a" * 40
    install_snapshot("studio/moving", "b" * 40, lambda folder: shutil.copytree(source, folder, dirs_exist_ok=True))
    assert loader.resolve("concept_art") is resolved  # resolved once per resource (one run)
    with loader.use(resolved) as model:
        assert model.commit == "a" * 40  # the weights match the identity recorded for the outputs
    next_run = models(ModelLoader(catalog_path=str(user)))
    assert next_run.resolve("concept_art").commit == "b" * 40  # the next run moves on


def test_allow_list_refuses_unknown_repos(tmp_path, monkeypatch, fresh_cache):
    user = tmp_path / "catalog.yaml"
    user.write_text("concept_art: {repo_id: someone/unvetted-model}\n")
    loader = models(ModelLoader(catalog_path=str(user)))
    with pytest.raises(ModelNotAllowedError, match="someone/unvetted-model is not on the model allow-list"):
        with loader.use("concept_art"):
            pass
    assert fresh_cache.loads == 0
    # a studio that vetted it opts in; offline and uncached, it then fails saying how to pre-fetch
    monkeypatch.setenv("ASSETGEN_ALLOWED_REPOS", "someone/*")
    with pytest.raises(ModelNotCachedError, match="hf download someone/unvetted-model"):
        with loader.use("concept_art"):
            pass


def test_explicit_device_and_dtype_rules():
    assert detect_device("auto") == "cpu"  # these machines have no GPU
    assert detect_device("cuda:1") == "cuda:1"
    assert dtype_for("cpu", "float16") == "float32"
    assert dtype_for("cuda", "float16") == "float16"
    assert dtype_for("mps", "bfloat16") == "float16"
