"""Regeneration benchmark (tiny kit, offline).

Prints: the time to re-materialize a 50-item batch after a one-prompt edit vs its full
generation (ratio, target <= 0.05), the sensor tick over 1,000 unchanged batch files, and model
loads in a single-run backfill of K partitions (target 1).

    .venv/bin/python bench/regeneration.py [--items 50] [--files 1000] [--partitions 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    asset_def,
    ensure_tiny_kit,
    machine,
    models,
    offline_tiny_environment,
    registry,
    resources,
    timed,
    write_results,
)


def batch_text(items: int, edited: int | None = None) -> str:
    lines = ["items:"]
    for n in range(items):
        prompt = f"prop number {n}" + (" with moss" if n == edited else "")
        lines.append(f"  - {{id: item{n}, kind: concept_art, prompt: '{prompt}'}}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=5)
    args = parser.parse_args()
    work = offline_tiny_environment()
    prompts = work / "prompts"

    from dagster import DagsterInstance, build_sensor_context, materialize

    concept_art = asset_def("concept_art")
    from assetgen_dagster.models import ModelLoader
    from assetgen_dagster.models.cache import MODEL_CACHE
    from assetgen_dagster.partitions import PROMPT_BATCHES
    from assetgen_dagster.sensors import batch_sensor
    from assetgen_dagster.settings import ProjectSettings

    ensure_tiny_kit()
    loader = ModelLoader()
    with models(loader).use("concept_art"):
        pass  # load once: both sides below run with a hot model
    sensor = batch_sensor(registry())

    def tick(instance, cursor=None):
        return sensor(build_sensor_context(instance=instance, cursor=cursor, resources={"project": ProjectSettings()}))
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(PROMPT_BATCHES, ["big"])

    def run(partition: str | None = "big", tags: dict | None = None) -> None:
        materialize([concept_art], partition_key=partition, instance=instance, tags=tags,
                    resources=resources(loader))

    # Full generation of the batch vs re-materializing after one prompt edit (alternating edits).
    full, edit, unchanged = [], [], []
    for round_ in range(3):
        (prompts / "big.yaml").write_text(batch_text(args.items, edited=None))
        for output in (work / "outputs" / "big" / "concept_art").glob("*"):
            output.unlink()  # no outputs: everything is generated
        full.append(timed(run))
        (prompts / "big.yaml").write_text(batch_text(args.items, edited=round_))
        edit.append(timed(run))
        unchanged.append(timed(run))  # the fixed cost: a run, the plan, verifying 50 files
    full_s, edit_s, unchanged_s = statistics.median(full), statistics.median(edit), statistics.median(unchanged)

    # Sensor tick over many files, nothing changed since the previous tick.
    sensor_dir = work / "sensor_prompts"
    sensor_dir.mkdir()
    for n in range(args.files):
        (sensor_dir / f"batch{n:04d}.yaml").write_text(batch_text(3))
    import os

    os.environ["ASSETGEN_PROMPTS_DIR"] = str(sensor_dir)
    sensor_instance = DagsterInstance.ephemeral()
    first = tick(sensor_instance)
    first_tick = timed(lambda: tick(DagsterInstance.ephemeral()))
    for request in first.dynamic_partitions_requests:
        sensor_instance.add_dynamic_partitions(PROMPT_BATCHES, list(request.partition_keys))
    quiet_ticks = [timed(lambda: tick(sensor_instance, first.cursor)) for _ in range(5)]
    quiet_tick = statistics.median(quiet_ticks)
    os.environ["ASSETGEN_PROMPTS_DIR"] = str(prompts)

    # Single-run backfill over K partitions: model loads.
    keys = [f"part{k}" for k in range(args.partitions)]
    for key in keys:
        (prompts / f"{key}.yaml").write_text(batch_text(4).replace("prop number", f"{key} prop"))
    instance.add_dynamic_partitions(PROMPT_BATCHES, keys)
    MODEL_CACHE.clear()
    backfill = timed(lambda: run(None, {"dagster/asset_partition_range_start": keys[0],
                                        "dagster/asset_partition_range_end": keys[-1]}))
    loads = MODEL_CACHE.loads

    results = {
        "machine": machine(), "items": args.items, "full_regeneration_seconds": full_s,
        "one_prompt_edit_seconds": edit_s, "edit_over_full": edit_s / full_s,
        "unchanged_rerun_seconds": unchanged_s, "marginal_edit_over_full": (edit_s - unchanged_s) / full_s,
        "sensor_files": args.files, "sensor_first_tick_seconds": first_tick,
        "sensor_unchanged_tick_seconds": quiet_tick,
        "backfill_partitions": args.partitions, "backfill_model_loads": loads, "backfill_seconds": backfill,
    }
    write_results("regeneration", results, [
        (f"full generation, {args.items}-item batch (hot model)", f"{full_s:.2f} s"),
        ("re-materialize after a one-prompt edit", f"{edit_s:.2f} s"),
        ("edit / full", f"{edit_s / full_s:.3f} (target <= 0.05)"),
        ("re-materialize with nothing changed (run + plan + verify 50 files)", f"{unchanged_s:.2f} s"),
        ("(edit - unchanged) / full: the regeneration itself", f"{(edit_s - unchanged_s) / full_s:.3f}"),
        (f"sensor tick, {args.files} files, first (parses all)", f"{first_tick:.2f} s"),
        (f"sensor tick, {args.files} files, nothing changed", f"{quiet_tick * 1000:.0f} ms"),
        (f"model loads, single-run backfill of {args.partitions} partitions", f"{loads} (target 1)"),
        ("that backfill's wall time", f"{backfill:.2f} s"),
    ])


if __name__ == "__main__":
    main()
