"""The code location: one ``Definitions`` object, built from the kind registry.

Nothing heavy (torch, diffusers, transformers, numpy) is imported here.
"""

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    in_process_executor,
)

from assetgen_dagster import kinds
from assetgen_dagster.jobs import generate_batch_job
from assetgen_dagster.models import ModelLoader
from assetgen_dagster.pack import pack_asset
from assetgen_dagster.sensors import prompt_batch_files, prompt_batch_sensor


# Materializes the derived assets (pbr_maps, mesh_lods, collision_meshes, asset_pack) for a batch
# when their upstreams change, under `dagster dev` or `dagster-daemon`; on by default.
follow_upstreams = AutomationConditionSensorDefinition(
    "follow_upstreams",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=10,
    description="Rebuilds derived assets (PBR maps, LODs, collision, the pack) after their upstreams change.",
)


def build_definitions() -> Definitions:
    """Every registered kind's assets, the pack over them, the batch sensor and its job."""
    registered = kinds.all_kinds()
    return Definitions(
        assets=[*(item_asset.definition for kind in registered for item_asset in kind.assets),
                pack_asset(registered), prompt_batch_files],
        jobs=[generate_batch_job],
        sensors=[prompt_batch_sensor, follow_upstreams],
        resources={"models": ModelLoader()},
        # One process per run: steps share the loaded models instead of each re-importing torch and
        # reloading weights in a subprocess, and one GPU is not contended by sibling steps.
        executor=in_process_executor,
    )


defs = build_definitions()
