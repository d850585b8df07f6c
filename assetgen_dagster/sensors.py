"""``prompt_batch_sensor``: watch the prompts directory, register batches as partitions, request runs.

The cursor remembers the content hash last requested per batch, so an unchanged file never re-runs
and a changed one (even back to an earlier version) does. An invalid file is logged and skipped.
"""

from __future__ import annotations

import json
from collections import Counter

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, sensor

from assetgen_dagster import settings
from assetgen_dagster.assets import GENERATED_KINDS
from assetgen_dagster.batches import BatchError, batch_hash, batch_id_for, load_batch, scan_batch_files
from assetgen_dagster.jobs import generate_batch_job
from assetgen_dagster.partitions import PROMPT_BATCHES, prompt_batches

BATCH_HASH_TAG = "assetgen/batch_hash"


@sensor(
    job=generate_batch_job,
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="Registers each prompt batch file as a partition and requests a run when it is new or changed.",
)
def prompt_batch_sensor(context: SensorEvaluationContext) -> SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    requested: dict[str, str] = cursor.get("batches", {})
    sequence: int = cursor.get("sequence", 0)
    known = set(context.instance.get_dynamic_partitions(PROMPT_BATCHES))

    new_partitions: list[str] = []
    run_requests: list[RunRequest] = []
    seen: dict[str, str] = {}
    for path in scan_batch_files(settings.prompts_dir()):
        try:
            batch_id = batch_id_for(path)
            batch = load_batch(path)
        except BatchError as exc:
            context.log.warning(f"skipped invalid batch: {exc}")
            continue
        except Exception as exc:  # one unreadable file must never break the tick
            context.log.error(f"skipped {path}: unexpected {type(exc).__name__}: {exc}")
            continue

        content_hash = batch_hash(batch)
        seen[batch_id] = content_hash
        if batch_id not in known:
            new_partitions.append(batch_id)
        if requested.get(batch_id) == content_hash:
            continue
        _report_kinds_without_asset(context, path.name, [item.kind for item in batch.items])
        sequence += 1
        run_requests.append(
            RunRequest(
                partition_key=batch_id,
                run_key=f"{batch_id}:{content_hash[:16]}:{sequence}",
                tags={BATCH_HASH_TAG: content_hash},
            )
        )

    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[prompt_batches.build_add_request(new_partitions)] if new_partitions else [],
        cursor=json.dumps({"batches": seen, "sequence": sequence}, sort_keys=True),
    )


def _report_kinds_without_asset(context: SensorEvaluationContext, file_name: str, kinds: list[str]) -> None:
    missing = Counter(kind for kind in kinds if kind not in GENERATED_KINDS)
    if missing:
        listed = ", ".join(f"{count} {kind}" for kind, count in sorted(missing.items()))
        context.log.warning(f"{file_name}: items not generated yet (no asset for their kind): {listed}")
