"""The default loop on one machine: ``make demo`` and ``make ui``.

Both run what ``make ui`` keeps up (``cluster/local.py``'s :class:`LocalStack`): the Dagster daemon,
the webserver and one hot Celery worker on the default instance (SQLite storage and a filesystem
broker in ``.dagster_home/``, the top-level dagster.yaml), the tiny models in
``.cache/huggingface/``, outputs in ``data/outputs/``. The demo launches one run per example batch
through the webserver, as the UI's Materialize button does, so its runs belong to the code location
the UI loads (they can be re-executed from it); it prints a line per materialized asset and stops
everything when the runs are done.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from assetgen_dagster import settings, tiny
from assetgen_dagster.batches import BatchError, batch_id_for, scan_batch_files
from assetgen_dagster.cluster.local import LocalStack, gpu_devices, serve
from assetgen_dagster.cluster.servers import wait_until
from assetgen_dagster.cluster.watch import LaunchError, launch_run
from assetgen_dagster.definitions import build_definitions
from assetgen_dagster.environment import (
    demo_environment,
    ensure_gpu_pool,
    instance_yaml,
    prepare_dagster_home,
    uses_workers,
)
from assetgen_dagster.jobs import batch_run
from assetgen_dagster.launches import claim_launch, read_batch
from assetgen_dagster.partitions import PROMPT_BATCHES
from assetgen_dagster.registry import Registry, build_registry

DEMO_TRIGGER = "demo"


def prepare(project_root: Path, registry: Registry) -> dict[str, str]:
    """The demo's environment (exported), its DAGSTER_HOME, the tiny kit when the profile is tiny."""
    env = demo_environment(project_root)
    os.environ.update(env)
    prepare_dagster_home(Path(env["DAGSTER_HOME"]), instance_yaml(project_root))
    if env["ASSETGEN_PROFILE"] == "tiny":
        started = time.perf_counter()
        tiny.ensure_tiny_kit(registry.roles)
        print(f"tiny model kit ready in {env['HF_HOME']} ({time.perf_counter() - started:.1f} s)", flush=True)
    return env


def local_stack(project_root: Path, env: dict[str, str], port: int | None, watch: bool) -> LocalStack:
    """The daemon, the webserver on ``port`` (0: a free one) and, when the instance runs its runs in
    Celery workers, one worker on the first GPU (else the CPU)."""
    from dagster import DagsterInstance

    home = Path(env["DAGSTER_HOME"])
    with DagsterInstance.from_config(str(home)) as instance:
        ensure_gpu_pool(instance)  # the sensor may start several runs at once
        devices = (gpu_devices()[:1] or ["cpu"]) if uses_workers(instance) else []
    # Not DAGSTER_HOME/logs: Dagster's telemetry code moves that folder away (to .logs_queue).
    return LocalStack(project_root, home, home / "process-logs", devices, {**os.environ, **env}, webserver_port=port,
                      watch=watch)


def run_ui(project_root: Path, port: int) -> int:
    """The daemon, the webserver with the watcher and a hot worker on the demo's storage, until Ctrl-C."""
    env = prepare(project_root, build_registry())
    stack = local_stack(project_root, env, port, watch=True)
    serve(stack, f"Dagster UI: {stack.url}  (prompts: {env[settings.PROMPTS_DIR_ENV]}; worker, daemon and webserver "
                 f"logs in {stack.logs}; Ctrl-C stops everything)")
    return 0


