import numpy as np
import pytest
import torch

from assetgen_dagster.kinds.images.generate import ImageRequest, generate_images
from assetgen_dagster.models import ModelLoader, ModelOutOfMemoryError, ModelTooLargeError
from assetgen_dagster.models.cache import CachedModel, ModelCache
from assetgen_dagster.models.memory import (
    available_modes,
    estimate_weight_bytes,
    is_out_of_memory,
    module_bytes,
    run_with_memory_ladder,
)

from ..conftest import models

MB = 10**6


def key(name, device="cuda"):
    return (name, "main", "Pipe", "float16", device, "")


def model_of(size_mb):
    return CachedModel(pipeline={"size": size_mb * MB}, commit="c" * 40, variant=None,
                       load_seconds=0.0, cache_state="warm")


def fake_sizer(pipeline):
    return pipeline["size"]


def test_lru_evicts_least_recently_used_idle_models():
    cache = ModelCache(sizer=fake_sizer)
    budget = 1000 * MB
    for name in ("a", "b"):
        with cache.lease(key(name), lambda: model_of(400), budget, 400 * MB):
            pass
    with cache.lease(key("a"), lambda: model_of(400), budget):  # touch a: b is now LRU
        pass
    with cache.lease(key("c"), lambda: model_of(400), budget, 400 * MB):
        pass
    assert [k[0] for k in cache.keys()] == ["a", "c"]
    assert cache.evictions == 1 and cache.loads == 3
    assert cache.used_bytes("cuda") == 800 * MB


def test_leased_model_is_never_evicted():
    cache = ModelCache(sizer=fake_sizer)
    budget = 1000 * MB
    with cache.lease(key("busy"), lambda: model_of(700), budget, 700 * MB):
        with cache.lease(key("other"), lambda: model_of(700), budget, 700 * MB):
            assert {k[0] for k in cache.keys()} == {"busy", "other"}  # over budget, nothing evictable
        with pytest.raises(RuntimeError, match="in use"):
            cache.evict(key("busy"))
        with cache.lease(key("third"), lambda: model_of(200), budget, 200 * MB):
            pass  # "other" is idle now: evicted to make room, "busy" stays
    assert {k[0] for k in cache.keys()} == {"busy", "third"}


def test_budgets_are_per_device():
    cache = ModelCache(sizer=fake_sizer)
    with cache.lease(key("gpu"), lambda: model_of(900), 1000 * MB, 900 * MB):
        pass
    with cache.lease(key("cpu", device="cpu"), lambda: model_of(900), 1000 * MB, 900 * MB):
        pass
    assert len(cache.keys()) == 2


def test_fit_check_refuses_what_can_never_fit_and_offloads_what_can():
    loader = ModelLoader(memory_budget_gb=8.0, working_memory_gb=1.0)
    with pytest.raises(ModelTooLargeError, match="CPU budget is 8.0 GB"):
        loader.fit_check("big/model", int(7.5e9), "cpu")
    assert loader.fit_check("small/model", int(6e9), "cpu") == "full"
    assert loader.fit_check("small/model", int(6e9), "cuda") == "full"
    assert loader.fit_check("big/model", int(7.5e9), "cuda") == "model_offload"
    with pytest.raises(ModelTooLargeError, match="never run here"):
        ModelLoader(memory_budget_gb=0.5).fit_check("x/y", int(1e8), "cuda")  # working memory alone


def test_sizes_are_measured_from_tensors_and_headers(tiny_kit):
    from assetgen_dagster.models.downloads import fetch_snapshot, resolve_commit

    from ..conftest import REGISTRY

    spec = REGISTRY.roles.catalog("tiny").spec("concept_art")
    snapshot = fetch_snapshot(spec, resolve_commit(spec), "float32")
    estimated = estimate_weight_bytes(snapshot.path, snapshot.files, "float32")
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(snapshot.path, local_files_only=True)
    measured = module_bytes(pipe)
    assert 5 * MB < estimated < 10 * MB
    assert abs(measured - estimated) / estimated < 0.05
    assert estimate_weight_bytes(snapshot.path, snapshot.files, "float16") == estimated // 2



