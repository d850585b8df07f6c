"""Running an asset over the partitions of a run and reporting each batch to Dagster.

Each batch (partition) gets its own materialization metadata and its own check evaluations, also in
a single-run backfill over many batches. Every batch file is read and validated before any model
loads; a batch that is invalid or fails does not stop the others: they are finished and recorded,
then the step fails naming the failed batches (a re-run reuses what was finished).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    DataVersion,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
)

from assetgen_dagster.batches import BatchError, BatchSchema, digest
from assetgen_dagster.engine.batches import BatchSnapshot, read_run_batch
from assetgen_dagster.engine.checks import CheckOutcome
from assetgen_dagster.engine.common import describe, is_retryable
from assetgen_dagster.engine.locks import batch_lock
from assetgen_dagster.outputs import batch_output_dir, sweep_leftovers

DATA_VERSION_TAG = "dagster/data_version"
CODE_VERSION_TAG = "dagster/code_version"


class Outcome(Protocol):
    """What one batch contributed to an asset's step."""

    items: int
    data_version: str

    def metadata(self) -> dict[str, Any]: ...

    def check_outcomes(self) -> dict[str, CheckOutcome]: ...


def materialize_batches(context: AssetExecutionContext, asset_name: str, code_version: str,
                        check_names: Sequence[str], prompts_dir: Path, output_dir: Path, schema: BatchSchema,
                        per_batch: Callable[[BatchSnapshot], Outcome]) -> Iterator[Any]:
    """``per_batch`` for every partition of the run (one, or a single-run backfill's range): batch
    files read from ``prompts_dir`` with ``schema``, each batch under its lock in ``output_dir``."""
    snapshots: dict[str, BatchSnapshot] = {}
    failures: dict[str, BaseException] = {}
    for batch_id in context.partition_keys:
        try:
            snapshots[batch_id] = read_run_batch(context, batch_id, prompts_dir, schema)
        except BatchError as exc:
            failures[batch_id] = exc
    if failures and len(context.partition_keys) > 1:
        context.log.error(f"{len(failures)} of {len(context.partition_keys)} batches are invalid and are skipped:\n"
                          + "\n".join(f"- {exc}" for exc in failures.values()))
    outcomes: dict[str, Outcome] = {}
    holder = f"run {context.run.run_id} ({asset_name})"
    for batch_id, snapshot in snapshots.items():
        try:
            batch_dir = batch_output_dir(output_dir, batch_id)
            with batch_lock(batch_dir, holder, context.log.info):
                if swept := sweep_leftovers(batch_dir):
                    context.log.info(f"removed {swept} temp file(s) a killed run left in {batch_dir}")
                outcomes[batch_id] = per_batch(snapshot)
        except Exception as exc:  # noqa: BLE001 - one batch's failure must not discard the others
            failures[batch_id] = exc
            if len(context.partition_keys) > 1:
                context.log.error(f"batch {batch_id!r} failed: {describe(exc)}")
    yield from report(context, asset_name, code_version, check_names, outcomes, failed=bool(failures))
    if failures:
        raise step_failure(failures, len(context.partition_keys))


def step_failure(failures: dict[str, BaseException], partitions: int) -> BaseException:
    """One error for the step: the batch's own error for a single batch, else every batch named."""
    retryable = any(is_retryable(exc) for exc in failures.values())
    if partitions == 1:
        [exc] = failures.values()
        if retryable and not isinstance(exc, Failure):
            return exc  # the retry policy retries it; the traceback is the real one
        failure = Failure(description=describe(exc), allow_retries=retryable)
    else:
        lines = "\n".join(f"- {batch_id}: {describe(exc)}" for batch_id, exc in failures.items())
        failure = Failure(description=f"{len(failures)} of {partitions} batches failed (the others were generated "
                                      f"and recorded; a re-run reuses them):\n{lines}", allow_retries=retryable)
    failure.__cause__ = next(iter(failures.values()))
    return failure


def report(context: AssetExecutionContext, asset_name: str, code_version: str, check_names: Sequence[str],
           outcomes: dict[str, Outcome], failed: bool) -> Iterator[Any]:
    """Dagster events for the batches that finished: one materialization with its own metadata per
    batch, then one evaluation per check and batch.

    When the step is about to fail for another batch, the finished ones are recorded as explicit
    per-partition materializations (the step's output is never produced)."""
    if not outcomes:
        return
    key = AssetKey(asset_name)
    versions = {batch_id: outcome.data_version for batch_id, outcome in outcomes.items()}
    if failed:
        for batch_id, outcome in outcomes.items():
            yield AssetMaterialization(asset_key=key, partition=batch_id, metadata=outcome.metadata(),
                                       tags={DATA_VERSION_TAG: versions[batch_id],
                                             CODE_VERSION_TAG: code_version})
    else:
        for batch_id, outcome in outcomes.items():
            context.add_asset_metadata(outcome.metadata(), partition_key=batch_id)
        run_version = next(iter(versions.values())) if len(versions) == 1 else digest(versions)[:32]
        yield MaterializeResult(metadata={"partitions_in_run": len(outcomes)}, data_version=DataVersion(run_version))
    selected = {check_key.name for check_key in context.selected_asset_check_keys}
    outputs = {spec.name: name for name, spec in context.assets_def.check_specs_by_output_name.items()}
    if not failed:
        for name in check_names:
            if name in selected:
                yield Output(None, output_name=outputs[name])
    for batch_id, outcome in outcomes.items():
        if not outcome.items:
            continue
        for name, result in outcome.check_outcomes().items():
            if name not in selected or result.metadata.get("items_checked") == 0:
                continue  # nothing was checked (every item blocked): the check shows as skipped, not passed
            yield AssetCheckEvaluation(
                asset_key=key, check_name=name, passed=result.passed, partition=batch_id,
                severity=AssetCheckSeverity.ERROR, description=result.description, blocking=False,
                metadata={k: MetadataValue.json(v) if isinstance(v, (dict, list)) else v
                          for k, v in result.metadata.items()},
            )
