"""The job the sensor launches: every asset of one prompt batch partition."""

from dagster import AssetSelection, define_asset_job

generate_batch_job = define_asset_job(
    name="generate_batch",
    selection=AssetSelection.all() - AssetSelection.assets("prompt_batch_files"),
    description="Generate every asset of one prompt batch (one partition).",
)
