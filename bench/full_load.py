"""Full-size loads: for each role with a full-size model (the default models' real architectures with
random weights: `assetgen-dagster full-kit`), the fit check's estimate against what loading it
through the project's loader measures, in a fresh process per model: the resident memory the load
added (peak, sampled every 5 ms), the weights' bytes once loaded, and the load's seconds.

    .venv/bin/python bench/full_load.py [ROLE ...]     # default: one role per full-size model

It builds what it needs first (`full-kit`, once: ~10 GB in the Hugging Face cache). One line per
model; the last is ``worst estimate/peak ratio=<x>``. bench/full_size.py measures SD-Turbo's
generation and memory modes; this one the other roles' loads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RssSampler, child_result, machine, models, registry, write_results  # noqa: E402

GB = 1e9


def child(role: str, device: str) -> dict:
    """Load ``role``'s full-size model in this (fresh) process and measure it."""
    import yaml

    from assetgen_dagster.models import ModelLoader
    from assetgen_dagster.models.memory import estimate_weights, module_bytes
    from assetgen_dagster.tiny import ensure_full_model

    spec_role = registry().roles[role]
    folder = ensure_full_model(spec_role.full)
    catalog = Path(tempfile.mkdtemp(prefix="assetgen-full-load-")) / "catalog.yaml"
    catalog.write_text(yaml.safe_dump({role: spec_role.full_entry()}))
    os.environ["ASSETGEN_ALLOWED_REPOS"] = "assetgen-full/*"
    loader = ModelLoader(catalog_path=str(catalog), device=device)
    bound = models(loader)
    resolved = bound.resolve(role)
    files = [str(p.relative_to(folder)) for p in folder.rglob("*.safetensors")]
    weights, transient = estimate_weights(folder, files, resolved.dtype)
    estimate = weights + loader.working_bytes(transient)
    with RssSampler() as sampled:
        before = sampled.peak
        began = time.perf_counter()
        with bound.use(resolved) as model:
            seconds = time.perf_counter() - began
            loaded = module_bytes(model.pipeline)
    return {"role": role, "repo_id": spec_role.full.repo_id, "device": device, "dtype": resolved.dtype,
            "estimate_bytes": estimate, "estimated_weight_bytes": weights, "transient_bytes": transient,
            "loaded_weight_bytes": loaded, "rss_before_bytes": before, "load_peak_bytes": sampled.peak - before,
            "load_seconds": seconds, "disk_bytes": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roles", nargs="*")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["HF_HUB_OFFLINE"] = "1"
    if args.child:
        print(json.dumps(child(args.child, args.device)))
        return

    from assetgen_dagster.tiny import full_models

    available = full_models(registry().roles)
    roles = args.roles or list({full.repo_id: role for role, full in available.items()}.values())
    subprocess.run([str(Path(sys.executable).with_name("assetgen-dagster")), "full-kit", *roles], check=True)
    results = []
    for role in roles:
        result = child_result([sys.executable, __file__, "--child", role, "--device", args.device], f"role {role}")
        result["ratio"] = result["estimate_bytes"] / result["load_peak_bytes"]
        results.append(result)
        print(f"role={role} model={result['repo_id']} dtype={result['dtype']} disk_gb={result['disk_bytes'] / GB:.2f} "
              f"estimate_gb={result['estimate_bytes'] / GB:.2f} (weights {result['estimated_weight_bytes'] / GB:.2f}, "
              f"load transient {result['transient_bytes'] / GB:.2f}) loaded_weights_gb="
              f"{result['loaded_weight_bytes'] / GB:.2f} load_peak_gb={result['load_peak_bytes'] / GB:.2f} "
              f"(process before {result['rss_before_bytes'] / GB:.2f}) estimate/peak={result['ratio']:.3f} "
              f"load_s={result['load_seconds']:.1f}", flush=True)
    table = [(f"{r['role']} ({r['repo_id']}, {r['dtype']}): estimate / load peak / loaded weights (GB), ratio, load s",
              (f"{r['estimate_bytes'] / GB:.2f} / {r['load_peak_bytes'] / GB:.2f} / {r['loaded_weight_bytes'] / GB:.2f}, "
               f"{r['ratio']:.3f}, {r['load_seconds']:.1f}")) for r in results]
    write_results(f"full_load_{args.device.replace(':', '')}", {"machine": machine(), "roles": results}, table)
    worst = min(results, key=lambda r: r["ratio"])
    print(f"worst estimate/peak ratio={worst['ratio']:.3f} ({worst['role']})")


if __name__ == "__main__":
    main()
