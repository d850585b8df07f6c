"""Build a pipeline from a cached snapshot: the only place that calls ``from_pretrained``.

``PIPELINES`` is the one table of what the loader can build: a catalog ``pipeline`` name -> which
library loads it and how its repo is laid out (which files to fetch). Safetensors only, never
remote code; torch speed settings applied here and recorded by the caller.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from assetgen_dagster.models.errors import UnsupportedModelError

if TYPE_CHECKING:
    from assetgen_dagster.catalog import ModelSpec
    from assetgen_dagster.models.downloads import Snapshot


@dataclass(frozen=True)
class PipelineKind:
    """How one catalog ``pipeline`` loads.

    ``library``: ``diffusers`` (a pipeline class with components listed in model_index.json) or
    ``transformers-task`` (``transformers.pipeline(task)`` on a model at the repo root).
    """

    library: Literal["diffusers", "transformers-task"]

    @property
    def components(self) -> bool:
        """Whether the repo is a diffusers pipeline of component folders (else: files at the root)."""
        return self.library == "diffusers"


_DIFFUSERS = PipelineKind("diffusers")
_TASK = PipelineKind("transformers-task")

PIPELINES: dict[str, PipelineKind] = {
    "AutoPipelineForText2Image": _DIFFUSERS,
    "DiffusionPipeline": _DIFFUSERS,
    "StableDiffusionPipeline": _DIFFUSERS,
    "StableDiffusionXLPipeline": _DIFFUSERS,
    "FluxPipeline": _DIFFUSERS,
    "ShapEPipeline": _DIFFUSERS,
    "ShapEImg2ImgPipeline": _DIFFUSERS,  # image to 3D (the mesh kind's shape route)
    "StableAudioPipeline": _DIFFUSERS,  # sound effects (Stable Audio Open)
    "AceStepPipeline": _DIFFUSERS,  # music (ACE-Step 1.5)
    "depth-estimation": _TASK,
    "text-generation": _TASK,  # causal LMs (item texts, dialogue, translation): .model and .tokenizer are used
    "text-to-speech": _TASK,  # voice lines (Dia): its processor loads the audio codec repo it names
}


def pipeline_kind(name: str) -> PipelineKind:
    try:
        return PIPELINES[name]
    except KeyError:
        raise UnsupportedModelError(f"pipeline {name!r} is not one the loader builds ({', '.join(PIPELINES)})") from None


@dataclass(frozen=True)
class TorchSettings:
    """Speed settings that change how (not what) a model computes; each is recorded in metadata."""

    attention: str = "sdpa"  # "sdpa" (PyTorch scaled-dot-product) or "eager" (diffusers' plain processor)
    channels_last: bool = False
    compile: bool = False
    tf32: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_pipeline(spec: ModelSpec, snapshot: Snapshot, device: str, dtype: str,
                   torch_settings: TorchSettings) -> Any:
    """Instantiate the catalog's pipeline from ``snapshot`` on ``device`` in ``dtype``."""
    import torch

    kind = pipeline_kind(spec.pipeline)
    torch_dtype = getattr(torch, dtype)
    if device.startswith("cuda") and torch_settings.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True  # Ampere+ tensor cores for float32 matmuls
        torch.backends.cudnn.allow_tf32 = True
    if kind.library == "transformers-task":
        return _transformers_task(spec, snapshot, device, torch_dtype)
    return _diffusers_pipeline(spec, snapshot, device, torch_dtype, torch_settings)


def _transformers_task(spec: ModelSpec, snapshot: Snapshot, device: str, torch_dtype: Any) -> Any:
    import transformers

    from assetgen_dagster.models.downloads import companion_repos

    transformers.utils.logging.disable_progress_bar()
    extra = {}
    if companion_repos(snapshot.path):
        # The processor loads the repos its config names (a codec); the loader fetched them already,
        # so it reads them from the cache and never reaches for the hub on its own.
        extra["processor"] = transformers.AutoProcessor.from_pretrained(
            str(snapshot.path), local_files_only=True, trust_remote_code=False)
    return transformers.pipeline(
        spec.pipeline, model=str(snapshot.path), device=device, dtype=torch_dtype,
        trust_remote_code=False, model_kwargs={"use_safetensors": True}, **extra,
    )


def _diffusers_pipeline(spec: ModelSpec, snapshot: Snapshot, device: str, torch_dtype: Any,
                        torch_settings: TorchSettings) -> Any:
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()  # per-component bars are noise in run logs
    transformers.utils.logging.disable_progress_bar()
    pipeline_class = getattr(diffusers, spec.pipeline, None)
    if pipeline_class is None:
        raise UnsupportedModelError(f"diffusers has no pipeline class {spec.pipeline!r}")
    pipe = pipeline_class.from_pretrained(
        snapshot.path, dtype=torch_dtype, variant=snapshot.variant, use_safetensors=True,
        local_files_only=True,
    )
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    _apply_torch_settings(pipe, torch_settings)
    return pipe


def _apply_torch_settings(pipe: Any, settings: TorchSettings) -> None:
    import torch

    denoiser_name = "transformer" if getattr(pipe, "transformer", None) is not None else "unet"
    denoiser = getattr(pipe, denoiser_name, None)
    if denoiser is None:
        return
    if settings.attention == "eager" and hasattr(denoiser, "set_default_attn_processor"):
        denoiser.set_default_attn_processor()
    if settings.channels_last:
        denoiser.to(memory_format=torch.channels_last)
        vae = getattr(pipe, "vae", None)
        if vae is not None:
            vae.to(memory_format=torch.channels_last)
    if settings.compile:
        setattr(pipe, denoiser_name, torch.compile(denoiser, mode="max-autotune-no-cudagraphs"))
