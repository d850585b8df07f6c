"""An :class:`ItemAsset` as a Dagster asset, built for the registry it is handed.

Partitioned by batch, single-run backfills, one check evaluation per batch; model assets retry
transient faults and take a slot of the gpu pool, derived ones follow their upstreams.
"""


import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    BetaWarning,
    PreviewWarning,
    asset,
)

from assetgen_dagster.engine.common import GPU_POOL, OWNERS, follows_upstreams, model_retry_policy
from assetgen_dagster.engine.item_asset import ItemAsset, KindRegistry
from assetgen_dagster.engine.runner import materialize
from assetgen_dagster.models import ModelLoader
from assetgen_dagster.partitions import prompt_batch_files, prompt_batches
from assetgen_dagster.settings import ProjectSettings


@contextmanager
def partitioned_asset_api() -> Iterator[None]:
    """Single-run backfills (one model load per backfill) and partitioned check specs (a check result
    per batch) are marked beta/preview in Dagster 1.13; both are what this project is built on, so
    their warnings are silenced where the definitions are built (and nowhere else)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)
        warnings.filterwarnings("ignore", message=".*partitions_def.*AssetCheckSpec", category=PreviewWarning)
        yield


def batch_check_specs(asset_name: str, checks: Any) -> list[AssetCheckSpec]:
    """One partitioned check spec per item check (a check result per batch). A check that blocks its
    items downstream is declared blocking; its evaluations are not (report.py): the blocking is per
    item, the items that pass go on, and Dagster's own would fail the step and stop every item."""
    return [AssetCheckSpec(check.name, asset=asset_name, partitions_def=prompt_batches, blocking=check.blocking,
                           description=check.description + (" Blocks this item downstream." if check.blocking else ""))
            for check in checks]


def asset_definition(item_asset: ItemAsset, registry: KindRegistry) -> AssetsDefinition:
    """The Dagster asset of ``item_asset``: a model asset reads the batch file directly (the lineage
    shows the files upstream of it); a derived one follows its upstream files."""
    relations = item_asset.relations(registry)
    reads_file = item_asset.roles or item_asset.reads_batch_file
    deps = [*relations.deps, prompt_batch_files.key] if reads_file else list(relations.deps)
    with partitioned_asset_api():
        common = dict(
            name=item_asset.name, group_name=item_asset.group, code_version=item_asset.code_version,
            description=item_asset.description, partitions_def=prompt_batches,
            backfill_policy=BackfillPolicy.single_run(), deps=deps, kinds=set(item_asset.ui_kinds), owners=OWNERS,
            check_specs=batch_check_specs(item_asset.name, item_asset.checks),
        )
        if item_asset.roles:
            @asset(**common, retry_policy=model_retry_policy(), pool=GPU_POOL)
            def model_asset(context: AssetExecutionContext, models: ModelLoader,
                            project: ProjectSettings) -> Iterator[Any]:
                yield from materialize(item_asset, registry, context, project, models)

            return model_asset

        # Derived from upstream files: follows them. From the batch file: made by the batch's runs.
        condition = None if item_asset.reads_batch_file else follows_upstreams()

        @asset(**common, automation_condition=condition)
        def derived_asset(context: AssetExecutionContext, project: ProjectSettings) -> Iterator[Any]:
            yield from materialize(item_asset, registry, context, project, None)

        return derived_asset
