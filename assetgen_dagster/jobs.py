"""The job the sensor launches, and which of its assets a batch needs."""

from dagster import AssetSelection, define_asset_job

from assetgen_dagster.batches import PromptBatch

# Under deploy/celery the run goes to this Celery queue (the GPU workers); other launchers ignore it.
CELERY_QUEUE_TAG = "dagster-celery/queue"
GPU_QUEUE = "gpu"

generate_batch_job = define_asset_job(
    name="generate_batch",
    selection=AssetSelection.all() - AssetSelection.assets("prompt_batch_files"),
    description="Generate every asset of one prompt batch (one partition).",
    tags={CELERY_QUEUE_TAG: GPU_QUEUE},
)


def batch_assets(batch: PromptBatch) -> list[str]:
    """The assets that make a batch's items (those of the kinds it has) and its pack: what a run for
    the batch materializes, so assets with nothing to do in it are not materialized empty."""
    from assetgen_dagster import kinds
    from assetgen_dagster.pack import ASSET as PACK

    present = {item.kind for item in batch.items}
    return [a.name for kind in kinds.all_kinds() for a in kind.assets if present & set(a.item_kinds)] + [PACK]
