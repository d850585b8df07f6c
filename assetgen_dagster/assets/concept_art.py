"""``concept_art``: one image per item of kind concept_art in the partition's batch."""

import time

from dagster import AssetExecutionContext, BackfillPolicy, MaterializeResult, asset

from assetgen_dagster.assets.common import GPU_POOL, MODEL_RETRY_POLICY, OWNERS, dagster_failures
from assetgen_dagster.assets.images import (
    BatchOutcome,
    batch_metadata,
    entry,
    generate_todo,
    materialize_result,
    output_path,
    plan_batch,
    provenance,
    request_metadata,
    write_manifest,
    write_png,
)
from assetgen_dagster.models import ModelLoader
from assetgen_dagster.partitions import prompt_batches

KIND = ASSET = "concept_art"
CODE_VERSION = "1"


def concept_art_batch(context: AssetExecutionContext, models: ModelLoader, batch_id: str) -> BatchOutcome:
    plan = plan_batch(models, batch_id, ASSET, KIND, CODE_VERSION)
    outcome = BatchOutcome(batch_id, items=len(plan.items), reused=len(plan.reused), extra=batch_metadata(plan))
    if not plan.items:
        return outcome
    generated = generate_todo(context, models, KIND, plan)
    entries = dict(plan.reused)
    started = time.perf_counter()
    for item in plan.todo:
        item_provenance = provenance(plan, generated, item, CODE_VERSION)
        out = write_png(output_path(batch_id, ASSET, item.id), generated.images[item.id], item_provenance)
        entries[item.id] = entry(plan.identities[item.id], [out], item_provenance)
        outcome.previews.append(generated.images[item.id])
    write_manifest(batch_id, ASSET, {item.id: entries[item.id] for item in plan.items})
    outcome.generated = len(plan.todo)
    outcome.files = [output_path(batch_id, ASSET, item.id) for item in plan.items]
    outcome.identities = list(plan.identities.values())
    outcome.extra.update(request_metadata(plan))
    if generated:
        outcome.model_metadata = generated.model_metadata
        outcome.seconds = {"generate_seconds": generated.seconds, "write_seconds": time.perf_counter() - started}
    return outcome


@asset(
    partitions_def=prompt_batches,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="images_2d",
    kinds={"pytorch", "image"},
    owners=OWNERS,
    code_version=CODE_VERSION,
    retry_policy=MODEL_RETRY_POLICY,
    pool=GPU_POOL,
    description=(
        "Concept art: one text-to-image PNG per `concept_art` item of the prompt batch, written to "
        "`<output_dir>/<batch>/concept_art/<item>.png` with provenance in PNG text chunks. Items whose "
        "outputs are current are reused; a backfill covers many batches in one run (one model load)."
    ),
)
def concept_art(context: AssetExecutionContext, models: ModelLoader) -> MaterializeResult:
    with dagster_failures():
        outcomes = [concept_art_batch(context, models, batch_id) for batch_id in context.partition_keys]
    return materialize_result(outcomes, (), f"{', '.join(context.partition_keys)} concept art")
