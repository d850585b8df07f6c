"""One batch per run: every step of a run sees the same content of each partition's batch file.

The first step of a run that needs a batch reads and validates the file; later steps of that run
get the same snapshot (runs execute in one process: the in-process executor, or a Celery worker),
so an edit during a run cannot mix two versions of a batch. The sensor tags its runs with the
content hash it saw; a run that finds other content says so and generates what is on disk (the
sensor has seen the edit too and requests the next run, which then finds everything current).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assetgen_dagster.batches import BatchError, BatchSchema, PromptBatch, batch_path, read_batch_text
from assetgen_dagster.picks import Picks, load_picks

BATCH_HASH_TAG = "assetgen/batch_hash"  # on sensor runs: the content hash the sensor validated
PARTITION_TAG = "dagster/partition"
_MAX_SNAPSHOTS = 4096  # a long-lived worker keeps the recent runs' snapshots, not all of them


@dataclass(frozen=True)
class BatchSnapshot:
    """A batch file as a run read it."""

    batch_id: str
    path: Path
    batch: PromptBatch
    hash: str
    requested_hash: str | None = None  # what the sensor saw, when it differs from what the run read
    picks: Picks = Picks()  # the batch's picks file (which variant of each item ships)


_snapshots: OrderedDict[tuple[str, str], BatchSnapshot | BatchError] = OrderedDict()
_lock = threading.Lock()


def read_run_batch(context: Any, batch_id: str, prompts_dir: Path, schema: BatchSchema) -> BatchSnapshot:
    """The run's snapshot of ``batch_id`` in ``prompts_dir``: read and validated on first use, then
    the same object for the rest of the run. Raises the same :class:`BatchError` every time for an
    invalid file."""
    key = (context.run.run_id, batch_id)
    with _lock:
        found = _snapshots.get(key)
        if found is not None:
            _snapshots.move_to_end(key)
    if found is None:
        found = _read(batch_id, context.run.tags, prompts_dir, schema)
        with _lock:
            _snapshots[key] = found
            while len(_snapshots) > _MAX_SNAPSHOTS:
                _snapshots.popitem(last=False)
        if isinstance(found, BatchSnapshot) and found.requested_hash:
            context.log.warning(
                f"{found.path.name} changed after the sensor requested this run (content {found.requested_hash[:12]} "
                f"-> {found.hash[:12]}): generating the file's current content")
    if isinstance(found, BatchError):
        raise found
    return found


def _read(batch_id: str, tags: dict[str, str], prompts_dir: Path, schema: BatchSchema) -> BatchSnapshot | BatchError:
    try:
        path = batch_path(prompts_dir, batch_id)
        if not path.is_file():
            raise BatchError(path, [f"no batch file for partition {batch_id!r} (was it deleted or renamed?)"])
        batch = schema.parse(read_batch_text(path), path)
        picks = load_picks(prompts_dir, batch_id, batch)
    except BatchError as exc:
        return exc
    content = schema.content_hash(batch, prompts_dir, batch_id)
    requested = tags.get(BATCH_HASH_TAG) if tags.get(PARTITION_TAG) == batch_id else None
    return BatchSnapshot(batch_id, path, batch, content, requested if requested not in (None, content) else None,
                         picks)
