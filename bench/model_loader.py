"""Model-loading resource benchmark (tiny kit, offline).

Prints: model loads when K partitions are materialized in one process (must be 1), the time of a
warm (from disk) vs hot (already loaded) use, and the resource's per-call overhead relative to
calling the pipeline directly (target <= 1.02).

    .venv/bin/python bench/model_loader.py [--partitions 5] [--calls 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    asset_def,
    ensure_tiny_kit,
    machine,
    models,
    offline_tiny_environment,
    resources,
    timed,
    write_results,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=5)
    parser.add_argument("--calls", type=int, default=15)
    args = parser.parse_args()
    work = offline_tiny_environment()

    from dagster import DagsterInstance, materialize

    concept_art = asset_def("concept_art")
    from assetgen_dagster.kinds.images.generate import ImageRequest, generate_images
    from assetgen_dagster.models import ModelLoader
    from assetgen_dagster.models.cache import MODEL_CACHE
    from assetgen_dagster.partitions import PROMPT_BATCHES

    ensure_tiny_kit()
    import diffusers  # noqa: F401  - import cost (~4 s) is not load cost: pay it before timing
    model_loader = ModelLoader()
    loader = models(model_loader)

    # Warm (weights on disk, not in memory) vs hot (already loaded) use.
    MODEL_CACHE.clear()
    warm = timed(lambda: loader.use("concept_art").__enter__())
    hot = statistics.median(timed(lambda: loader.use("concept_art").__enter__()) for _ in range(20))

    # Per-call overhead: the same generation through the resource vs on the bare pipeline.
    requests = [ImageRequest(prompt=f"prop {n}", seed=n, steps=2, guidance=0.0,
                             width=64, height=64) for n in range(4)]
    with loader.use("concept_art") as model:
        pipe = model.pipeline
    generate_images(pipe, requests, 4)  # warm-up

    def through_resource() -> None:
        with loader.use("concept_art") as used:
            used.run(lambda bs: generate_images(used.pipeline, requests, bs), batch_size=4)

    direct, resource = [], []
    for _ in range(args.calls):  # interleaved, so drift hits both sides alike
        direct.append(timed(lambda: generate_images(pipe, requests, 4)))
        resource.append(timed(through_resource))
    overhead = statistics.median(resource) / statistics.median(direct)

    # K partitions materialized in one process (the in-process executor): loads per model.
    MODEL_CACHE.clear()
    instance = DagsterInstance.ephemeral()
    keys = [f"batch_{k}" for k in range(args.partitions)]
    for key in keys:
        (work / "prompts" / f"{key}.yaml").write_text(
            "items:\n" + "".join(f"  - {{id: item{n}, kind: concept_art, prompt: 'prop {n}'}}\n" for n in range(4))
        )
    instance.add_dynamic_partitions(PROMPT_BATCHES, keys)
    started = time.perf_counter()
    for key in keys:
        materialize([concept_art], partition_key=key, instance=instance, resources=resources(model_loader))
    materialize_seconds = time.perf_counter() - started
    loads = MODEL_CACHE.loads

    results = {
        "machine": machine(),
        "warm_use_seconds": warm,
        "hot_use_seconds": hot,
        "direct_call_seconds_median": statistics.median(direct),
        "resource_call_seconds_median": statistics.median(resource),
        "overhead_ratio": overhead,
        "partitions": args.partitions,
        "model_loads_for_partitions": loads,
        "materialize_seconds_total": materialize_seconds,
    }
    write_results("model_loader", results, [
        ("model loads for %d partitions in one process" % args.partitions, f"{loads} (target 1)"),
        ("warm use (load from disk cache)", f"{warm * 1000:.0f} ms"),
        ("hot use (already loaded)", f"{hot * 1e6:.0f} us"),
        ("warm / hot", f"{warm / hot:.0f}x"),
        ("4 images, bare pipeline (median)", f"{statistics.median(direct) * 1000:.1f} ms"),
        ("4 images, through the resource (median)", f"{statistics.median(resource) * 1000:.1f} ms"),
        ("per-call overhead ratio", f"{overhead:.3f} (target <= 1.02)"),
    ])


if __name__ == "__main__":
    main()
