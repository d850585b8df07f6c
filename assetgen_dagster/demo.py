"""The offline demo: real ``dagster`` CLI runs that materialize the example batches with the tiny kit.

Everything lives inside the project: Dagster's SQLite storage in ``.dagster_home/`` (using the
top-level dagster.yaml), the tiny models in ``.cache/huggingface/``, outputs in ``data/outputs/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from assetgen_dagster import settings, tiny
from assetgen_dagster.batches import BatchError, batch_id_for, scan_batch_files
from assetgen_dagster.definitions import build_definitions
from assetgen_dagster.engine.common import GPU_POOL
from assetgen_dagster.jobs import batch_assets
from assetgen_dagster.partitions import PROMPT_BATCHES
from assetgen_dagster.registry import Registry, build_registry


def demo_environment(project_root: Path) -> dict[str, str]:
    """Environment for demo runs and the UI on them; variables already set by the user win."""
    env = {
        "DAGSTER_HOME": str(project_root / ".dagster_home"),
        "ASSETGEN_PROFILE": "tiny",
        "HF_HOME": str(project_root / ".cache" / "huggingface"),
        settings.PROMPTS_DIR_ENV: str(project_root / "data" / "prompts"),
        settings.OUTPUT_DIR_ENV: str(project_root / "data" / "outputs"),
    }
    merged = {**env, **{k: os.environ[k] for k in env if os.environ.get(k)}}
    if merged["ASSETGEN_PROFILE"] == "tiny":
        merged.setdefault("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "1"))
    return merged


def instance_yaml(project_root: Path) -> Path:
    """The instance config to link into DAGSTER_HOME: ASSETGEN_DAGSTER_YAML, else dagster.yaml."""
    chosen = os.environ.get("ASSETGEN_DAGSTER_YAML", "").strip()
    path = Path(chosen) if chosen else project_root / "dagster.yaml"
    return path if path.is_absolute() else project_root / path


def prepare_dagster_home(home: Path, config: Path) -> None:
    """Create DAGSTER_HOME with a link to the instance config (one source of truth)."""
    home.mkdir(parents=True, exist_ok=True)
    link = home / "dagster.yaml"
    if link.is_symlink() or link.exists():
        if link.resolve() == config.resolve():
            return
        link.unlink()
    link.symlink_to(os.path.relpath(config, home))


def ensure_gpu_pool(instance) -> None:
    """Create the `gpu` pool with the configured default limit before any run claims it: Dagster
    creates a pool on first use, and two runs starting together can both get in before it exists."""
    storage = instance.event_log_storage
    limit = instance.global_op_concurrency_default_limit
    if limit is not None and GPU_POOL not in storage.get_concurrency_keys():
        storage.set_concurrency_slots(GPU_POOL, limit)


def venv_bin(name: str) -> str:
    """A console script (dagster, dagster-daemon, assetgen-dagster) of this Python's environment."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def run_demo(project_root: Path) -> int:
    """Validate the example batches, register them as partitions and materialize each with the CLI,
    printing one line per batch and asset; the runs' full logs go to ``<DAGSTER_HOME>/demo.log``."""
    from dagster import DagsterEventType, DagsterInstance

    registry = build_registry()
    env = demo_environment(project_root)
    os.environ.update(env)
    home = Path(env["DAGSTER_HOME"])
    prepare_dagster_home(home, instance_yaml(project_root))
    log_path = home / "demo.log"
    log_path.write_text("")

    started = time.perf_counter()
    if env["ASSETGEN_PROFILE"] == "tiny":
        tiny.ensure_tiny_kit(registry.roles)
        print(f"tiny model kit ready in {env['HF_HOME']} ({time.perf_counter() - started:.1f} s)")

    batches = {}
    for path in scan_batch_files(settings.prompts_dir()):
        try:
            batch = registry.schema.load(path)
        except BatchError as exc:
            print(f"skipping invalid batch: {exc}")
            continue
        batches[batch_id_for(path)] = batch
        kinds = sorted({item.kind for item in batch.items})
        print(f"batch {path.name}: {len(batch.items)} items ({', '.join(kinds)})")
    if not batches:
        print(f"no valid batch files in {settings.prompts_dir()}")
        return 1

    with DagsterInstance.get() as instance:
        ensure_gpu_pool(instance)
        new = [b for b in batches if not instance.has_dynamic_partition(PROMPT_BATCHES, b)]
        if new:
            instance.add_dynamic_partitions(PROMPT_BATCHES, new)

    failed = []
    with DagsterInstance.get() as instance:
        for batch_id, batch in batches.items():
            command = [venv_bin("dagster"), "asset", "materialize", "-m", "assetgen_dagster.definitions",
                       "--select", ",".join(batch_assets(registry, batch)), "--partition", batch_id]
            print(f"\n{batch_id}: $ {' '.join(command[1:])}", flush=True)
            with open(log_path, "a") as log:
                log.write(f"\n$ {' '.join(command)}\n")
                log.flush()
                process = subprocess.Popen(command, env=os.environ.copy(), cwd=project_root, stdout=log,
                                           stderr=subprocess.STDOUT)
                code = _follow_run(instance, process, batch_id, time.perf_counter())
            if code != 0:
                failed.append(batch_id)
                print(f"{batch_id}: FAILED (exit {code}); see {log_path}", flush=True)

    with DagsterInstance.get() as instance:
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
    print(f"Full run logs: {log_path}")
    print("Review pages:  " + "  ".join(f".venv/bin/assetgen-dagster review {b}" for b in batches))
    print("Open the UI on these runs with:  make ui")
    print("  which runs: " + ui_command_line(project_root))
    if failed:
        print(f"FAILED batches: {', '.join(failed)}")
        return 1
    return 0


