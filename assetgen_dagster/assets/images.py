"""What the text-to-image assets share: generate a batch's items of one kind through the model
loader, then write PNGs with provenance, a per-asset manifest and the metadata the UI shows."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, MetadataValue

from assetgen_dagster import __version__, settings
from assetgen_dagster.assets.common import image_requests, read_partition_batch, throttled
from assetgen_dagster.batches import Item, PromptBatch, batch_hash, item_hash, item_options
from assetgen_dagster.catalog import GenerationParams
from assetgen_dagster.generate.images import ImageRequest
from assetgen_dagster.models import ModelLoader
from assetgen_dagster.outputs import atomic_write_json, item_output_path, save_png

RequestBuilder = Callable[[PromptBatch, list[Item], GenerationParams], list[ImageRequest]]


@dataclass
class ImageRun:
    """One asset's generation for one batch: items, requests, images and how they were made."""

    batch_id: str
    kind: str
    code_version: str
    batch: PromptBatch
    items: list[Item]
    requests: list[ImageRequest]
    images: list[Any]
    model_metadata: dict[str, Any]
    model_provenance: dict[str, Any]
    generate_seconds: float

    def provenance(self, item: Item, request: ImageRequest, **extra: Any) -> dict[str, Any]:
        """Everything needed to reproduce (and trust) one output file."""
        return {
            "generator": f"assetgen-dagster {__version__}",
            "code_version": f"{self.kind}/{self.code_version}",
            "batch": self.batch_id,
            "item": item.id,
            "kind": item.kind,
            "item_hash": item_hash(self.batch, item),
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "seed": request.seed,
            "steps": request.steps,
            "guidance": request.guidance,
            "width": request.width,
            "height": request.height,
            "batch_size": self.model_metadata["batch_size_used"],
            **item_options(item),
            **self.model_provenance,
            **extra,
        }


def load_kind(context: AssetExecutionContext, kind: str) -> tuple[PromptBatch, Path, list[Item]]:
    batch, path = read_partition_batch(context.partition_key)
    return batch, path, batch.items_of_kind(kind)


def generate_kind(
    context: AssetExecutionContext,
    models: ModelLoader,
    kind: str,
    code_version: str,
    batch: PromptBatch,
    items: list[Item],
    build_requests: RequestBuilder = image_requests,
) -> ImageRun:
    """Generate one image per item through the model loader and its out-of-memory ladder."""
    from assetgen_dagster.generate.images import generate_images

    progress = throttled(context.log.info)
    with models.use(kind, on_progress=context.log.info) as model:
        context.log.info(
            f"{model.spec.repo_id}@{model.commit[:12]} on {model.device}/{model.dtype}: "
            f"{model.cache_state}, {model.load_seconds:.2f} s"
        )
        requests = build_requests(batch, items, model.spec.params)
        started = time.perf_counter()
        images = model.run(
            lambda batch_size: generate_images(model.pipeline, requests, batch_size, progress),
            batch_size=model.spec.params.batch_size,
            on_step_down=context.log.warning,
        )
        return ImageRun(
            batch_id=context.partition_key, kind=kind, code_version=code_version, batch=batch, items=items,
            requests=requests, images=images, model_metadata=model.metadata(),
            model_provenance=model.provenance(), generate_seconds=time.perf_counter() - started,
        )


def output_path(batch_id: str, asset: str, name: str, suffix: str = ".png") -> Path:
    return item_output_path(settings.output_dir(), batch_id, asset, name, suffix)


def write_png(path: Path, image: Any, provenance: dict[str, Any]) -> Path:
    """Save ``image`` (PIL, or a numpy array) with provenance in an ``assetgen`` PNG text chunk."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(image)
    save_png(path, image, {"assetgen": json.dumps(provenance, sort_keys=True)})
    return path


def write_manifest(batch_id: str, asset: str, entries: dict[str, dict[str, Any]]) -> Path:
    """``<output>/<batch>/<asset>/manifest.json``: per item, its files (sha256, bytes) and provenance."""
    manifest = {"batch": batch_id, "asset": asset, "items": {}}
    for item_id, entry in entries.items():
        files = {str(p.name): {"sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "bytes": p.stat().st_size}
                 for p in entry["files"]}
        manifest["items"][item_id] = {"files": files, "provenance": entry["provenance"]}
    path = output_path(batch_id, asset, "manifest", ".json")
    atomic_write_json(path, manifest)
    return path


def run_metadata(run: ImageRun, written: list[Path], preview_images: list[Any], write_seconds: float,
                 title: str) -> dict[str, Any]:
    """The UI metadata every image asset reports."""
    from assetgen_dagster.generate.preview import preview_markdown

    model = run.model_metadata
    return {
        "items": len(run.items),
        **{k: v for k, v in model.items() if k != "torch_settings"},
        "torch_settings": MetadataValue.json(model["torch_settings"]),
        "seeds": MetadataValue.json({r.item_id: r.seed for r in run.requests}),
        "steps": MetadataValue.json({r.item_id: r.steps for r in run.requests}),
        "generate_seconds": round(run.generate_seconds, 3),
        "write_seconds": round(write_seconds, 3),
        "output_dir": MetadataValue.path(str(written[0].parent)),
        "outputs": MetadataValue.json([str(p) for p in written]),
        "batch_hash": batch_hash(run.batch),
        "preview": MetadataValue.md(preview_markdown(preview_images, title)),
    }
