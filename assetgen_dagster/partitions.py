"""The partitions of every asset: one per prompt batch file (its stem is the key)."""

from dagster import DynamicPartitionsDefinition

PROMPT_BATCHES = "prompt_batches"

prompt_batches = DynamicPartitionsDefinition(name=PROMPT_BATCHES)
