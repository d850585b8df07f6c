"""What a batch style costs (tiny kit, offline): seconds per item with and without LoRAs, the first
styled call (loading the adapter into the loaded pipeline), a swap to another LoRA between batches,
and whether the base weights were reloaded (they must not be: one pipeline object throughout).

    .venv/bin/python bench/style.py [--items 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ensure_tiny_kit, machine, models, offline_tiny_environment, write_results  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    offline_tiny_environment()
    ensure_tiny_kit()

    from assetgen_dagster.kinds.images.generate import ImageRequest, generate_images
    from assetgen_dagster.kinds.images.style import AppliedLora
    from assetgen_dagster.kinds.images.tiny import LORA_WEIGHTS, SECOND_STYLE, TINY_STYLE_LORA_REPO

    bound = models()
    with bound.use("concept_art") as model:
        pipe, params = model.pipeline, model.spec.params

        def styled(weight_name: str) -> tuple[tuple[AppliedLora, ...], tuple]:
            adapter = bound.adapter(TINY_STYLE_LORA_REPO, "main", weight_name)
            lora = AppliedLora(TINY_STYLE_LORA_REPO, adapter.commit, weight_name, 0.8)
            return (lora,), ((lora.adapter_name, adapter.path),)

        def requests(loras=(), files=()) -> list[ImageRequest]:
            return [ImageRequest(prompt=f"a prop {n}", seed=n, steps=params.steps, guidance=params.guidance,
                                 width=params.width, height=params.height, loras=loras, lora_files=files)
                    for n in range(args.items)]

        def per_item(batch: list[ImageRequest]) -> float:
            seconds = []
            for _ in range(args.repeats):
                began = time.perf_counter()
                generate_images(pipe, batch, params.batch_size)
                seconds.append((time.perf_counter() - began) / len(batch))
            return statistics.median(seconds)

        first, second = styled(LORA_WEIGHTS), styled(SECOND_STYLE)
        plain_seconds = per_item(requests())
        began = time.perf_counter()
        generate_images(pipe, requests(*first)[:1], 1)
        first_styled_call = time.perf_counter() - began
        styled_seconds = per_item(requests(*first))
        began = time.perf_counter()
        generate_images(pipe, requests(*second)[:1], 1)
        swap_call = time.perf_counter() - began
        one_item = per_item(requests(*second)[:1])
        same_pipeline = model.pipeline is pipe
    with bound.use("concept_art") as again:
        reloaded = again.pipeline is not pipe or again.cache_state != "hot"

    results = {
        "machine": machine(), "items": args.items, "repeats": args.repeats,
        "seconds_per_item_unstyled": plain_seconds, "seconds_per_item_styled": styled_seconds,
        "styled_over_unstyled": styled_seconds / plain_seconds,
        "first_styled_call_seconds": first_styled_call, "swap_call_seconds": swap_call,
        "swap_overhead_seconds": swap_call - one_item, "base_weights_reloaded": reloaded or not same_pipeline,
    }
    table = [("seconds per item, unstyled", f"{plain_seconds:.4f}"),
             ("seconds per item, one LoRA", f"{styled_seconds:.4f}"),
             ("styled / unstyled", f"{styled_seconds / plain_seconds:.2f}"),
             ("first styled call (loads the adapter), 1 item", f"{first_styled_call:.3f}"),
             ("call after a swap to another LoRA, 1 item", f"{swap_call:.3f}"),
             ("swap overhead over a 1-item call", f"{swap_call - one_item:.3f}"),
             ("base weights reloaded", str(results["base_weights_reloaded"]))]
    for name, value in table:
        print(f"{name}: {value}")
    write_results("style", results, table)


if __name__ == "__main__":
    main()
