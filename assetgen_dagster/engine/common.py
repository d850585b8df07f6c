"""What every asset shares: owners, the gpu pool, the retry policy, and which errors retrying can fix."""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dagster import AutomationCondition, Backoff, Jitter, RetryPolicy

from assetgen_dagster.batches import BatchError
from assetgen_dagster.models.catalog import CatalogError
from assetgen_dagster.models.errors import ModelError
from assetgen_dagster.outputs import OutputPathError

OWNERS = ["team:asset-pipeline"]

# Every model-calling step is in this concurrency pool; dagster.yaml limits it to one step at a
# time across all runs (one GPU), so two people's runs queue for the GPU instead of fighting over it.
GPU_POOL = "gpu"

RETRY_DELAY_ENV = "ASSETGEN_RETRY_DELAY_SECONDS"


class DepsUpdatedByOtherRuns(AutomationCondition):
    """True for a batch (partition) one of whose upstreams was materialized, since the previous tick,
    by a run that did not plan this asset (a run of ``textures`` alone, from the UI or the CLI).

    Dagster's ``any_deps_updated`` asks whether the upstream's *latest materialization across all
    partitions* came from a run that planned this asset; with batches running at once that is often
    another batch's run, so it fired for a batch while the batch's own run was building it, and a
    tick whose event cursor predated that run's pack but whose in-progress view came after it then
    launched a second, pack-only run. This looks at each batch's own upstream materializations."""

    @property
    def name(self) -> str:
        return "deps_updated_by_other_runs"

    @property
    def requires_cursor(self) -> bool:
        return False

    def evaluate(self, context: Any) -> Any:
        from dagster import AssetRecordsFilter, AutomationResult

        candidates = context.candidate_subset
        if context.previous_temporal_context is None or candidates.is_empty or context.partitions_def is None:
            return AutomationResult(context, context.get_empty_subset())  # the first tick: nothing is new
        previous, latest = context.previous_max_storage_id or 0, context.max_storage_id  # None: no event then
        instance, wanted = context.asset_graph_view.instance, candidates.expensively_compute_partition_keys()
        planned_it: dict[str, bool] = {}  # run id -> whether the run planned this asset
        updated: set[str] = set()
        for dep in context.asset_graph.get(context.key).parent_entity_keys:
            records = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=dep, after_storage_id=previous,
                                   before_storage_id=None if latest is None else latest + 1), limit=10_000).records
            for record in records:
                if record.partition_key not in wanted or record.partition_key in updated:
                    continue
                if record.run_id not in planned_it:
                    run = instance.get_run_by_id(record.run_id)
                    # a run without an asset selection ran its whole job: count it as planning this asset
                    planned_it[record.run_id] = run is None or run.asset_selection is None or \
                        context.key in run.asset_selection
                if not planned_it[record.run_id]:
                    updated.add(record.partition_key)
        return AutomationResult(context, context.asset_graph_view.get_subset_from_partition_keys(
            context.key, context.partitions_def, updated))


def follows_upstreams() -> AutomationCondition:
    """A derived asset (and the pack) follows an upstream made by a run that did not plan it (a UI or
    CLI run of ``textures`` alone, say) for the batches that run touched; never a batch run, which
    makes them itself (see :class:`DepsUpdatedByOtherRuns`). Otherwise like Dagster's ``eager()``:
    once, when nothing upstream is missing or in progress and it is not in progress itself."""
    return (
        DepsUpdatedByOtherRuns().since_last_handled()
        & ~AutomationCondition.any_deps_missing()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("follows_upstreams")


def model_retry_policy() -> RetryPolicy:
    """Transient faults (hub hiccups, a busy device) get three more tries, 2 s, 4 s, 8 s apart, +/-
    jitter so parallel runs do not retry in lockstep; bad input raises Failure(allow_retries=False)
    instead. ASSETGEN_RETRY_DELAY_SECONDS changes the first delay (read when the definitions are built)."""
    return RetryPolicy(max_retries=3, delay=float(os.environ.get(RETRY_DELAY_ENV, "2.0")),
                       backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


class DiskFullError(OSError):
    """The output directory's file system is full: nothing half-written is left, and retrying the
    step seconds later cannot help; free space and re-run (finished items are reused)."""


# Errors that say the input or the set-up is wrong: retrying cannot fix them.
PERMANENT_ERRORS = (BatchError, CatalogError, OutputPathError, DiskFullError)
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


def human_bytes(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def disk_full(exc: OSError, output_dir: Path, what: str, needed_bytes: int | None) -> DiskFullError:
    """A DiskFullError naming the directory, its free space and (if known) the space still needed."""
    try:
        free = shutil.disk_usage(output_dir).free
    except OSError:
        free = 0
    where = f" ({exc.filename})" if exc.filename else ""
    need = f"about {human_bytes(needed_bytes)} more" if needed_bytes else "more space"
    return DiskFullError(exc.errno, f"no space left in {output_dir} ({human_bytes(free)} free) while writing "
                                    f"{what}{where}; it needs {need}. Free space (or point ASSETGEN_OUTPUT_DIR "
                                    f"elsewhere) and re-run: what was finished is reused.")


class Blocked(Exception):
    """An item cannot be made because what it derives from is not usable (a failed blocking check,
    an upstream that refused the item). It is skipped and reported, not failed."""


class UpstreamMissing(Exception):
    """What an item derives from has not been made yet: materialize the upstream asset first."""


def is_retryable(exc: BaseException) -> bool:
    """Whether trying the step again can help: transient model errors and unexpected errors can."""
    from dagster import Failure

    if isinstance(exc, (*PERMANENT_ERRORS, UpstreamMissing)):
        return False
    if isinstance(exc, ModelError):
        return exc.retryable
    if isinstance(exc, Failure):
        return exc.allow_retries
    return True


def describe(exc: BaseException) -> str:
    """A one-paragraph description of an error for a failure message."""
    if isinstance(exc, ModelError):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, (*PERMANENT_ERRORS, UpstreamMissing)):
        return str(exc)
    description = getattr(exc, "description", None)
    return description or f"{type(exc).__name__}: {exc}"


def throttled(log: Callable[[str], None], every_seconds: float = 5.0) -> Callable[[str], None]:
    """A progress callback that passes a message on at most once per ``every_seconds``, the first
    after ``every_seconds`` (a batch done sooner logs no progress: each log line is an event row)."""
    last = [time.monotonic()]

    def report(message: str) -> None:
        now = time.monotonic()
        if now - last[0] >= every_seconds:
            last[0] = now
            log(message)

    return report


class ItemRejected(Exception):
    """Raised by an asset's ``write`` when an item's output is unusable and must not be written
    (e.g. a sprite that is empty after keying). Recorded as a failure of ``check`` for that item."""

    def __init__(self, check: str, reason: str):
        self.check, self.reason = check, reason
        super().__init__(f"{check}: {reason}")
