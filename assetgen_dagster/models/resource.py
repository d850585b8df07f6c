"""``ModelLoader``: the one Dagster resource through which every asset reaches a model.

The resource holds configuration (device, budget, speed settings, a user catalog). Bound to the
registered model roles and a profile (:meth:`ModelLoader.bind`, which the engine does with the
registry it was handed), it resolves a role to a catalog entry, checks the allow-list, fetches
exactly the needed files through the Hugging Face cache, refuses a model that can never fit, builds
the pipeline on the chosen device and dtype, and keeps it loaded (LRU within a memory budget) for
the rest of the process. Generation calls go through the out-of-memory ladder.
"""

from __future__ import annotations

import fnmatch
import logging
import resource as os_resource
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Optional, TypeVar

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from assetgen_dagster import settings
from assetgen_dagster.locks import hold_one
from assetgen_dagster.models.cache import MODEL_CACHE, CachedModel
from assetgen_dagster.models.catalog import Catalog, ModelRoles, ModelSpec
from assetgen_dagster.models.devices import detect_device, device_key, dtype_for
from assetgen_dagster.models.downloads import card_license, commit_of, fetch_file, fetch_snapshot, resolve_commit
from assetgen_dagster.models.errors import ModelNotAllowedError, ModelTooLargeError, UnsupportedModelError
from assetgen_dagster.models.loading import TorchSettings, build_pipeline, companion_repos
from assetgen_dagster.models.memory import (
    apply_memory_mode,
    device_total_bytes,
    estimate_weight_bytes,
    estimate_weights,
    run_with_memory_ladder,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
GB = 1e9


@dataclass(frozen=True)
class ResolvedModel:
    """A catalog model pinned to a commit, device and dtype: what an output's identity depends on,
    and exactly what ``ModelLoader.use`` loads."""

    role: str
    spec: ModelSpec
    commit: str
    device: str
    dtype: str

    def identity(self) -> dict[str, str]:
        return {"model": self.spec.repo_id, "revision": self.commit, "dtype": self.dtype, "device": self.device}


@dataclass(frozen=True)
class Adapter:
    """An adapter file pinned to a commit, in the hub cache."""

    repo_id: str
    commit: str
    filename: str
    path: Path
    license: str  # as the repo's model card declares it


@dataclass
class LoadedModel:
    """A pipeline lent to an asset, with what provenance and metadata need to know about it."""

    role: str
    spec: ModelSpec
    entry: CachedModel
    device: str
    dtype: str
    cache_state: str  # "hot": already loaded; "warm": loaded from disk; "cold": downloaded first
    load_seconds: float
    torch_settings: TorchSettings
    memory_mode: str = "full"
    batch_size_used: int | None = None

    @property
    def pipeline(self) -> Any:
        return self.entry.pipeline

    @property
    def commit(self) -> str:
        return self.entry.commit

    def run(self, call: Callable[[int], T], batch_size: int,
            on_step_down: Callable[[str], None] | None = None) -> T:
        """``call(batch_size)`` through the out-of-memory ladder, starting from the mode that worked
        last time for this model and, within this use, from the batch size that last worked;
        records both."""
        if self.batch_size_used is not None:
            batch_size = min(batch_size, self.batch_size_used)
        result, outcome = run_with_memory_ladder(
            self.pipeline, self.device, call, batch_size, self.entry.memory_mode, on_step_down
        )
        self.entry.memory_mode = self.memory_mode = outcome.memory_mode
        self.batch_size_used = outcome.batch_size_used
        return result

    def _companions(self) -> dict[str, Any]:
        """``{"companions": {repo: commit}}`` when repos were loaded beside the model (a codec), else nothing."""
        return {"companions": dict(self.entry.companions)} if self.entry.companions else {}

    def provenance(self) -> dict[str, Any]:
        return {
            "model": self.spec.repo_id,
            "revision": self.commit,
            "pipeline": self.spec.pipeline,
            "license": self.spec.license,
            "dtype": self.dtype,
            "device": self.device,
            **self._companions(),
        }

    def metadata(self) -> dict[str, Any]:
        """What a person wants to see about this model use in the Dagster UI."""
        return {
            "model": self.spec.repo_id,
            "revision": self.commit,
            "variant": self.entry.variant or "default",
            "license": self.spec.license,
            "pipeline": self.spec.pipeline,
            **self._companions(),
            "device": self.device,
            "dtype": self.dtype,
            "cache_state": self.cache_state,
            "download_mb": round(self.entry.download_bytes / 1e6, 1) if self.cache_state == "cold" else 0.0,
            "download_seconds": round(self.entry.download_seconds, 3) if self.cache_state == "cold" else 0.0,
            "load_seconds": round(self.load_seconds, 3),
            "model_mb": round(self.entry.size_bytes / 1e6, 1),
            "memory_mode": self.memory_mode,
            "batch_size_used": self.batch_size_used,
            "peak_memory_mb": round(peak_memory_bytes(self.device) / 1e6, 1),
            "torch_settings": self.torch_settings.as_dict(),
        }


def peak_memory_bytes(device: str) -> int:
    """CUDA: max allocated since the model use began. Elsewhere: the process's peak RSS."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.max_memory_allocated(torch.device(device))
    return os_resource.getrusage(os_resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


class ModelLoader(ConfigurableResource):
    """Loads catalog models from Hugging Face (cache first), once per process, within a memory budget.
    Assets call it bound to the registry's model roles (:meth:`bind`)."""

    device: str = Field(default="auto", description="auto (cuda, then mps, then cpu), or a torch device.")
    catalog_path: Optional[str] = Field(default=None, description="User catalog YAML; default ASSETGEN_CATALOG.")
    allowed_repos: list[str] = Field(
        default=[],
        description="Repo ids or fnmatch patterns that may be loaded besides the kinds' reviewed models "
                    "(ModelRoles.allowed_repos()); ASSETGEN_ALLOWED_REPOS adds more.",
    )
    memory_budget_gb: Optional[float] = Field(
        default=None, description="Memory models may use on the device; default: device total minus the margin."
    )
    safety_margin_gb: float = Field(default=2.0, description="Kept free for other processes and fragmentation.")
    working_memory_gb: float = Field(
        default=1.0, description="Activations etc. a generation needs beyond the weights (fit check)."
    )
    attention: Literal["sdpa", "eager"] = Field(default="sdpa", description="Attention implementation.")
    channels_last: bool = Field(default=False, description="channels_last memory format for UNet/VAE.")
    compile: bool = Field(default=False, description="torch.compile the denoiser (slow first call).")
    tf32: bool = Field(default=True, description="TF32 matmuls on Ampere+ GPUs.")
    device_lock_dir: Optional[str] = Field(
        default=None, description="Folder of the per-device locks every process on this machine shares; "
                                  "default ASSETGEN_DEVICE_LOCK_DIR or <tmp>/assetgen-devices.")
    device_slots: Optional[int] = Field(
        default=None, description="Model users one device takes at once; default ASSETGEN_DEVICE_SLOTS or 1.")

    _resolved: dict[tuple[str, str], ResolvedModel] = PrivateAttr(default_factory=dict)

    def bind(self, roles: ModelRoles, profile: str | None = None) -> Models:
        """This loader for the given model roles (the registry's) in ``profile`` (default ASSETGEN_PROFILE)."""
        return Models(self, roles, profile or settings.profile())

    def torch_settings(self) -> TorchSettings:
        return TorchSettings(self.attention, self.channels_last, self.compile, self.tf32)

    @contextmanager
    def claim_device(self, device: str, holder: str, log: Callable[[str], None]) -> Iterator[str]:
        """Hold one of ``device``'s slots (default one) for the block, across processes: a model step
        on a device never overlaps another process's, whatever the run storage (an flock per slot,
        which the kernel drops when the holder dies). Logs when it was got and when released."""
        key = device_key(device)
        folder = Path(self.device_lock_dir) if self.device_lock_dir else settings.device_lock_dir()
        slots = self.device_slots or settings.device_slots()
        paths = [folder / f"{key}.{slot}.lock" for slot in range(slots)]
        with hold_one(paths, holder, log, f"device {key}") as (slot, waited):
            log(f"device {key}: claimed {slot.name} after waiting {waited:.2f} s")
            started = time.monotonic()
            try:
                yield key
            finally:
                log(f"device {key}: released {slot.name} after {time.monotonic() - started:.2f} s")

    def budget_bytes(self, device: str) -> int:
        if self.memory_budget_gb is not None:
            return int(self.memory_budget_gb * GB)
        return max(0, device_total_bytes(device) - int(self.safety_margin_gb * GB))

    def working_bytes(self, load_transient_bytes: int = 0) -> int:
        """What a model needs beyond its weights: the larger of the working memory a generation takes
        and what its load holds while converting stored weights (gone before it generates)."""
        return max(int(self.working_memory_gb * GB), load_transient_bytes)

    def fit_check(self, repo_id: str, weight_bytes: int, device: str, load_transient_bytes: int = 0) -> str:
        """Refuse a model that can never fit; return the memory mode to start in.

        Beyond the weights a model needs the larger of its working memory (generation) and what its
        load holds while converting stored weights to the run dtype (gone before it generates). On
        an accelerator, weights larger than the budget can still run with CPU offload as long as
        host RAM holds them, so the ladder then starts at ``model_offload``.
        """
        working = self.working_bytes(load_transient_bytes)
        budget = self.budget_bytes(device)
        if device.startswith("cpu"):
            if weight_bytes + working > budget:
                raise ModelTooLargeError(
                    f"{repo_id} needs ~{(weight_bytes + working) / GB:.1f} GB (weights + working memory or "
                    f"what its load converts) "
                    f"but the CPU budget is {budget / GB:.1f} GB. Use a smaller model or a machine with more RAM."
                )
            return "full"
        host_budget = self.budget_bytes("cpu") if self.memory_budget_gb is None else budget
        if working > budget or weight_bytes > host_budget:
            raise ModelTooLargeError(
                f"{repo_id} needs {weight_bytes / GB:.1f} GB of weights and ~{working / GB:.1f} GB working "
                f"memory; {device} has a {budget / GB:.1f} GB budget and host RAM {host_budget / GB:.1f} GB, "
                f"so it can never run here, not even offloaded."
            )
        return "full" if weight_bytes + working <= budget else "model_offload"


@dataclass
class Models:
    """A :class:`ModelLoader` bound to the registered model roles and a profile: what assets, the
    worker's preload and the CLI call to resolve and use models."""

    loader: ModelLoader
    roles: ModelRoles
    profile: str

    def catalog(self) -> Catalog:
        path = self.loader.catalog_path or settings.catalog_override_path()
        return self.roles.catalog(self.profile, Path(path) if path else None)

    def spec(self, role: str) -> ModelSpec:
        return self.catalog().spec(role)

    def check_allowed(self, repo_id: str) -> None:
        patterns = [*self.roles.allowed_repos(), *self.loader.allowed_repos, *settings.extra_allowed_repos()]
        if not any(fnmatch.fnmatchcase(repo_id, pattern) for pattern in patterns):
            raise ModelNotAllowedError(
                f"{repo_id} is not on the model allow-list. If your studio has reviewed it, add it to "
                f"ASSETGEN_ALLOWED_REPOS (comma separated) or to the resource's allowed_repos."
            )

    def resolve(self, role: str) -> ResolvedModel:
        """The model ``use`` will load for ``role``, pinned to a commit, without loading it: assets
        decide whether their outputs are current (same commit, dtype, device) before paying for a
        load. Resolved once per resource instance (one run), so every item of a run sees one commit."""
        key = (self.profile, role)
        resolved = self.loader._resolved  # noqa: SLF001 - the per-run resolutions live with the resource
        if key not in resolved:
            spec = self.spec(role)
            self.check_allowed(spec.repo_id)
            device = detect_device(self.loader.device)
            resolved[key] = ResolvedModel(role=role, spec=spec, commit=resolve_commit(spec), device=device,
                                          dtype=dtype_for(device, spec.dtype))
        return resolved[key]

    def adapter(self, repo_id: str, revision: str, filename: str, companions: tuple[str, ...] = ()) -> Adapter:
        """An adapter's weights file (a LoRA, an IP-Adapter) through the same rules as a model: on the
        allow-list, pinned to a commit, safetensors only, from the Hugging Face cache (downloaded into
        it when online); with the license its model card declares. ``companions``: files of the same
        commit it loads with (an IP-Adapter's image encoder: safetensors weights, JSON configs)."""
        self.check_allowed(repo_id)
        for name in (filename, *companions):
            if not name.endswith(".safetensors") and not (name in companions and name.endswith(".json")):
                raise UnsupportedModelError(f"{repo_id}: {name} is not a .safetensors file (only safetensors load)")
        key = ("adapter", repo_id, revision, filename, companions)
        resolved = self.loader._resolved  # noqa: SLF001 - one resolution per run, as for models
        if key not in resolved:
            commit = commit_of(repo_id, revision)
            path = fetch_file(repo_id, commit, filename)
            for name in companions:
                fetch_file(repo_id, commit, name)
            resolved[key] = Adapter(repo_id, commit, filename, path, card_license(repo_id, commit))
        return resolved[key]

    @contextmanager
    def use(self, model: str | ResolvedModel, on_progress: Callable[[str], None] | None = None,
            adapters: Sequence[Path] = ()) -> Iterator[LoadedModel]:
        """Lend the loaded model (a role, or what ``resolve`` returned) for the ``with`` block; it
        cannot be evicted meanwhile. Loads exactly the resolved commit. ``adapters``: safetensors files
        the caller will load into it (LoRAs, an IP-Adapter and its image encoder), counted by the fit
        check before a load."""
        resolved = self.resolve(model) if isinstance(model, str) else model
        spec, device, dtype = resolved.spec, resolved.device, resolved.dtype
        torch_settings = self.loader.torch_settings()
        key = (spec.repo_id, resolved.commit, spec.pipeline, dtype, device, repr(torch_settings))
        started = time.perf_counter()
        needed, load = 0, None
        if key not in MODEL_CACHE:
            needed, load = self._prepare_load(resolved, torch_settings, on_progress, adapters)

        if device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(torch.device(device))
        with MODEL_CACHE.lease(key, load or _unreachable, self.loader.budget_bytes(device), needed) as (entry, hit):
            yield LoadedModel(
                role=resolved.role,
                spec=spec,
                entry=entry,
                device=device,
                dtype=dtype,
                cache_state="hot" if hit else entry.cache_state,
                load_seconds=time.perf_counter() - started,
                torch_settings=torch_settings,
                memory_mode=entry.memory_mode,
            )

    def _prepare_load(self, resolved: ResolvedModel, torch_settings: TorchSettings,
                      on_progress: Callable[[str], None] | None,
                      adapters: Sequence[Path] = ()) -> tuple[int, Callable[[], CachedModel]]:
        """Fetch the files and run the fit check now (the adapters to be loaded into the model
        counted with its weights); return the bytes needed and the loader."""
        spec, device, dtype = resolved.spec, resolved.device, resolved.dtype
        snapshot = fetch_snapshot(spec, resolved.commit, dtype, on_progress)
        weight_bytes, transient = estimate_weights(snapshot.path, snapshot.files, dtype)
        companions = {}
        for repo_id in companion_repos(snapshot.path):  # e.g. a TTS model's audio codec: same rules, same cache
            self.check_allowed(repo_id)
            companion = replace(spec, repo_id=repo_id, revision="main")
            fetched = fetch_snapshot(companion, resolve_commit(companion), dtype, on_progress)
            weight_bytes += estimate_weight_bytes(fetched.path, fetched.files, dtype)
            companions[repo_id] = fetched.commit
        adapters = list(dict.fromkeys(adapters))
        for path in adapters:
            weight_bytes += estimate_weight_bytes(path.parent, [path.name], dtype)
        named = f"{spec.repo_id} with {len(adapters)} adapter file(s)" if adapters else spec.repo_id
        start_mode = self.loader.fit_check(named, weight_bytes, device, transient)

        def load() -> CachedModel:
            began = time.perf_counter()
            pipeline = build_pipeline(spec, snapshot, device, dtype, torch_settings)
            apply_memory_mode(pipeline, start_mode, device)
            return CachedModel(
                pipeline=pipeline,
                commit=snapshot.commit,
                variant=snapshot.variant,
                load_seconds=time.perf_counter() - began,
                cache_state=snapshot.cache_state,
                download_bytes=snapshot.download_bytes,
                download_seconds=snapshot.download_seconds,
                memory_mode=start_mode,
                companions=companions,
            )

        return weight_bytes, load


def _unreachable() -> CachedModel:
    raise AssertionError("a cached model was evicted between the cache check and the lease")
