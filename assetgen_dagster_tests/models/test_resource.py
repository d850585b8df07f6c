import pytest

from assetgen_dagster.kinds.images.tiny import TINY_TEXT_TO_IMAGE_REPO as TEXT_TO_IMAGE_REPO
from assetgen_dagster.models import ModelLoader, ModelNotAllowedError, ModelNotCachedError
from assetgen_dagster.models.cache import MODEL_CACHE
from assetgen_dagster.models.devices import detect_device, device_key, dtype_for
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
    import torch

    if not torch.cuda.is_available() and not torch.backends.mps.is_available():
        assert detect_device("auto") == "cpu"  # only where no accelerator is visible
    else:
        assert detect_device("auto") in ("cuda", "mps")
    assert detect_device("cuda:1") == "cuda:1"
    assert dtype_for("cpu", "float16") == "float32"
    assert dtype_for("cuda", "float16") == "float16"
    assert dtype_for("mps", "bfloat16") == "float16"


def test_a_device_is_named_by_the_physical_gpu_every_process_sees(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert (device_key("cuda"), device_key("cuda:1"), device_key("cpu")) == ("cuda-3", "cuda-1", "cpu")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8a1c")  # a worker pinned by UUID
    assert device_key("cuda:0") == "cuda-GPU-8a1c"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert device_key("cuda:2") == "cuda-2"


def test_a_device_claim_waits_for_the_holder_and_says_whom(tmp_path):
    """Slots of one device are taken in turn; a waiter logs whom it waits for (threads here, processes
    in test_concurrency.py: an flock is per open file, so both exclude each other)."""
    import threading
    import time

    loader = ModelLoader(device_lock_dir=str(tmp_path))
    log, order = [], []
    first_holds, release_first = threading.Event(), threading.Event()

    def first():
        with loader.claim_device("cpu", "run one", log.append):
            order.append("one in")
            first_holds.set()
            release_first.wait(5)
            order.append("one out")

    thread = threading.Thread(target=first)
    thread.start()
    first_holds.wait(5)
    threading.Timer(0.3, release_first.set).start()
    started = time.monotonic()
    with loader.claim_device("cpu", "run two", log.append):
        order.append("two in")
    thread.join()
    assert order == ["one in", "one out", "two in"] and time.monotonic() - started >= 0.25
    assert any(line.startswith("waiting for device cpu: held by run one, pid") for line in log)
    assert [line.split(" after")[0] for line in log if "claimed" in line or "released" in line] == [
        "device cpu: claimed cpu.0.lock", "device cpu: released cpu.0.lock",
        "device cpu: claimed cpu.0.lock", "device cpu: released cpu.0.lock"]
    with ModelLoader(device_lock_dir=str(tmp_path), device_slots=2).claim_device("cpu", "a", log.append), \
            ModelLoader(device_lock_dir=str(tmp_path), device_slots=2).claim_device("cpu", "b", log.append):
        assert {path.name for path in tmp_path.iterdir()} == {"cpu.0.lock", "cpu.1.lock"}  # two slots, no wait
