"""The partitions of every asset (one per prompt batch file; its stem is the key) and the batch
files themselves as the lineage's source asset."""

from dagster import AssetSpec, DynamicPartitionsDefinition

PROMPT_BATCHES = "prompt_batches"

prompt_batches = DynamicPartitionsDefinition(name=PROMPT_BATCHES)

prompt_batch_files = AssetSpec(
    "prompt_batch_files",
    group_name="inputs",
    kinds={"yaml"},
    owners=["team:asset-pipeline"],
    description="The prompt batch YAML files in ASSETGEN_PROMPTS_DIR. Its check valid_batch_files fails, "
                "naming file and error, while any of them is invalid.",
)