def test_a_load_that_converts_stored_weights_needs_the_largest_stored_file_beside_them(tiny_kit, tmp_path):
    """fp32 files run in fp32: nothing to convert. Run in fp16, each file is read whole before its
    tensors are converted: the largest file's stored bytes count, and the fit check sees them."""
    from safetensors.torch import save_file

    from assetgen_dagster.models.downloads import fetch_snapshot, resolve_commit
    from assetgen_dagster.models.memory import estimate_load_transient_bytes

    from ..conftest import REGISTRY

    spec = REGISTRY.roles.catalog("tiny").spec("concept_art")
    snapshot = fetch_snapshot(spec, resolve_commit(spec), "float32")
    assert estimate_load_transient_bytes(snapshot.path, snapshot.files, "float32") == 0
    largest = max((snapshot.path / name).stat().st_size for name in snapshot.files if name.endswith(".safetensors"))
    assert 0.95 * largest < estimate_load_transient_bytes(snapshot.path, snapshot.files, "float16") <= largest
    save_file({"big": torch.zeros(1000, 1000, dtype=torch.float16), "small": torch.zeros(10, dtype=torch.float16)},
              str(tmp_path / "a.safetensors"))
    save_file({"w": torch.zeros(100, 100, dtype=torch.float16)}, str(tmp_path / "b.safetensors"))
    assert estimate_load_transient_bytes(tmp_path, ["a.safetensors", "b.safetensors"], "float32") == 2_000_020
    assert estimate_load_transient_bytes(tmp_path, ["a.safetensors", "b.safetensors"], "float16") == 0
    loader = ModelLoader(memory_budget_gb=8.0, working_memory_gb=1.0)
    assert loader.fit_check("m/m", int(6.5e9), "cpu", load_transient_bytes=int(1.4e9)) == "full"
    with pytest.raises(ModelTooLargeError, match="needs ~8.2 GB"):  # 6.5 + 1.7 converted on load > 8
        loader.fit_check("m/m", int(6.5e9), "cpu", load_transient_bytes=int(1.7e9))


class OOMAbove:
    """The tiny pipeline, but any call with more than ``limit`` pixels in flight raises CUDA OOM,
    unless attention slicing is on and ``sliced_limit`` allows it."""

    def __init__(self, pipe, limit, sliced_limit=None):
        self.pipe, self.limit, self.sliced_limit = pipe, limit, sliced_limit
        self.sliced = False
        self.calls = []

    def enable_attention_slicing(self):
        self.sliced = True

    def __call__(self, **kwargs):
        pixels = len(kwargs["prompt"]) * kwargs["width"] * kwargs["height"]
        self.calls.append(len(kwargs["prompt"]))
        limit = self.sliced_limit if self.sliced and self.sliced_limit else self.limit
        if pixels > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.pipe(**kwargs)


@pytest.fixture(scope="module")
def tiny_pipe(tiny_kit):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained("assetgen-tiny/text-to-image", local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


REQUESTS = [ImageRequest(prompt=f"p{n}", seed=n, steps=2, guidance=0.0, width=64, height=64)
            for n in range(4)]


def test_same_call_fails_without_the_ladder_and_succeeds_with_it(tiny_pipe):
    wrapped = OOMAbove(tiny_pipe, limit=64 * 64)  # only one image at a time fits
    with pytest.raises(torch.cuda.OutOfMemoryError):
        generate_images(wrapped, REQUESTS, batch_size=4)
    images, outcome = run_with_memory_ladder(
        wrapped, "cpu", lambda bs: generate_images(wrapped, REQUESTS, bs), batch_size=4
    )
    assert len(images) == 4 and all(im.size == (64, 64) for im in images)
    assert (outcome.memory_mode, outcome.batch_size_used) == ("sliced", 1)
    assert outcome.steps_down == [
        "out of memory in mode full: trying sliced",
        "out of memory in mode sliced: trying batch size 2",
        "out of memory in mode sliced: trying batch size 1",
    ]
    reference = generate_images(tiny_pipe, REQUESTS, 1)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(images, reference))


def test_ladder_stops_at_the_first_mode_that_works(tiny_pipe):
    wrapped = OOMAbove(tiny_pipe, limit=0, sliced_limit=4 * 64 * 64)
    _, outcome = run_with_memory_ladder(wrapped, "cpu", lambda bs: generate_images(wrapped, REQUESTS, bs), 4)
    assert (outcome.memory_mode, outcome.batch_size_used) == ("sliced", 4)


