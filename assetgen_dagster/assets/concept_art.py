"""``concept_art``: one image per item of kind concept_art in the partition's batch."""

import time

from dagster import AssetExecutionContext, MaterializeResult, asset

from assetgen_dagster.assets.common import MODEL_RETRY_POLICY, OWNERS, dagster_failures
from assetgen_dagster.assets.images import (
    generate_kind,
    load_kind,
    output_path,
    run_metadata,
    write_manifest,
    write_png,
)
from assetgen_dagster.batches import batch_hash
from assetgen_dagster.models import ModelLoader
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
    with dagster_failures():
        batch, path, items = load_kind(context, KIND)
        if not items:
            context.log.info(f"{path.name}: no {KIND} items")
            return MaterializeResult(metadata={"items": 0, "batch_hash": batch_hash(batch)})
        run = generate_kind(context, models, KIND, CODE_VERSION, batch, items)

        started = time.perf_counter()
        written, entries = [], {}
        for item, request, image in zip(items, run.requests, run.images, strict=True):
            provenance = run.provenance(item, request)
            out = write_png(output_path(run.batch_id, KIND, item.id), image, provenance)
            written.append(out)
            entries[item.id] = {"files": [out], "provenance": provenance}
        write_manifest(run.batch_id, KIND, entries)
        write_seconds = time.perf_counter() - started

    return MaterializeResult(
        metadata=run_metadata(run, written, run.images, write_seconds, f"{run.batch_id} concept art")
    )
