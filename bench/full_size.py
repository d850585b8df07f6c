"""Full size: SD-Turbo's real architecture (random weights, the full kit) at its real resolution and
steps, per memory mode: the fit check's estimate, the measured peak, seconds per item through the
project's path (the concept_art asset's generate + write: provenance PNGs) and through bare
diffusers (the same loaded pipeline, seeds and PNG writes), and their ratio.

Each memory mode runs in a fresh process, so each peak is its own (peak RSS on CPU, the allocator's
peak on CUDA). With no arguments it builds what it needs (`assetgen-dagster full-kit concept_art`,
~20 s, 2.5 GB in the Hugging Face cache) and runs SD-Turbo's role on the CPU:

    .venv/bin/python bench/full_size.py [--device cpu|cuda] [--items 3] [--size 512] [--steps 1]

The last line is ``role=<role> device=<device> estimate_gb=<x> peak_gb=<y> ratio=<z>`` for full mode.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RssSampler, child_result, machine, models, registry, write_results  # noqa: E402

ROLE = "concept_art"
GB = 1e9


def child(mode: str, device: str, items: int, size: int, steps: int, budget_gb: float | None = None) -> dict:
    """One memory mode, measured in this (fresh) process (with the loader's budget, if given)."""
    import resource

    import torch

    from assetgen_dagster.engine import ItemOutput
    from assetgen_dagster.kinds.images.full import FULL_SD_TURBO, FULL_SD_TURBO_REPO
    from assetgen_dagster.kinds.images.generate import ImageRequest
    from assetgen_dagster.models import ModelLoader
    from assetgen_dagster.models.memory import apply_memory_mode, estimate_weights
    from assetgen_dagster.outputs import png_bytes
    from assetgen_dagster.tiny import ensure_full_model

    work = Path(tempfile.mkdtemp(prefix="assetgen-full-size-"))
    dtype = "float16" if device.startswith("cuda") else "float32"
    catalog = work / "catalog.yaml"
    catalog.write_text(f"{ROLE}: {{repo_id: {FULL_SD_TURBO_REPO}, pipeline: StableDiffusionPipeline, dtype: {dtype}, "
                       f"license: random weights, params: {{steps: {steps}, guidance: 0.0, width: {size}, "
                       f"height: {size}, batch_size: 1}}}}\n")
    os.environ["ASSETGEN_ALLOWED_REPOS"] = "assetgen-full/*"
    loader = ModelLoader(catalog_path=str(catalog), device=device, memory_budget_gb=budget_gb)
    bound = models(loader)
    resolved = bound.resolve(ROLE)
    asset = registry().asset(ROLE)
    item = registry().kind(ROLE).item.model_validate({"id": "prop", "kind": ROLE, "prompt": "a game prop"})

    def peak() -> int:
        if device.startswith("cuda"):
            return torch.cuda.max_memory_allocated()
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    baseline = peak()
    began = time.perf_counter()
    with bound.use(resolved) as model:
        load_seconds = time.perf_counter() - began
        load_peak = peak()
        pipe = model.pipeline
        apply_memory_mode(pipe, mode, device)
        requests = [ImageRequest(prompt=f"a game prop {n}", seed=n, steps=steps, guidance=0.0, width=size, height=size)
                    for n in range(items)]

        def bare(request: ImageRequest, n: int) -> None:
            with torch.inference_mode():
                [image] = pipe(prompt=[request.prompt], num_inference_steps=steps, guidance_scale=0.0, width=size,
                               height=size, generator=[torch.Generator("cpu").manual_seed(request.seed)]).images
            sync()
            (work / f"bare_{n}.png").write_bytes(png_bytes(image, {}))

        def ours(request: ImageRequest, n: int) -> None:
            [raw] = asset.generate(model, [request])
            sync()
            asset.write(ItemOutput(work / "ours", f"prop{n}", {"item": f"prop{n}"}), item, request, raw)

        (work / "ours").mkdir()
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        with RssSampler() as sampled:
            bare(requests[0], 0)  # warm-up: allocator, kernels, the first PNG encode
            bare_seconds, our_seconds = [], []
            for n, request in enumerate(requests):  # interleaved, so drift hits both alike
                t = time.perf_counter(); bare(request, n); bare_seconds.append(time.perf_counter() - t)  # noqa: E702
                t = time.perf_counter(); ours(request, n); our_seconds.append(time.perf_counter() - t)  # noqa: E702
        generation_peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else sampled.peak
    folder = ensure_full_model(FULL_SD_TURBO)  # the snapshot the loader read: the fit check's estimate from its headers
    files = [str(p.relative_to(folder)) for p in folder.rglob("*.safetensors")]
    weights, transient = estimate_weights(folder, files, dtype)
    estimate = weights + loader.working_bytes(transient)
    return {"mode": mode, "device": device, "dtype": dtype, "estimate_bytes": estimate, "weight_bytes": weights,
            "peak_bytes": peak(), "load_peak_bytes": load_peak, "generation_peak_bytes": generation_peak,
            "baseline_bytes": baseline, "load_seconds": load_seconds,
            "bare_seconds_per_item": statistics.median(bare_seconds), "seconds_per_item": statistics.median(our_seconds),
            "items": items, "size": size, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--items", type=int, default=3)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--modes", nargs="+", default=None)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--budget-gb", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    if args.child:
        from assetgen_dagster.models.errors import ModelError

        try:
            print(json.dumps(child(args.child, args.device, args.items, args.size, args.steps, args.budget_gb)))
        except ModelError as exc:  # the ladder run: refused, and whether a retry could help
            print(json.dumps({"refused": f"{type(exc).__name__}: {exc}", "retryable": exc.retryable}))
        return

    from assetgen_dagster.models.memory import available_modes

    began = time.perf_counter()  # built in its own process: a child inherits its parent's peak RSS
    subprocess.run([str(Path(sys.executable).with_name("assetgen-dagster")), "full-kit", ROLE], check=True)
    print(f"full kit ready in {time.perf_counter() - began:.1f} s")
    results = []
    for mode in args.modes or available_modes(args.device):
        command = [sys.executable, __file__, "--child", mode, "--device", args.device, "--items", str(args.items),
                   "--size", str(args.size), "--steps", str(args.steps)]
        result = child_result(command, f"mode {mode}")
        result["ratio"] = result["seconds_per_item"] / result["bare_seconds_per_item"]
        results.append(result)
        print(f"mode={mode} estimate_gb={result['estimate_bytes'] / GB:.2f} peak_gb={result['peak_bytes'] / GB:.2f} "
              f"(before the load {result['baseline_bytes'] / GB:.2f}, load {result['load_peak_bytes'] / GB:.2f}, "
              f"generating {result['generation_peak_bytes'] / GB:.2f}) seconds_per_item={result['seconds_per_item']:.2f} "
              f"bare={result['bare_seconds_per_item']:.2f} ratio={result['ratio']:.3f} load_s={result['load_seconds']:.1f}")
    table = [(f"{r['mode']}: estimate / peak (GB): whole process, load, generating",
              f"{r['estimate_bytes'] / GB:.2f} / {r['peak_bytes'] / GB:.2f}, {r['load_peak_bytes'] / GB:.2f}, "
              f"{r['generation_peak_bytes'] / GB:.2f}") for r in results]
    table += [(f"{r['mode']}: s per item, project / bare (ratio)",
               f"{r['seconds_per_item']:.2f} / {r['bare_seconds_per_item']:.2f} ({r['ratio']:.3f})") for r in results]
    write_results(f"full_size_{args.device.replace(':', '')}", {"machine": machine(), "role": ROLE, "modes": results},
                  table)
    full = next(r for r in results if r["mode"] == "full") if any(r["mode"] == "full" for r in results) else results[0]
    # The ladder for real: a budget just below what full mode measured.
    budget = round(full["peak_bytes"] / GB - 0.1, 2)
    command = [sys.executable, __file__, "--child", "full", "--device", args.device, "--items", "1", "--size",
               str(args.size), "--steps", str(args.steps), "--budget-gb", str(budget)]
    ladder = child_result(command, f"the ladder run at {budget} GB")
    if "refused" in ladder:
        print(f"ladder: budget {budget} GB: refused before loading, retryable={ladder['retryable']}: {ladder['refused']}")
    else:
        print(f"ladder: budget {budget} GB: ran in mode {ladder['mode']}, peak {ladder['peak_bytes'] / GB:.2f} GB")
    print(f"role={ROLE} device={args.device} estimate_gb={full['estimate_bytes'] / GB:.2f} "
          f"peak_gb={full['peak_bytes'] / GB:.2f} ratio={full['ratio']:.3f}")


if __name__ == "__main__":
    main()