def run_demo(project_root: Path) -> int:
    """Validate the example batches, register them as partitions, launch a run per batch through the
    webserver and follow them to the end, printing a line per asset; then a summary."""
    registry = build_registry()
    started = time.perf_counter()
    env = prepare(project_root, registry)
    batches = {}
    for path in scan_batch_files(settings.prompts_dir()):
        try:
            batch, still_read = read_batch(path, registry.schema)
        except BatchError as exc:
            print(f"skipping invalid batch: {exc}")
            continue
        batches[batch_id_for(path)] = (batch, still_read)
        kinds = sorted({item.kind for item in batch.items})
        print(f"batch {path.name}: {len(batch.items)} items ({', '.join(kinds)})")
    if not batches:
        print(f"no valid batch files in {settings.prompts_dir()}")
        return 1

    output_dir = settings.output_dir()
    stack = local_stack(project_root, env, 0, watch=False)
    with stack.instance() as instance:
        new = [b for b in batches if not instance.has_dynamic_partition(PROMPT_BATCHES, b)]
        if new:
            instance.add_dynamic_partitions(PROMPT_BATCHES, new)
        runs = {batch_id: batch_run(instance, registry, batch_id, batch,
                                    registry.schema.content_hash(batch, settings.prompts_dir(), batch_id))
                for batch_id, (batch, _) in batches.items()}
    # Claimed before the daemon starts: its sensor then finds these launches made and adds none.
    claims = {batch_id: claim_launch(output_dir, batch_id, run.content_hash, DEMO_TRIGGER, batches[batch_id][1],
                                     lambda: None, always=True)
              for batch_id, run in runs.items()}
    print(f"starting the daemon, the webserver and {len(stack.devices)} worker(s) (logs in {stack.logs})", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)  # stop what the demo started, as Ctrl-C does
    failed: list[str] = []
    with stack:
        if stack.devices:
            stack.wait_for_workers()
        wait_until(stack.webserver_ready, 180, "the Dagster webserver", every=0.5)
        launched = {}
        for batch_id, run in runs.items():
            try:
                launched[launch_run(f"{stack.url}/graphql", run, DEMO_TRIGGER)] = batch_id
            except (LaunchError, OSError) as exc:
                claims[batch_id].withdraw()
                failed.append(batch_id)
                print(f"{batch_id}: could not launch: {exc}", flush=True)
        print(f"launched {len(launched)} run(s) on {stack.url} (job generate_batch, one per batch)", flush=True)
        with stack.instance() as instance:
            failed += follow_runs(instance, stack, launched, started)
    return summarize(registry, env, list(batches), failed, started)


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def follow_runs(instance, stack: LocalStack, runs: dict[str, str], started: float) -> list[str]:
    """Print a line per materialized asset (or failed step) of ``runs`` (run id -> batch) until every
    run has finished; returns the batches whose run failed."""
    from dagster import DagsterEventType

    kinds = (DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.STEP_FAILURE)
    cursors: dict[tuple[str, DagsterEventType], str | None] = {}
    pending, failed = dict(runs), []
    while pending:
        for run_id, batch_id in list(pending.items()):
            finished = instance.get_run_by_id(run_id).is_finished  # before reading, so no event is missed
            for kind in kinds:
                records = instance.get_records_for_run(run_id, cursor=cursors.get((run_id, kind)), of_type=kind)
                cursors[(run_id, kind)] = records.cursor
                for record in records.records:
                    print(_progress_line(batch_id, record.event_log_entry, time.perf_counter() - started), flush=True)
            if finished:
                run = instance.get_run_by_id(run_id)
                del pending[run_id]
                if not run.is_success:
                    failed.append(batch_id)
                    print(f"  {batch_id}: run {run_id[:8]} {run.status.value}; its log is in the UI", flush=True)
        for line in stack.restart_dead_workers():
            print(line, flush=True)
        time.sleep(0.25)
    return failed


def _progress_line(batch_id: str, entry, elapsed: float) -> str:
    event = entry.dagster_event
    if event.step_key and event.event_type_value == "STEP_FAILURE":
        return f"  {batch_id:14} {event.step_key:18} FAILED: {event.event_specific_data.error.message.strip()[:160]}"
    materialization = event.event_specific_data.materialization
    metadata = {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}
    asset = materialization.asset_key.to_user_string()
    if not metadata.get("items"):
        done = "no items of its kind"
    elif metadata.get("candidates"):  # made and reused count each candidate of an item with variants
        done = f"{metadata['items']} items ({metadata['generated']} made, {metadata['reused']} reused, " \
               f"{len(metadata['candidates'])} picked from candidates)"
    elif "generated" in metadata:
        done = f"{metadata['generated'] + metadata['reused']}/{metadata['items']} items ({metadata['generated']} made, " \
               f"{metadata['reused']} reused)"
    else:
        done = f"{metadata.get('items', 0)} items, {metadata.get('files', 0)} files"
    return f"  {batch_id:14} {asset:18} {done:38} {elapsed:6.1f} s"


def summarize(registry: Registry, env: dict[str, str], batches: list[str], failed: list[str], started: float) -> int:
    """Print what the runs left in storage and on disk, and where to look next."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = instance.get_run_records()
        materializations = sum(
            len(instance.fetch_materializations(key, limit=10_000).records) for key in _asset_keys(registry)
        )
        checks = [record.event_log_entry.dagster_event.event_specific_data
                  for run in runs
                  for record in instance.get_records_for_run(
                      run.dagster_run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records]
    outputs = sorted(p for p in settings.output_dir().rglob("*") if p.is_file())
    failed_checks = [f"{c.asset_key.to_user_string()}.{c.check_name} ({c.partition})" for c in checks if not c.passed]
    print(f"\nDone in {time.perf_counter() - started:.1f} s: {len(outputs)} files in {settings.output_dir()}")
    print(f"Dagster storage (SQLite): {env['DAGSTER_HOME']}: {len(runs)} runs, {materializations} "
          f"materializations with metadata, {len(checks) - len(failed_checks)}/{len(checks)} asset checks passed")
    if failed_checks:
        print(f"failed checks: {', '.join(failed_checks)}")
    print("Review pages:  " + "  ".join(f".venv/bin/assetgen-dagster review {b}" for b in batches))
    print("Open the UI on these runs (and a hot worker for your edits) with:  make ui")
    if failed:
        print(f"FAILED batches: {', '.join(failed)}")
        return 1
    return 0


def _asset_keys(registry: Registry) -> list:
    return list(build_definitions(registry).resolve_asset_graph().materializable_asset_keys)