def test_ladder_gives_up_with_a_resource_error(tiny_pipe):
    wrapped = OOMAbove(tiny_pipe, limit=0)
    with pytest.raises(ModelOutOfMemoryError, match="even with sliced and batch size 1"):
        run_with_memory_ladder(wrapped, "cpu", lambda bs: generate_images(wrapped, REQUESTS, bs), 4)


def test_other_errors_are_not_swallowed(tiny_pipe):
    def broken(batch_size):
        raise ValueError("a bug, not memory")

    with pytest.raises(ValueError, match="a bug"):
        run_with_memory_ladder(tiny_pipe, "cpu", broken, 4)


def test_oom_detection_and_modes_per_device():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert available_modes("cpu") == ["full", "sliced"]
    assert available_modes("cuda:0") == ["full", "sliced", "model_offload", "sequential_offload"]


def test_a_retry_starts_from_the_mode_that_worked(tiny_kit, monkeypatch):
    from assetgen_dagster.models.cache import MODEL_CACHE

    MODEL_CACHE.clear()
    loader = models()
    with loader.use("concept_art") as model:
        model.entry.pipeline = OOMAbove(model.entry.pipeline, limit=0, sliced_limit=10**9)
        model.run(lambda bs: generate_images(model.pipeline, REQUESTS, bs), batch_size=4)
        assert model.memory_mode == "sliced" and model.metadata()["memory_mode"] == "sliced"
    with loader.use("concept_art") as again:
        assert again.memory_mode == "sliced"  # remembered by the cached model
        calls_before = len(again.pipeline.calls)
        again.run(lambda bs: generate_images(again.pipeline, REQUESTS, bs), batch_size=4)
        assert len(again.pipeline.calls) == calls_before + 1  # no failed attempt in "full" first
    MODEL_CACHE.clear()


def test_the_ladder_puts_the_real_diffusers_pipeline_into_each_rung(tiny_kit):
    """Not a wrapper: the pipeline's own state after the step down (its VAE slices and tiles, its
    UNet's attention runs sliced) and the call that failed in full mode succeeds on that object."""
    from diffusers import DiffusionPipeline
    from diffusers.models.attention_processor import AttnProcessor2_0, SlicedAttnProcessor

    from assetgen_dagster.models.memory import available_modes, run_with_memory_ladder

    pipe = DiffusionPipeline.from_pretrained("assetgen-tiny/text-to-image", local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    assert not pipe.vae.use_slicing and not pipe.vae.use_tiling
    assert all(isinstance(p, AttnProcessor2_0) for p in pipe.unet.attn_processors.values())

    def call(batch_size):  # out of memory until the pipeline itself is sliced
        if not pipe.vae.use_slicing:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return generate_images(pipe, REQUESTS[:batch_size], batch_size)

    images, outcome = run_with_memory_ladder(pipe, "cpu", call, batch_size=2)
    assert outcome.memory_mode == "sliced" and len(images) == 2 and outcome.steps_down
    assert pipe.vae.use_slicing and pipe.vae.use_tiling
    assert all(isinstance(p, SlicedAttnProcessor) for p in pipe.unet.attn_processors.values())
    assert available_modes("cpu") == ["full", "sliced"]  # offload needs an accelerator to offload from
    assert available_modes("cuda:0") == ["full", "sliced", "model_offload", "sequential_offload"]

    # The accelerator rungs, on the same object: model offload hooks each component to move it to the
    # GPU for its forward and back (accelerate's hooks, set up without touching the GPU); sequential
    # offload moves weights to the meta device, which needs CUDA itself, so it is checked where there is one.
    from assetgen_dagster.models.memory import apply_memory_mode

    apply_memory_mode(pipe, "model_offload", "cuda:0")
    assert str(pipe._offload_device) == "cuda:0"
    assert {type(getattr(pipe, name)._hf_hook).__name__ for name in ("unet", "vae", "text_encoder")} == {"CpuOffload"}
    if torch.cuda.is_available():
        apply_memory_mode(pipe, "sequential_offload", "cuda:0")
        assert pipe.unet.conv_in.weight.device.type == "meta"  # the weights live on the CPU until a forward