def _follow_run(instance, process: subprocess.Popen, batch_id: str, started: float) -> int:
    """Print a line per materialized asset of the CLI run for ``batch_id`` until it exits."""
    from dagster import DagsterEventType, RunsFilter

    known = {record.dagster_run.run_id for record in instance.get_run_records(RunsFilter(tags={"dagster/partition": batch_id}))}
    run_id, cursor = None, None
    kinds = {DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.STEP_FAILURE}
    while True:
        finished = process.poll() is not None
        if run_id is None:
            fresh = [r.dagster_run.run_id for r in instance.get_run_records(RunsFilter(tags={"dagster/partition": batch_id}))
                     if r.dagster_run.run_id not in known]
            run_id = fresh[0] if fresh else None
        if run_id is not None:
            for kind in kinds:
                records = instance.get_records_for_run(run_id, cursor=cursor.get(kind) if cursor else None, of_type=kind)
                cursor = {**(cursor or {}), kind: records.cursor}
                for record in records.records:
                    print(_progress_line(batch_id, record.event_log_entry, time.perf_counter() - started), flush=True)
        if finished:
            return process.returncode
        time.sleep(0.25)


def _progress_line(batch_id: str, entry, elapsed: float) -> str:
    event = entry.dagster_event
    if event.step_key and event.event_type_value == "STEP_FAILURE":
        return f"  {batch_id:14} {event.step_key:18} FAILED: {event.event_specific_data.error.message.strip()[:160]}"
    materialization = event.event_specific_data.materialization
    metadata = {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}
    asset = materialization.asset_key.to_user_string()
    if "generated" in metadata:
        done = f"{metadata['generated'] + metadata['reused']}/{metadata['items']} items ({metadata['generated']} made, " \
               f"{metadata['reused']} reused)"
    else:
        done = f"{metadata.get('items', 0)} items, {metadata.get('files', 0)} files"
    return f"  {batch_id:14} {asset:18} {done:38} {elapsed:6.1f} s"


def _ui_command(project_root: Path) -> list[str]:
    return [venv_bin("dagster"), "dev", "-w", str(project_root / "workspace.yaml")]


def ui_command_line(project_root: Path) -> str:
    """The shell line that opens ``dagster dev`` on the demo's storage and settings."""
    env = demo_environment(project_root)
    return " ".join(f"{k}={v}" for k, v in env.items()) + " " + " ".join(_ui_command(project_root))


def _asset_keys(registry: Registry) -> list:
    return list(build_definitions(registry).resolve_asset_graph().materializable_asset_keys)


def run_ui(project_root: Path, extra_args: list[str]) -> int:
    """``dagster dev`` on the demo's storage and settings."""
    from dagster import DagsterInstance

    env = demo_environment(project_root)
    prepare_dagster_home(Path(env["DAGSTER_HOME"]), instance_yaml(project_root))
    if env["ASSETGEN_PROFILE"] == "tiny":
        os.environ.update(env)  # the kit is built into this HF_HOME
        tiny.ensure_tiny_kit(build_registry().roles)
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        ensure_gpu_pool(instance)  # the sensor may start several runs at once
    print("$ " + ui_command_line(project_root) + " " + " ".join(extra_args), flush=True)
    command = [*_ui_command(project_root), *extra_args]
    # From DAGSTER_HOME: `dagster dev` warns about a dagster.yaml in its working directory that is not
    # DAGSTER_HOME's, even when it is the very file DAGSTER_HOME links to.
    return subprocess.call(command, env={**os.environ, **env}, cwd=env["DAGSTER_HOME"])
