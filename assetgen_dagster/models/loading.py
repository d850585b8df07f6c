"""Build a pipeline from a cached snapshot: the only place that calls ``from_pretrained``.

The loader's allow-list of what it builds: a model role names its library and each catalog entry
names a pipeline of it, which :func:`check_pipeline` admits or refuses (the registry checks every
role's entries when it is built, the catalog checks user overrides, both before anything is
downloaded). Admitted are the pipeline classes the installed diffusers exports (``...Pipeline`` and
the ``AutoPipelineFor...`` classes: diffusers loads their components from safetensors and runs no
repo code) and a reviewed list of transformers pipeline tasks. A new model family of a known library
therefore needs no change here, only a role that names it.
Safetensors only, never remote code; torch speed settings applied here and recorded by the caller.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from assetgen_dagster.models.errors import UnsupportedModelError
from assetgen_dagster.models.quiet import quiet_libraries

if TYPE_CHECKING:
    from assetgen_dagster.models.catalog import ModelSpec
    from assetgen_dagster.models.downloads import Snapshot

Library = Literal["diffusers", "transformers"]
LIBRARIES: tuple[Library, ...] = ("diffusers", "transformers")

# A diffusers pipeline class, named as diffusers exports it (checked against diffusers when built).
_DIFFUSERS_CLASS = re.compile(r"^(AutoPipelineFor(Text2Image|Image2Image|Inpainting)|[A-Z][A-Za-z0-9]*Pipeline)$")

# transformers pipeline tasks the loader builds (``transformers.pipeline(task)``, never remote code).
TRANSFORMERS_TASKS = frozenset({
    "audio-classification", "automatic-speech-recognition", "depth-estimation", "feature-extraction",
    "image-classification", "image-feature-extraction", "image-segmentation", "image-text-to-text",
    "mask-generation", "object-detection", "text-classification", "text-generation", "text-to-audio",
    "text-to-speech", "token-classification", "zero-shot-audio-classification", "zero-shot-classification",
    "zero-shot-image-classification", "zero-shot-object-detection",
})


@functools.cache
def diffusers_pipeline_classes() -> frozenset[str]:
    """The pipeline class names the installed diffusers exports, read from its package's lazy-import
    table without importing it (``import diffusers`` takes seconds; this takes ~10 ms)."""
    spec = importlib.util.find_spec("diffusers")
    if spec is None or spec.origin is None:
        return frozenset()
    with open(spec.origin, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    names = (node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str))
    return frozenset(name for name in names if _DIFFUSERS_CLASS.match(name))


def check_pipeline(library: str, name: str) -> None:
    """Refuse (UnsupportedModelError) a pipeline the loader will not build."""
    if library == "diffusers":
        if not isinstance(name, str) or not _DIFFUSERS_CLASS.match(name):
            raise UnsupportedModelError(f"{name!r} is not a diffusers pipeline class (a name like "
                                        f"StableDiffusionPipeline or AutoPipelineForText2Image)")
        if name not in diffusers_pipeline_classes():
            raise UnsupportedModelError(f"the installed diffusers has no pipeline class {name!r}")
    elif library == "transformers":
        if name not in TRANSFORMERS_TASKS:
            raise UnsupportedModelError(f"{name!r} is not a transformers pipeline task the loader builds "
                                        f"({', '.join(sorted(TRANSFORMERS_TASKS))})")
    else:
        raise UnsupportedModelError(f"library {library!r} is not one the loader builds ({', '.join(LIBRARIES)})")


def companion_repos(folder: Path) -> list[str]:
    """Repos a snapshot's own files say to load beside it: a processor's audio codec (Dia names
    ``descript/dac_44khz`` in processor_config.json). Empty for everything else."""
    config = folder / "processor_config.json"
    if not config.is_file():
        return []
    codec = json.loads(config.read_text()).get("audio_tokenizer") or {}
    name = codec.get("audio_tokenizer_name_or_path") if isinstance(codec, dict) else None
    return [name] if isinstance(name, str) and name else []


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
    quiet_libraries()  # before torch, diffusers and transformers load: their notices are noise in run logs
    import torch

    check_pipeline(spec.library, spec.pipeline)
    torch_dtype = getattr(torch, dtype)
    if device.startswith("cuda") and torch_settings.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True  # Ampere+ tensor cores for float32 matmuls
        torch.backends.cudnn.allow_tf32 = True
    if spec.library == "transformers":
        return _transformers_task(spec, snapshot, device, torch_dtype)
    return _diffusers_pipeline(spec, snapshot, device, torch_dtype, torch_settings)


def _transformers_task(spec: ModelSpec, snapshot: Snapshot, device: str, torch_dtype: Any) -> Any:
    import transformers

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

    quiet_libraries()  # diffusers decides its progress bars after import
    pipeline_class = getattr(diffusers, spec.pipeline, None)
    if not isinstance(pipeline_class, type) or not (spec.pipeline.startswith("AutoPipelineFor")
                                                    or issubclass(pipeline_class, diffusers.DiffusionPipeline)):
        raise UnsupportedModelError(f"diffusers {diffusers.__version__} has no pipeline class {spec.pipeline!r}")
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
