"""What every asset shares: retry policy, reading the partition's batch, mapping errors to Dagster."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import Backoff, BackfillPolicy, Failure, Jitter, RetryPolicy

from assetgen_dagster import settings
from assetgen_dagster.batches import (
    BatchError,
    Item,
    PromptBatch,
    batch_path,
    item_params,
    item_seed,
    load_batch,
)
from assetgen_dagster.catalog import CatalogError, GenerationParams
from assetgen_dagster.generate.images import ImageRequest
from assetgen_dagster.models.errors import ModelError
from assetgen_dagster.outputs import OutputPathError
from assetgen_dagster.partitions import prompt_batches

OWNERS = ["team:asset-pipeline"]

# Every model-calling step is in this concurrency pool; dagster.yaml limits it to one step at a
# time across all runs (one GPU), so two people's runs queue for the GPU instead of fighting over it.
GPU_POOL = "gpu"

# Transient faults (hub hiccups, a busy device) get three more tries, 2 s, 4 s, 8 s apart, +/- jitter
# so parallel runs do not retry in lockstep. Bad input raises Failure(allow_retries=False) instead.
# ASSETGEN_RETRY_DELAY_SECONDS changes the first delay (read when the code location loads).
MODEL_RETRY_POLICY = RetryPolicy(
    max_retries=3,
    delay=float(os.environ.get("ASSETGEN_RETRY_DELAY_SECONDS", "2.0")),
    backoff=Backoff.EXPONENTIAL,
    jitter=Jitter.PLUS_MINUS,
)


# What every model-calling asset declares: one partition per batch, single-run backfills (one model
# load per backfill), the retry policy, the gpu pool, and how the UI labels it.
MODEL_ASSET_ARGS = dict(
    partitions_def=prompt_batches,
    backfill_policy=BackfillPolicy.single_run(),
    kinds={"pytorch", "image"},
    owners=OWNERS,
    retry_policy=MODEL_RETRY_POLICY,
    pool=GPU_POOL,
)


def read_partition_batch(batch_id: str) -> tuple[PromptBatch, Path]:
    """The validated batch behind a partition key."""
    path = batch_path(settings.prompts_dir(), batch_id)
    if not path.is_file():
        raise BatchError(path, [f"no batch file for partition {batch_id!r} (was it deleted or renamed?)"])
    return load_batch(path), path


def image_requests(batch: PromptBatch, items: list[Item], defaults: GenerationParams) -> list[ImageRequest]:
    """One ImageRequest per item: the batch's values, else the catalog model's defaults."""
    requests = []
    for item in items:
        params = item_params(batch, item)
        requests.append(
            ImageRequest(
                item_id=item.id,
                prompt=item.prompt,
                negative_prompt=params.get("negative_prompt"),
                seed=item_seed(batch, item),
                steps=params.get("steps", defaults.steps),
                guidance=params.get("guidance", defaults.guidance),
                width=params.get("width", defaults.width),
                height=params.get("height", defaults.height),
            )
        )
    return requests


@contextmanager
def dagster_failures() -> Iterator[None]:
    """Turn errors that retrying cannot fix into ``Failure(allow_retries=False)``; let transient ones
    propagate so the retry policy handles them."""
    try:
        yield
    except (BatchError, CatalogError, OutputPathError) as exc:
        raise Failure(description=str(exc), allow_retries=False) from exc
    except ModelError as exc:
        if exc.retryable:
            raise
        raise Failure(description=f"{type(exc).__name__}: {exc}", allow_retries=False) from exc


def throttled(log: Callable[[str], None], every_seconds: float = 5.0) -> Callable[[str], None]:
    """A progress callback that passes a message on at most once per ``every_seconds``."""
    last = [float("-inf")]

    def report(message: str) -> None:
        now = time.monotonic()
        if now - last[0] >= every_seconds:
            last[0] = now
            log(message)

    return report
