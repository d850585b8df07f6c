"""``prompt_batch_sensor``: watch the prompts directory, keep the partitions in step with the batch
files, and request a run when a batch is new or its content changed.

- new file: registered as a partition, run requested;
- changed content (even back to an earlier version): run requested, unless a run for this content
  was the last one launched (by the watcher, in the same instant) or, with none launched yet, its
  pack was made from it (the demo, a CLI run): every launcher claims the launch first (launches.py);
- unchanged (same mtime and size, or same content hash): nothing;
- deleted file: its partition is removed; its outputs stay on disk;
- invalid file: skipped with a warning; other batches are unaffected. Whenever the set of invalid
  files changes, the sensor reports the ``valid_batch_files`` check on ``prompt_batch_files``
  (batch_check.py): failed and naming every invalid file, or passed once none is left; and an
  observation of the folder (files, valid, invalid) whenever a file comes, goes or changes validity.

The cursor remembers each file's (mtime, size, content hash, valid, error), so a tick over 1,000
unchanged files parses none of them. The sensor is built for the registry it is handed (:func:`batch_sensor`).
"""

from __future__ import annotations

import hashlib
import json

from dagster import (
    AssetObservation,
    DefaultSensorStatus,
    MetadataValue,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from assetgen_dagster import settings
from assetgen_dagster.batch_check import MAX_ERROR_CHARS, evaluation
from assetgen_dagster.batches import BatchError, batch_id_for, scan_batch_files
from assetgen_dagster.jobs import batch_run, generate_batch_job
from assetgen_dagster.launches import claim_launch, forget_launches, packed_hash, read_batch
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
    """One tick: compare the prompts folder with the cursor; register, request, report invalid files."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    # file name -> [mtime_ns, size, content hash, valid, error, stamps of the files it references]
    files: dict[str, list] = cursor.get("files", {})
    sequence: int = cursor.get("sequence", 0)
    known = set(context.instance.get_dynamic_partitions(PROMPT_BATCHES))
    output_dir, prompts_dir = project.outputs(), project.prompts()

    paths = scan_batch_files(prompts_dir)
    seen_files = {}
    new_partitions, run_requests = [], []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        previous = files.get(path.name)
        if (previous and len(previous) == 6 and previous[:2] == [stat.st_mtime_ns, stat.st_size]
                and _references_untouched(previous[5], prompts_dir)):
            seen_files[path.name] = previous  # untouched since the last tick, and its references too: no parse
            continue
        try:
            batch_id = batch_id_for(path)
            batch, still_read = read_batch(path, registry.schema)
        except Exception as exc:  # an invalid or unreadable file never breaks the tick
            error = str(exc) if isinstance(exc, BatchError) else f"{path}: unexpected {type(exc).__name__}: {exc}"
            context.log.warning(f"skipped invalid batch: {error}")
            seen_files[path.name] = [stat.st_mtime_ns, stat.st_size, _raw_hash(path), False, error[:MAX_ERROR_CHARS],
                                     []]
            continue
        content_hash = registry.schema.content_hash(batch, prompts_dir, batch_id)
        seen_files[path.name] = [stat.st_mtime_ns, stat.st_size, content_hash, True, "",
                                 registry.schema.reference_stamps(batch, prompts_dir, batch_id)]
        if batch_id not in known:
            new_partitions.append(batch_id)
        claim = claim_launch(output_dir, batch_id, content_hash, "sensor", still_read,
                             lambda: packed_hash(context.instance, batch_id) if batch_id in known else None)
        if claim is None:
            context.log.info(f"{path.name}: current (its last run, or its pack, was made from this content)")
            continue
        sequence += 1
        run_requests.append(batch_run(context.instance, registry, batch_id, batch, content_hash).run_request(
            f"{batch_id}:{content_hash[:16]}:{sequence}"))

    deleted = sorted(known - {path.stem for path in paths})
    for batch_id in deleted:
        forget_launches(output_dir, batch_id)
        context.log.info(f"batch file for {batch_id!r} is gone: partition removed, outputs kept")
    partition_requests = []
    if new_partitions:
        partition_requests.append(prompt_batches.build_add_request(new_partitions))
    if deleted:
        partition_requests.append(prompt_batches.build_delete_request(deleted))
    invalid = {name: entry[4] for name, entry in seen_files.items() if not entry[3]}
    events: list = []
    if sorted(seen_files) != sorted(files) or cursor.get("invalid") != invalid:  # what the UI shows changed
        events.append(AssetObservation(asset_key=prompt_batch_files.key, metadata={
            "files": len(seen_files), "valid": len(seen_files) - len(invalid), "invalid": len(invalid),
            "folder": MetadataValue.path(str(prompts_dir))}))
    if cursor.get("invalid") != invalid:  # None before the first report
        events.append(evaluation(invalid))
    cursor = {"files": seen_files, "sequence": sequence, "invalid": invalid}
    return SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=partition_requests,
        asset_events=events,
        cursor=json.dumps(cursor, sort_keys=True),
    )


def _references_untouched(stamps: list[list], prompts_dir) -> bool:
    """Whether every file a batch references has the (mtime, size) it had when the batch was read."""
    for name, mtime_ns, size in stamps:
        try:
            stat = (prompts_dir / name).stat()
        except OSError:
            if mtime_ns is not None:
                return False
            continue
        if [stat.st_mtime_ns, stat.st_size] != [mtime_ns, size]:
            return False
    return True


def _raw_hash(path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"
