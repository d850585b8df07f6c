"""``concept_art``: one image per item of kind concept_art in the partition's batch."""

import time

from dagster import AssetExecutionContext, MaterializeResult, asset

from assetgen_dagster.assets.common import MODEL_ASSET_ARGS
from assetgen_dagster.assets.images import (
    BatchOutcome,
    entry,
    finish_outcome,
    generate_todo,
    materialize_partitions,
    output_path,
    plan_batch,
    provenance,
    start_outcome,
    write_png,
)
from assetgen_dagster.models import ModelLoader

KIND = ASSET = "concept_art"
CODE_VERSION = "1"


def concept_art_batch(context: AssetExecutionContext, models: ModelLoader, batch_id: str) -> BatchOutcome:
    plan = plan_batch(models, batch_id, ASSET, KIND, CODE_VERSION)
    outcome = start_outcome(plan)
    if not plan.items:
        return outcome
    generated = generate_todo(context, models, KIND, plan)
    manifest = plan.manifest
    started = time.perf_counter()
    for item in plan.todo:
        item_provenance = provenance(plan, generated, item, CODE_VERSION)
        out = write_png(output_path(batch_id, ASSET, item.id), generated.images[item.id], item_provenance)
        manifest.add(item.id, entry(plan.identities[item.id], [out], item_provenance))
        outcome.previews.append(generated.images[item.id])
    manifest.finish([item.id for item in plan.items])
    outcome.files = [output_path(batch_id, ASSET, item.id) for item in plan.items]
    return finish_outcome(outcome, plan, generated, started)


@asset(
    group_name="images_2d",
    code_version=CODE_VERSION,
    **MODEL_ASSET_ARGS,
    description=(
        "Concept art: one text-to-image PNG per `concept_art` item of the prompt batch, written to "
        "`<output_dir>/<batch>/concept_art/<item>.png` with provenance in PNG text chunks. Items whose "
        "outputs are current are reused; a backfill covers many batches in one run (one model load)."
    ),
)
def concept_art(context: AssetExecutionContext, models: ModelLoader) -> MaterializeResult:
    return materialize_partitions(context, lambda batch_id: concept_art_batch(context, models, batch_id),
                                  (), "concept art")
