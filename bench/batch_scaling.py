"""Images per second against the pipeline batch size (1, 2, 4, 8) on the tiny model, through the
same generate_images + model-loader path the assets use.

    .venv/bin/python bench/batch_scaling.py [--items 32]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, models, offline_tiny_environment, timed, write_results  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    offline_tiny_environment()

    from assetgen_dagster.kinds.images.generate import ImageRequest, generate_images

    requests = [ImageRequest(prompt=f"prop {n}", seed=n, steps=2, guidance=0.0,
                             width=64, height=64) for n in range(args.items)]
    rates = {}
    with models().use("concept_art") as model:
        generate_images(model.pipeline, requests[:8], 8)  # warm-up
        for batch_size in (1, 2, 4, 8):
            best = min(timed(lambda: generate_images(model.pipeline, requests, batch_size))
                       for _ in range(args.rounds))
            rates[batch_size] = args.items / best
    results = {"machine": machine(), "items": args.items, "images_per_second": rates}
    write_results("batch_scaling", results, [
        (f"batch size {bs}", f"{rate:.1f} images/s ({rate / rates[1]:.2f}x batch 1)") for bs, rate in rates.items()
    ])


if __name__ == "__main__":
    main()
