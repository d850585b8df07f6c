"""Edit-to-file latency and backfill throughput: Dagster's default run launcher vs long-lived
Celery workers, on the tiny kit, same machine.

Latency: a 4-item batch is materialized once (so every model the worker needs is loaded), then the
prompt of one item is edited several times; each time the clock runs from the file write until the
item's new PNG is in place, and the run is let finish before the next edit. Every set-up runs the
sensor every daemon pass and dequeues every second against the same PostgreSQL instance config.
Four set-ups: the default launcher (a fresh `dagster api execute_run` process per run) with the
sensor as trigger (what `dagster dev` does), the default launcher with `assetgen-dagster watch` as
trigger, a hot Celery worker with the watcher on PostgreSQL and Redis (what `make cluster` runs),
and the same on SQLite and the filesystem broker with the top-level dagster.yaml (what `make ui`
runs). `--setups ui,celery` runs some of them.

Throughput: `dagster job backfill` of 8 batches (one run per batch) with 1 and with 2 CPU workers.

    .venv/bin/python bench/edit_latency.py [--edits 9] [--items 4] [--backfill-items 24]

Ends with `default_launcher_s=<x> hot_worker_s=<y> make_ui_s=<z>` (medians; x: default launcher and
sensor, y: hot worker and watcher on the cluster, z: `make ui`; targets: y at least 4x lower than x,
z <= 2 s).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml
from common import PROJECT_ROOT, ensure_tiny_kit, offline_tiny_environment, write_results

from assetgen_dagster.cluster.servers import wait_until

SENSOR_SECONDS = "1"


def batch_text(items: int, first_prompt: str, word: str = "crate") -> str:
    lines = [f"  - {{id: {word}{n}, kind: concept_art, prompt: '{first_prompt if n == 0 else f'{word} {n}'}'}}"
             for n in range(items)]
    return "items:\n" + "\n".join(lines) + "\n"


def idle(cluster) -> bool:
    """No run queued, starting or in progress."""
    from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES, DagsterRunStatus, RunsFilter

    with cluster.instance() as instance:
        statuses = [*IN_PROGRESS_RUN_STATUSES, DagsterRunStatus.QUEUED]
        return not instance.get_run_records(filters=RunsFilter(statuses=statuses), limit=1)


def changed(path: Path, before: bytes | None) -> bool:
    try:
        return path.read_bytes() != before
    except FileNotFoundError:
        return False


def newest_run_created(cluster, partition: str) -> float:
    with cluster.instance() as instance:
        [record] = [r for r in instance.get_run_records(limit=5) if r.dagster_run.tags.get("dagster/partition") == partition][:1]
    return record.create_timestamp.timestamp()


def edit_latencies(cluster, work: Path, edits: int, items: int) -> tuple[list[float], list[float]]:
    """Per edit: seconds from the file write to the new PNG, and from the run's creation (by the
    sensor) to the new PNG (what the launcher and the run take)."""
    phases = random.Random(7)  # the same edit times relative to the sensor loop for both launchers
    prompts, out = work / "prompts", work / "outputs" / "edits" / "concept_art" / "crate0.png"
    (prompts / "edits.yaml").write_text(batch_text(items, "crate 0 version 0"))
    wait_until(lambda: changed(out, None), 300, "the first run of the batch", every=0.02)
    time.sleep(1.0)
    wait_until(lambda: idle(cluster), 300, "the first run to finish", every=0.2)
    latencies, after_run_created = [], []
    for version in range(1, edits + 1):
        # Dagster's sensor daemon evaluates sensors every 5 s: edit at a random point of that loop.
        time.sleep(phases.uniform(0, 5))
        before = out.read_bytes()
        started = time.perf_counter()
        (prompts / "edits.yaml").write_text(batch_text(items, f"crate 0 version {version}"))
        wait_until(lambda: changed(out, before), 300, f"edit {version}'s new PNG", every=0.02)
        latencies.append(time.perf_counter() - started)
        after_run_created.append(time.time() - newest_run_created(cluster, "edits"))
        print(f"  edit {version}: {latencies[-1]:.2f} s (run created -> PNG {after_run_created[-1]:.2f} s)",
              flush=True)
        time.sleep(1.0)
        wait_until(lambda: idle(cluster), 300, "the run to finish", every=0.2)
    return latencies, after_run_created


def backfill_seconds(cluster, work: Path, items: int, tag: str) -> tuple[float, int]:
    """Seconds from submitting `dagster job backfill` of 8 batches until all 8 runs finished; workers used."""
    batches = [f"{tag}{n}" for n in range(8)]
    dagster = str(Path(sys.executable).with_name("dagster"))
    subprocess.run([dagster, "sensor", "stop", "prompt_batch_sensor", "-w", str(PROJECT_ROOT / "workspace.yaml")],
                   cwd=PROJECT_ROOT, env=cluster.env, check=True, capture_output=True)  # only the backfill's runs
    for batch_id in batches:
        (work / "prompts" / f"{batch_id}.yaml").write_text(batch_text(items, f"barrel of {batch_id}", "barrel"))
    with cluster.instance() as instance:  # as the sensor would, without its runs
        from assetgen_dagster.partitions import PROMPT_BATCHES

        instance.add_dynamic_partitions(PROMPT_BATCHES, batches)
    started = time.perf_counter()
    subprocess.run([dagster, "job", "backfill", "-m", "assetgen_dagster.definitions",
                    "-j", "generate_batch", "--partitions", ",".join(batches), "--noprompt"],
                   cwd=PROJECT_ROOT, env=cluster.env, check=True, capture_output=True)

    def all_done():
        with cluster.instance() as instance:
            # The backfill's own runs (follow_upstreams may add an asset_pack run of its own meanwhile)
            runs = [r for r in instance.get_runs() if "dagster/backfill" in r.tags and r.job_name == "generate_batch"]
            return len(runs) == len(batches) and all(r.is_finished for r in runs) and runs

    runs = wait_until(all_done, 900, "the backfill's runs", every=0.2)
    elapsed = time.perf_counter() - started
    assert all(r.is_success for r in runs), [r.status for r in runs]
    return elapsed, len({r.tags.get("assetgen/worker") for r in runs})


def make_ui_stack(work: Path):
    """What `make ui` runs: the top-level dagster.yaml (SQLite, filesystem broker), one CPU worker,
    the webserver and the watcher."""
    from assetgen_dagster.cluster.local import LocalStack

    env = {**os.environ, "ASSETGEN_SENSOR_INTERVAL_SECONDS": SENSOR_SECONDS}
    return LocalStack(PROJECT_ROOT, work / "ui" / "dagster_home", work / "ui" / "logs", ["cpu"], env,
                      webserver_port=0, instance_config=(PROJECT_ROOT / "dagster.yaml").read_text())


def cluster_for(work: Path, devices: list[str], launcher: str, watch: bool = False):
    from assetgen_dagster.cluster.local import LocalCluster, instance_yaml_for

    config = yaml.safe_load(instance_yaml_for(PROJECT_ROOT, max(1, len(devices))))
    if launcher == "default":
        del config["run_launcher"]
    env = {**os.environ, "ASSETGEN_SENSOR_INTERVAL_SECONDS": SENSOR_SECONDS}
    return LocalCluster(PROJECT_ROOT, work / f"cluster-{launcher}-{len(devices)}", devices, env,
                        instance_config=yaml.safe_dump(config, sort_keys=False),
                        webserver_port=0 if watch else None)  # a webserver, and the watcher that uses it


def fresh_work(parent: Path, name: str) -> Path:
    work = parent / name
    (work / "prompts").mkdir(parents=True)
    os.environ["ASSETGEN_PROMPTS_DIR"] = str(work / "prompts")
    os.environ["ASSETGEN_OUTPUT_DIR"] = str(work / "outputs")
    return work


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits", type=int, default=9)
    parser.add_argument("--items", type=int, default=4)
    parser.add_argument("--backfill-items", type=int, default=24)
    parser.add_argument("--setups", default="default,default_watch,celery,ui",
                        help="comma-separated: default, default_watch, celery, ui, backfill")
    args = parser.parse_args()
    chosen = set(args.setups.split(","))
    parent = offline_tiny_environment()
    parent.chmod(0o755)  # as root, PostgreSQL runs as the postgres user and must reach its folder
    ensure_tiny_kit()
    results, table = {}, []
    setups = (("default", "default launcher, sensor"), ("default_watch", "default launcher, watch"),
              ("celery", "hot worker, watch (make cluster: PostgreSQL, Redis)"),
              ("ui", "hot worker, watch (make ui: SQLite, filesystem broker)"))
    for name, label in setups:
        if name not in chosen:
            continue
        work = fresh_work(parent, f"latency-{name}")
        print(f"{label}: {args.edits} edits of a {args.items}-item batch", flush=True)
        stack = make_ui_stack(work) if name == "ui" else \
            cluster_for(work, ["cpu"] if name == "celery" else [], "celery" if name == "celery" else "default",
                        watch=name != "default")
        with stack:
            if stack.devices:
                stack.wait_for_workers()
            if stack.webserver_port is not None:
                wait_until(stack.webserver_ready, 180, "the webserver", every=0.5)
            latencies, launched = edit_latencies(stack, work, args.edits, args.items)
        results[f"{name}_latencies_s"] = latencies
        results[f"{name}_median_s"] = statistics.median(latencies)
        results[f"{name}_run_created_to_png_median_s"] = statistics.median(launched)
        table.append((f"edit -> new PNG, {label}: median (min-max) of {args.edits}",
                      f"{statistics.median(latencies):.2f} s ({min(latencies):.2f}-{max(latencies):.2f})"))
        table.append(("  of which run created -> new PNG (launcher + run), median",
                      f"{statistics.median(launched):.2f} s"))
    if {"default", "celery"} <= chosen:
        ratio = results["default_median_s"] / results["celery_median_s"]
        table.append(("edit -> new PNG: default launcher + sensor / hot worker + watch (target >= 4x)", f"{ratio:.1f}x"))
        table.append(("run created -> new PNG: default / hot worker",
                      f"{results['default_run_created_to_png_median_s'] / results['celery_run_created_to_png_median_s']:.1f}x"))
    if {"default_watch", "celery"} <= chosen:
        table.append(("edit -> new PNG: default launcher + watch / hot worker + watch (the launcher alone)",
                      f"{results['default_watch_median_s'] / results['celery_median_s']:.1f}x"))
    if {"default", "ui"} <= chosen:
        table.append(("edit -> new PNG: default launcher + sensor / make ui",
                      f"{results['default_median_s'] / results['ui_median_s']:.1f}x"))

    for workers in ((1, 2) if "backfill" in chosen else ()):
        work = fresh_work(parent, f"backfill-{workers}")
        print(f"backfill of 8 batches x {args.backfill_items} items over {workers} worker(s)", flush=True)
        with cluster_for(work, ["cpu"] * workers, "celery") as cluster:
            cluster.wait_for_workers()
            seconds, used = backfill_seconds(cluster, work, args.backfill_items, f"fill{workers}w")
        results[f"backfill_{workers}_workers_s"] = seconds
        table.append((f"backfill 8 batches x {args.backfill_items} items, {workers} worker(s)",
                      f"{seconds:.1f} s on {used} worker(s)"))
    if "backfill" in chosen:
        table.append(("backfill throughput, 2 workers / 1 worker",
                      f"{results['backfill_1_workers_s'] / results['backfill_2_workers_s']:.2f}x (2 CPU cores here)"))
    write_results("edit_latency", results, table)
    shutil.rmtree(parent, ignore_errors=True)
    print(" ".join(f"{key}={results[f'{name}_median_s']:.2f}" for key, name in
                   (("default_launcher_s", "default"), ("hot_worker_s", "celery"), ("make_ui_s", "ui"))
                   if f"{name}_median_s" in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
