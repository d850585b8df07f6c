"""``concept_art``: one image per item of kind concept_art in the partition's batch."""


import time

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assetgen_dagster import __version__, settings
from assetgen_dagster.assets.common import (
    MODEL_RETRY_POLICY,
    OWNERS,
    dagster_failures,
    image_requests,
    throttled,
    read_partition_batch,
)
from assetgen_dagster.batches import batch_hash, item_hash
from assetgen_dagster.models import ModelLoader
from assetgen_dagster.outputs import item_output_path, save_png
from assetgen_dagster.partitions import prompt_batches

KIND = "concept_art"
CODE_VERSION = "1"


@asset(
    partitions_def=prompt_batches,
    group_name="images_2d",
    kinds={"pytorch", "image"},
    owners=OWNERS,
    code_version=CODE_VERSION,
    retry_policy=MODEL_RETRY_POLICY,
    description=(
        "Concept art: one text-to-image PNG per `concept_art` item of the prompt batch, written to "
        "`<output_dir>/<batch>/concept_art/<item>.png` with provenance in PNG text chunks."
    ),
)
def concept_art(context: AssetExecutionContext, models: ModelLoader) -> MaterializeResult:
    import json

    with dagster_failures():
        batch, path = read_partition_batch(context.partition_key)
        items = batch.items_of_kind(KIND)
        if not items:
            context.log.info(f"{path.name}: no {KIND} items")
            return MaterializeResult(metadata={"items": 0, "batch_hash": batch_hash(batch)})

        from assetgen_dagster.generate.images import generate_images
        from assetgen_dagster.generate.preview import preview_markdown

        output_dir = settings.output_dir()
        progress = throttled(context.log.info)
        with models.use(KIND, on_progress=context.log.info) as model:
            context.log.info(
                f"{model.spec.repo_id}@{model.commit[:12]} on {model.device}/{model.dtype}: "
                f"{model.cache_state}, {model.load_seconds:.2f} s"
            )
            defaults = model.spec.params
            requests = image_requests(batch, items, defaults)
            started = time.perf_counter()
            images = model.run(
                lambda batch_size: generate_images(model.pipeline, requests, batch_size, progress),
                batch_size=defaults.batch_size,
                on_step_down=context.log.warning,
            )
            generate_seconds = time.perf_counter() - started
            model_metadata = model.metadata()

        started = time.perf_counter()
        written = []
        for item, request, image in zip(items, requests, images, strict=True):
            out = item_output_path(output_dir, context.partition_key, KIND, item.id, ".png")
            provenance = {
                "generator": f"assetgen-dagster {__version__}",
                "code_version": f"{KIND}/{CODE_VERSION}",
                "batch": context.partition_key,
                "item": item.id,
                "kind": KIND,
                "item_hash": item_hash(batch, item),
                "prompt": request.prompt,
                "negative_prompt": request.negative_prompt,
                "seed": request.seed,
                "steps": request.steps,
                "guidance": request.guidance,
                "width": request.width,
                "height": request.height,
                "batch_size": model.batch_size_used,
                **model.provenance(),
            }
            save_png(out, image, {"assetgen": json.dumps(provenance, sort_keys=True)})
            written.append(out)
        write_seconds = time.perf_counter() - started

    return MaterializeResult(
        metadata={
            "items": len(items),
            **model_metadata,
            "torch_settings": MetadataValue.json(model_metadata["torch_settings"]),
            "seeds": MetadataValue.json({r.item_id: r.seed for r in requests}),
            "steps": MetadataValue.json({r.item_id: r.steps for r in requests}),
            "generate_seconds": round(generate_seconds, 3),
            "write_seconds": round(write_seconds, 3),
            "output_dir": MetadataValue.path(str(written[0].parent)),
            "outputs": MetadataValue.json([str(p) for p in written]),
            "batch_hash": batch_hash(batch),
            "preview": MetadataValue.md(preview_markdown(images, f"{context.partition_key} concept art")),
        }
    )
