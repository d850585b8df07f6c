"""The process-wide cache of loaded pipelines, so several partitions in one run load a model once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CacheKey = tuple[str, str, str, str, str]  # (repo_id, revision, pipeline, dtype, device)


@dataclass
class CachedModel:
    pipeline: Any
    commit: str
    load_seconds: float


class ModelCache:
    """Loaded pipelines keyed by (repo, revision, pipeline class, dtype, device).

    Counts loads so tests and benchmarks can check that a model was loaded once. The memory budget
    and eviction come with the budgeted resource; the interface (``get_or_load``) stays.
    """

    def __init__(self) -> None:
        self._models: dict[CacheKey, CachedModel] = {}
        self._lock = threading.Lock()
        self.loads = 0

    def get_or_load(self, key: CacheKey, load: Callable[[], CachedModel]) -> tuple[CachedModel, bool]:
        """The cached model for ``key`` (``hit=True``) or the result of ``load()``, now cached."""
        with self._lock:
            if key in self._models:
                return self._models[key], True
            model = load()
            self._models[key] = model
            self.loads += 1
            return model, False

    def keys(self) -> list[CacheKey]:
        with self._lock:
            return list(self._models)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
            self.loads = 0


# One per process: Dagster builds a new resource object per run, the cache outlives it.
MODEL_CACHE = ModelCache()
