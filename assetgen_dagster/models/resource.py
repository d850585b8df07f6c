"""``ModelLoader``: the one Dagster resource through which every asset reaches a model.

It resolves an asset kind to a catalog entry, checks the allow-list, fetches the weights through the
Hugging Face cache, builds the pipeline on the chosen device and dtype, and keeps it loaded for the
rest of the process.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Optional

from dagster import ConfigurableResource
from pydantic import Field

from assetgen_dagster import settings
from assetgen_dagster.catalog import Catalog, ModelSpec, load_catalog
from assetgen_dagster.models.cache import MODEL_CACHE, CachedModel
from assetgen_dagster.models.devices import detect_device, dtype_for
from assetgen_dagster.models.errors import ModelNotAllowedError

# Repos a studio can use without further review: the built-in catalog's models and the tiny kit.
DEFAULT_ALLOWED_REPOS = [
    "stabilityai/sd-turbo",
    "stabilityai/sdxl-turbo",
    "stabilityai/stable-diffusion-xl-base-1.0",
    "black-forest-labs/FLUX.1-schnell",
    "openai/shap-e",
    "depth-anything/Depth-Anything-V2-Small-hf",
    "assetgen-tiny/*",
]


@dataclass(frozen=True)
class LoadedModel:
    """A pipeline ready to use, with what provenance and metadata need to know about it."""

    kind: str
    spec: ModelSpec
    pipeline: Any
    commit: str
    device: str
    dtype: str
    load_seconds: float
    cache_state: str  # "hot": already loaded in this process; "cold": loaded now

    def provenance(self) -> dict[str, Any]:
        return {
            "model": self.spec.repo_id,
            "revision": self.commit,
            "pipeline": self.spec.pipeline,
            "dtype": self.dtype,
            "device": self.device,
        }


class ModelLoader(ConfigurableResource):
    """Loads catalog models from Hugging Face (cache first), once per process, on the best device."""

    device: str = Field(default="auto", description="auto (cuda, then mps, then cpu), or a torch device.")
    profile: Optional[str] = Field(
        default=None, description="Catalog profile; default ASSETGEN_PROFILE, else 'default'."
    )
    catalog_path: Optional[str] = Field(
        default=None, description="User catalog YAML; default ASSETGEN_CATALOG."
    )
    allowed_repos: list[str] = Field(
        default=DEFAULT_ALLOWED_REPOS,
        description="Repo ids or fnmatch patterns that may be loaded; ASSETGEN_ALLOWED_REPOS adds more.",
    )

    def catalog(self) -> Catalog:
        from pathlib import Path

        override = Path(self.catalog_path) if self.catalog_path else None
        return load_catalog(self.profile, override)

    def spec(self, kind: str) -> ModelSpec:
        return self.catalog().spec(kind)

    def check_allowed(self, repo_id: str) -> None:
        patterns = [*self.allowed_repos, *settings.extra_allowed_repos()]
        if not any(fnmatch.fnmatchcase(repo_id, pattern) for pattern in patterns):
            raise ModelNotAllowedError(
                f"{repo_id} is not on the model allow-list. If your studio has reviewed it, add it to "
                f"ASSETGEN_ALLOWED_REPOS (comma separated) or to the resource's allowed_repos."
            )

    @contextmanager
    def use(self, kind: str) -> Iterator[LoadedModel]:
        """Lend the loaded model for ``kind`` for the duration of the ``with`` block."""
        spec = self.spec(kind)
        self.check_allowed(spec.repo_id)
        device = detect_device(self.device)
        dtype = dtype_for(device, spec.dtype)
        key = (spec.repo_id, spec.revision, spec.pipeline, dtype, device)

        def load() -> CachedModel:
            from assetgen_dagster.models.loading import build_pipeline, fetch_snapshot

            started = time.perf_counter()
            snapshot = fetch_snapshot(spec)
            pipeline = build_pipeline(spec, snapshot, device, dtype)
            return CachedModel(pipeline, snapshot.commit, time.perf_counter() - started)

        started = time.perf_counter()
        cached, hit = MODEL_CACHE.get_or_load(key, load)
        yield LoadedModel(
            kind=kind,
            spec=spec,
            pipeline=cached.pipeline,
            commit=cached.commit,
            device=device,
            dtype=dtype,
            load_seconds=(time.perf_counter() - started) if hit else cached.load_seconds,
            cache_state="hot" if hit else "cold",
        )
