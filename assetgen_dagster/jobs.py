"""The job the sensor launches: every asset of one prompt batch partition."""

from dagster import AssetSelection, define_asset_job

from assetgen_dagster.partitions import prompt_batches

generate_batch_job = define_asset_job(
    name="generate_batch",
    selection=AssetSelection.all(),
    partitions_def=prompt_batches,
    description="Generate every asset of one prompt batch (one partition).",
)
