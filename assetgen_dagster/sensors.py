"""``prompt_batch_sensor``: watch the prompts directory, keep the partitions in step with the batch
files, and request a run when a batch is new or its content changed.

- new file: registered as a partition, run requested;
- changed content (even back to an earlier version): run requested;
- unchanged (same mtime and size, or same content hash): nothing;
- deleted file: its partition is removed; its outputs stay on disk;
- invalid file: skipped with a warning, and recorded once per content as an observation of the
  ``prompt_batch_files`` asset, so it is visible in the UI; other batches are unaffected.

The cursor remembers each file's (mtime, size, content hash), so a tick over 1,000 unchanged files
parses none of them. The sensor is built for the registry it is handed (:func:`batch_sensor`).
"""

from __future__ import annotations

import hashlib
import json

from dagster import (
    AssetKey,
    AssetObservation,
    AssetRecordsFilter,
    DefaultSensorStatus,
    MetadataValue,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from assetgen_dagster import settings
from assetgen_dagster.batches import BatchError, batch_hash, batch_id_for, scan_batch_files
from assetgen_dagster.engine.batches import BATCH_HASH_TAG, PARTITION_TAG
from assetgen_dagster.jobs import batch_run, generate_batch_job
from assetgen_dagster.pack import ASSET as PACK
from assetgen_dagster.partitions import PROMPT_BATCHES, prompt_batch_files, prompt_batches
from assetgen_dagster.registry import Registry
from assetgen_dagster.settings import ProjectSettings

SENSOR = "prompt_batch_sensor"


def batch_sensor(registry: Registry) -> SensorDefinition:
    """``prompt_batch_sensor`` for the kinds of ``registry`` (its batch schema and assets)."""

    @sensor(
        name=SENSOR,
        job=generate_batch_job,
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=settings.sensor_interval_seconds(),
        description="Keeps prompt_batches partitions in step with the batch files; runs new or changed batches "
                    "(only the assets of the kinds a batch has, and its pack).",
    )
    def prompt_batch_sensor(context: SensorEvaluationContext, project: ProjectSettings) -> SensorResult:
        return scan(context, registry, project)

    return prompt_batch_sensor


def scan(context: SensorEvaluationContext, registry: Registry, project: ProjectSettings) -> SensorResult:
    """One tick: compare the prompts folder with the cursor; register, request, observe."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    files: dict[str, list] = cursor.get("files", {})  # file name -> [mtime_ns, size, content hash, valid]
    requested: dict[str, str] = cursor.get("batches", {})
    sequence: int = cursor.get("sequence", 0)
    known = set(context.instance.get_dynamic_partitions(PROMPT_BATCHES))

    paths = scan_batch_files(project.prompts())
    seen_files, seen_batches = {}, {}
    new_partitions, run_requests, observations = [], [], []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        previous = files.get(path.name)
        if previous and previous[:2] == [stat.st_mtime_ns, stat.st_size]:
            seen_files[path.name] = previous  # untouched since the last tick: no parse
            if previous[3]:
                seen_batches[path.stem] = previous[2]
            continue
        try:
            batch_id = batch_id_for(path)
            batch = registry.schema.load(path)
        except Exception as exc:  # an invalid or unreadable file never breaks the tick
            error = str(exc) if isinstance(exc, BatchError) else f"unexpected {type(exc).__name__}: {exc}"
            raw_hash = _raw_hash(path)
            context.log.warning(f"skipped invalid batch: {error}")
            if not previous or previous[2] != raw_hash:  # record each broken content once
                observations.append(AssetObservation(
                    asset_key=prompt_batch_files.key,
                    metadata={"file": MetadataValue.path(str(path)), "valid": False, "error": error}))
            seen_files[path.name] = [stat.st_mtime_ns, stat.st_size, raw_hash, False]
            continue
        content_hash = batch_hash(batch)
        seen_files[path.name] = [stat.st_mtime_ns, stat.st_size, content_hash, True]
        seen_batches[batch_id] = content_hash
        if batch_id not in known:
            new_partitions.append(batch_id)
        if requested.get(batch_id) == content_hash:
            continue
        if batch_id not in requested and batch_id in known and _packed_hash(context, batch_id) == content_hash[:16]:
            requested[batch_id] = content_hash  # made by another run (the demo, the CLI): already current
            context.log.info(f"{path.name}: already current (its pack was made from this content)")
            continue
        if batch_id in known and run_exists(context.instance, batch_id, content_hash):
            requested[batch_id] = content_hash  # launched already (`assetgen-dagster watch`, the UI)
            context.log.info(f"{path.name}: a run was already launched for this content")
            continue
        sequence += 1
        requested[batch_id] = content_hash
        run_requests.append(batch_run(registry, batch_id, batch, content_hash).run_request(
            f"{batch_id}:{content_hash[:16]}:{sequence}"))

    deleted = sorted(known - {path.stem for path in paths})
    for batch_id in deleted:
        context.log.info(f"batch file for {batch_id!r} is gone: partition removed, outputs kept")
    partition_requests = []
    if new_partitions:
        partition_requests.append(prompt_batches.build_add_request(new_partitions))
    if deleted:
        partition_requests.append(prompt_batches.build_delete_request(deleted))
    cursor = {"files": seen_files, "sequence": sequence,
              "batches": {b: h for b, h in requested.items() if b in seen_batches}}
    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=partition_requests,
        asset_events=observations,
        cursor=json.dumps(cursor, sort_keys=True),
    )


def run_exists(instance, batch_id: str, content_hash: str) -> bool:
    """Whether any run (this sensor's, `assetgen-dagster watch`'s, one from the UI) was launched for
    this batch content."""
    runs = RunsFilter(tags={PARTITION_TAG: batch_id, BATCH_HASH_TAG: content_hash})
    return bool(instance.get_run_records(filters=runs, limit=1))


def _packed_hash(context: SensorEvaluationContext, batch_id: str) -> str | None:
    """The batch content hash (16 hex) the latest pack of ``batch_id`` was built from, if any."""
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(PACK), asset_partitions=[batch_id]), limit=1).records
    if not records:
        return None
    value = records[0].asset_materialization.metadata.get("batch_hash")
    return getattr(value, "value", None)


def _raw_hash(path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"
