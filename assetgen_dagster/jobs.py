"""The job the sensor (and the watcher) launches, and the run one batch's content needs."""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetKey, AssetRecordsFilter, AssetSelection, DagsterInstance, RunRequest, define_asset_job

from assetgen_dagster.batches import PromptBatch
from assetgen_dagster.engine.batches import BATCH_HASH_TAG, PARTITION_TAG
from assetgen_dagster.pack import ASSET as PACK
from assetgen_dagster.partitions import prompt_batch_files
from assetgen_dagster.registry import Registry

# Under deploy/celery the run goes to this Celery queue (the GPU workers); other launchers ignore it.
CELERY_QUEUE_TAG = "dagster-celery/queue"
GPU_QUEUE = "gpu"
JOB = "generate_batch"

generate_batch_job = define_asset_job(
    name=JOB,
    selection=AssetSelection.all() - AssetSelection.assets(prompt_batch_files.key),
    description="Generate every asset of one prompt batch (one partition).",
    tags={CELERY_QUEUE_TAG: GPU_QUEUE},
)


def batch_assets(registry: Registry, batch: PromptBatch) -> list[str]:
    """The assets that make a batch's items (those of the kinds it has) and its pack."""
    return [*registry.assets_for(batch), PACK]


def unsettled_assets(instance: DagsterInstance, registry: Registry, batch_id: str, batch: PromptBatch) -> list[str]:
    """The other assets (of kinds the batch has none of) whose latest materialization for the batch is
    missing or not empty: a run materializes them once as "0 items", so the asset graph shows no
    batch as missing or unfinished for a kind it does not have, and later runs leave them alone."""
    wanted = set(batch_assets(registry, batch))
    unsettled = []
    for name in registry.definitions:
        if name in wanted:
            continue
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(name), asset_partitions=[batch_id]), limit=1).records
        items = records[0].asset_materialization.metadata.get("items") if records else None
        if getattr(items, "value", None) != 0:
            unsettled.append(name)
    return unsettled


@dataclass(frozen=True)
class BatchRun:
    """The run of ``generate_batch`` one batch content needs: its partition, its assets, and the
    content hash it was requested for (the tag that tells a later look it was launched)."""

    batch_id: str
    content_hash: str
    assets: tuple[str, ...]

    @property
    def tags(self) -> dict[str, str]:
        return {PARTITION_TAG: self.batch_id, BATCH_HASH_TAG: self.content_hash, CELERY_QUEUE_TAG: GPU_QUEUE}

    def run_request(self, run_key: str) -> RunRequest:
        """The sensor's request for this run."""
        return RunRequest(partition_key=self.batch_id, run_key=run_key,
                          tags={BATCH_HASH_TAG: self.content_hash},
                          asset_selection=[AssetKey(name) for name in self.assets])


def batch_run(instance: DagsterInstance, registry: Registry, batch_id: str, batch: PromptBatch,
              content_hash: str) -> BatchRun:
    """The run ``batch_id`` needs for this content: its kinds' assets and pack, and the assets it has
    not yet settled as empty (:func:`unsettled_assets`)."""
    unsettled = unsettled_assets(instance, registry, batch_id, batch)
    return BatchRun(batch_id, content_hash, (*registry.assets_for(batch), *unsettled, PACK))
