"""The process-wide cache of loaded pipelines: LRU over idle models within a memory budget.

A model is leased while an asset uses it and is never evicted then. Several partitions in one run
(or several assets in one in-process run) load a model once.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from assetgen_dagster.models.memory import free_device_memory, module_bytes

log = logging.getLogger(__name__)

CacheKey = tuple[str, ...]  # (repo_id, revision, pipeline, dtype, device, torch settings...)
DEVICE = 4  # index of the device in a CacheKey


@dataclass
class CachedModel:
    """A loaded pipeline and what was learnt loading and running it."""

    pipeline: Any
    commit: str
    variant: str | None
    load_seconds: float
    cache_state: str  # disk state at load time: "warm" (was cached) or "cold" (downloaded)
    download_bytes: int = 0
    download_seconds: float = 0.0
    size_bytes: int = 0
    memory_mode: str = "full"  # the ladder's mode that last worked; retries start there
    leases: int = 0
    companions: dict[str, str] = field(default_factory=dict)  # repo -> commit of repos loaded beside it (a codec)


class ModelCache:
    """Loaded pipelines keyed by (repo, revision, pipeline class, dtype, device, settings).

    ``sizer`` measures a loaded pipeline (parameter + buffer bytes by default); tests pass a fake.
    """

    def __init__(self, sizer: Callable[[Any], int] | None = None) -> None:
        self._models: OrderedDict[CacheKey, CachedModel] = OrderedDict()
        self._lock = threading.RLock()
        self._sizer = sizer
        self.loads = 0
        self.evictions = 0

    def __contains__(self, key: CacheKey) -> bool:
        with self._lock:
            return key in self._models

    def used_bytes(self, device: str) -> int:
        with self._lock:
            return sum(m.size_bytes for k, m in self._models.items() if k[DEVICE] == device)

    def keys(self) -> list[CacheKey]:
        with self._lock:
            return list(self._models)

    @contextmanager
    def lease(
        self,
        key: CacheKey,
        load: Callable[[], CachedModel],
        budget_bytes: int,
        needed_bytes: int = 0,
    ) -> Iterator[tuple[CachedModel, bool]]:
        """Lend the model for ``key`` (``hit`` says whether it was already loaded), loading it
        after evicting idle models, least recently used first, until ``needed_bytes`` fit."""
        with self._lock:
            entry = self._models.get(key)
            hit = entry is not None
            if entry is not None:
                self._models.move_to_end(key)
            else:
                self._make_room(key[DEVICE], needed_bytes, budget_bytes)
                entry = load()
                entry.size_bytes = self._measure(entry.pipeline)
                self._models[key] = entry
                self.loads += 1
            entry.leases += 1
        try:
            yield entry, hit
        finally:
            with self._lock:
                entry.leases -= 1
                if not entry.leases:  # what the borrower loaded into it (LoRAs, an IP-Adapter) counts from now on
                    entry.size_bytes = self._measure(entry.pipeline)

    def _measure(self, pipeline: Any) -> int:
        if self._sizer is not None:
            return self._sizer(pipeline)
        return module_bytes(pipeline)

    def _make_room(self, device: str, needed: int, budget: int) -> None:
        for key in [k for k, m in self._models.items() if k[DEVICE] == device and m.leases == 0]:
            if self.used_bytes(device) + needed <= budget:
                return
            self.evict(key)
        if self.used_bytes(device) + needed > budget:
            log.warning("models in use hold the %s budget; loading anyway, the memory ladder takes over", device)

    def evict(self, key: CacheKey) -> None:
        with self._lock:
            entry = self._models.pop(key)
            if entry.leases:
                self._models[key] = entry
                raise RuntimeError(f"{key[0]} is in use and cannot be evicted")
            self.evictions += 1
            log.info("evicted %s (%.0f MB) from %s", key[0], entry.size_bytes / 1e6, key[DEVICE])
        del entry
        free_device_memory(key[DEVICE])

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
            self.loads = 0
            self.evictions = 0


# One per process: Dagster builds a new resource object per run, the cache outlives it.
MODEL_CACHE = ModelCache()
