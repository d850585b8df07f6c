"""GPU mode: an SD-Turbo-sized pipeline (SD 2.1 architecture, ~1.3 B parameters) with random
weights, fp16, 512 px, batch sizes 1/4/8: images/s through the project's path (ModelLoader +
memory ladder + generate_images) vs the bare diffusers call, peak memory, model load time.

The model is built on the meta device and materialised on the GPU (seconds, not a minute of CPU
init), saved as fp16 safetensors into a temporary Hugging Face cache, and loaded back by repo id
through the ModelLoader, like a real model. One command, well under 10 minutes on an H100:

    .venv/bin/python bench/gpu.py                      # on a CUDA machine
    .venv/bin/python bench/gpu.py --scale tiny --device cpu --batch-sizes 1 2   # smoke test, no GPU
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, models, write_results  # noqa: E402

REPO_ID = "assetgen-bench/sd-turbo-sized"

SCALES = {
    # Stable Diffusion 2.1 / SD-Turbo shapes.
    "full": {
        "unet": dict(sample_size=64, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                     down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                     up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                     cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20), use_linear_projection=True),
        "vae": dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                    sample_size=768),
        "text": dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=23,
                     projection_dim=512, hidden_act="gelu"),
        "size": 512,
    },
    # Small enough to run the same code on a CPU in seconds.
    "tiny": {
        "unet": dict(sample_size=32, block_out_channels=(32, 64), layers_per_block=1,
                     down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                     up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, norm_num_groups=8),
        "vae": dict(block_out_channels=(32, 64), latent_channels=4, norm_num_groups=8,
                    down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2),
        "text": dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                     projection_dim=32),
        "size": 64,
    },
}


def build_random_pipeline(scale: str, device: str, dtype):
    """Instantiate on the meta device, then allocate and randomly fill the weights on ``device``."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from assetgen_dagster.tiny import byte_level_vocab

    config = SCALES[scale]
    vocab, merges = byte_level_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    with torch.device("meta"):
        unet = UNet2DConditionModel(in_channels=4, out_channels=4, **config["unet"])
        vae = AutoencoderKL(in_channels=3, out_channels=3, **config["vae"])
        text = CLIPTextModel(CLIPTextConfig(vocab_size=len(vocab), max_position_embeddings=77,
                                            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                            pad_token_id=tokenizer.pad_token_id, **config["text"]))
    generator = torch.Generator(device).manual_seed(0)
    for module in (unet, vae, text):
        module.to_empty(device=device)
        with torch.no_grad():
            for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
                if name.endswith("position_ids"):
                    tensor.copy_(torch.arange(tensor.shape[-1], device=device).expand_as(tensor))
                elif tensor.is_floating_point():
                    if "norm" in name and name.endswith("weight"):
                        tensor.fill_(1.0)
                    elif name.endswith("bias"):
                        tensor.zero_()
                    else:
                        tensor.normal_(0.0, 0.02, generator=generator)
        module.to(dtype)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="trailing")
    return StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text, tokenizer=tokenizer, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="assetgen-gpu-bench-"))
    os.environ["HF_HOME"] = str(work / "hf")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["ASSETGEN_ALLOWED_REPOS"] = "assetgen-bench/*"
    dtype_name = "float16" if args.device.startswith("cuda") else "float32"
    size = SCALES[args.scale]["size"]
    catalog = work / "catalog.yaml"
    catalog.write_text(f"concept_art: {{repo_id: {REPO_ID}, pipeline: StableDiffusionPipeline, dtype: {dtype_name}, "
                       f"license: random weights, params: {{steps: {args.steps}, guidance: 0.0, width: {size}, "
                       f"height: {size}, batch_size: 1}}}}\n")

    import torch

    from assetgen_dagster.kinds.images.generate import ImageRequest, generate_images
    from assetgen_dagster.models import ModelLoader
    from assetgen_dagster.tiny import install_snapshot

    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    started = time.perf_counter()
    pipe = build_random_pipeline(args.scale, args.device, getattr(torch, dtype_name))
    sync()
    build_seconds = time.perf_counter() - started
    parameters = sum(p.numel() for m in (pipe.unet, pipe.vae, pipe.text_encoder) for p in m.parameters())
    started = time.perf_counter()
    commit = hashlib.sha1(f"{REPO_ID}/{args.scale}".encode()).hexdigest()
    install_snapshot(REPO_ID, commit, lambda folder: pipe.save_pretrained(folder, safe_serialization=True))
    save_seconds = time.perf_counter() - started
    del pipe
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()

    loader = models(ModelLoader(catalog_path=str(catalog), device=args.device))
    started = time.perf_counter()
    with loader.use("concept_art") as model:
        sync()
        load_seconds = time.perf_counter() - started
        pipe = model.pipeline
        rows, results_by_batch = [], {}
        for batch_size in args.batch_sizes:
            count = max(batch_size * 2, 8)
            requests = [ImageRequest(prompt=f"a game prop {n}", seed=n, steps=args.steps,
                                     guidance=0.0, width=size, height=size) for n in range(count)]

            def bare() -> None:
                for start in range(0, count, batch_size):
                    chunk = range(start, min(start + batch_size, count))
                    with torch.inference_mode():
                        pipe(prompt=[requests[i].prompt for i in chunk], num_inference_steps=args.steps,
                             guidance_scale=0.0, width=size, height=size,
                             generator=[torch.Generator("cpu").manual_seed(i) for i in chunk])
                sync()

            def ours() -> None:
                model.run(lambda bs: generate_images(pipe, requests, bs), batch_size=batch_size)
                sync()

            bare()  # warm-up: kernels, allocator
            if args.device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            bare_best = ours_best = float("inf")
            for _ in range(args.rounds):  # interleaved rounds, best of each
                t = time.perf_counter(); bare(); bare_best = min(bare_best, time.perf_counter() - t)  # noqa: E702
                t = time.perf_counter(); ours(); ours_best = min(ours_best, time.perf_counter() - t)  # noqa: E702
            peak = torch.cuda.max_memory_allocated() / 1e9 if args.device.startswith("cuda") else float("nan")
            results_by_batch[batch_size] = {
                "bare_images_per_second": count / bare_best, "pipeline_images_per_second": count / ours_best,
                "ratio_pipeline_over_bare": (count / ours_best) / (count / bare_best), "peak_memory_gb": peak,
                "memory_mode": model.memory_mode,
            }
            rows.append((f"batch {batch_size}: images/s bare / through the pipeline",
                         f"{count / bare_best:.2f} / {count / ours_best:.2f} "
                         f"(ratio {bare_best / ours_best:.3f}), peak {peak:.1f} GB"))

    results = {
        "machine": machine(), "scale": args.scale, "device": args.device, "dtype": dtype_name, "size": size,
        "steps": args.steps, "parameters": parameters, "build_seconds": build_seconds,
        "save_seconds": save_seconds, "load_seconds": load_seconds, "batches": results_by_batch,
    }
    write_results(f"gpu_{args.scale}_{args.device.replace(':', '')}", results, [
        ("parameters (UNet + VAE + text encoder)", f"{parameters / 1e9:.2f} B"),
        ("build on meta + random init on device", f"{build_seconds:.1f} s"),
        ("save fp16 safetensors to the hub cache", f"{save_seconds:.1f} s"),
        ("load through ModelLoader (warm, from disk)", f"{load_seconds:.1f} s"),
        *rows,
    ])


if __name__ == "__main__":
    main()
