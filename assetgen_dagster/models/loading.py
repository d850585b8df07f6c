"""Fetch a catalog model through the Hugging Face cache and build its pipeline.

The only place that calls ``from_pretrained``: safetensors only, never remote code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assetgen_dagster import settings, tiny
from assetgen_dagster.catalog import ModelSpec
from assetgen_dagster.models.errors import (
    ModelDownloadError,
    ModelNotCachedError,
    ModelUnavailableError,
    UnsupportedModelError,
)

# Configs, tokenizers and safetensors weights; never pickles (.bin/.ckpt/.pt), onnx or flax.
DIFFUSERS_PATTERNS = ["model_index.json", "*/*.json", "*/*.txt", "*/*.model", "*/*.safetensors"]
TRANSFORMERS_PATTERNS = ["*.json", "*.txt", "*.model", "*.safetensors"]
TRANSFORMERS_TASKS = {"depth-estimation"}


@dataclass(frozen=True)
class Snapshot:
    """A model revision present in the local cache."""

    path: Path
    commit: str


def fetch_snapshot(spec: ModelSpec) -> Snapshot:
    """Make ``spec``'s files present in the hub cache (downloading unless offline) and resolve its commit."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if tiny.is_tiny_repo(spec.repo_id):
        tiny.ensure_tiny_model(spec.repo_id)
    offline = settings.hub_offline() or tiny.is_tiny_repo(spec.repo_id)
    patterns = TRANSFORMERS_PATTERNS if spec.pipeline in TRANSFORMERS_TASKS else DIFFUSERS_PATTERNS
    try:
        folder = snapshot_download(
            repo_id=spec.repo_id,
            revision=spec.revision,
            allow_patterns=patterns,
            local_files_only=offline,
        )
    except LocalEntryNotFoundError as exc:
        if offline:
            raise ModelNotCachedError(
                f"{spec.repo_id}@{spec.revision} is not in the Hugging Face cache and HF_HUB_OFFLINE=1. "
                f"Pre-fetch it on a machine with network access (`hf download {spec.repo_id} "
                f"--revision {spec.revision}`) into the same HF_HOME, or unset HF_HUB_OFFLINE."
            ) from exc
        raise ModelDownloadError(f"could not download {spec.repo_id}@{spec.revision}: {exc}") from exc
    except (RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError) as exc:
        raise ModelUnavailableError(
            f"{spec.repo_id}@{spec.revision} cannot be fetched: {type(exc).__name__}. Check the repo id and "
            f"revision in the catalog; for a gated repo accept its terms on the hub and set HF_TOKEN."
        ) from exc
    except HfHubHTTPError as exc:
        raise ModelDownloadError(f"hub error while fetching {spec.repo_id}@{spec.revision}: {exc}") from exc
    path = Path(folder)
    return Snapshot(path=path, commit=path.name)


def build_pipeline(spec: ModelSpec, snapshot: Snapshot, device: str, dtype: str) -> Any:
    """Instantiate the catalog's pipeline class from a cached snapshot, on ``device`` in ``dtype``."""
    import torch

    torch_dtype = getattr(torch, dtype)
    if spec.pipeline in TRANSFORMERS_TASKS:
        import transformers

        return transformers.pipeline(
            spec.pipeline, model=str(snapshot.path), device=device, dtype=torch_dtype,
            trust_remote_code=False,
        )
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()  # per-component bars are noise in run logs
    transformers.utils.logging.disable_progress_bar()
    pipeline_class = getattr(diffusers, spec.pipeline, None)
    if pipeline_class is None:
        raise UnsupportedModelError(f"diffusers has no pipeline class {spec.pipeline!r}")
    _require_safetensors(snapshot.path, spec)
    pipe = pipeline_class.from_pretrained(
        snapshot.path, dtype=torch_dtype, use_safetensors=True, local_files_only=True
    )
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _require_safetensors(folder: Path, spec: ModelSpec) -> None:
    if not any(folder.rglob("*.safetensors")):
        raise UnsupportedModelError(
            f"{spec.repo_id}@{spec.revision} has no safetensors weights; pickle formats are refused. "
            f"Choose a repo that publishes .safetensors files."
        )
