"""The code location: one ``Definitions`` object, built from the kind registry when Dagster loads it.

``defs`` is a ``@dg.definitions`` function: Dagster calls it when it loads the code location, which
builds the registry (built-in kinds plus installed plugins) once and hands it to the assets, the
pack, the sensor and the tiny kit's roles. Nothing heavy (torch, diffusers, transformers, numpy) is
imported here or by what it builds.
"""

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    definitions,
    in_process_executor,
)

from assetgen_dagster.batch_check import batch_files_check
from assetgen_dagster.jobs import generate_batch_job
from assetgen_dagster.models import ModelLoader
from assetgen_dagster.pack import pack_asset
from assetgen_dagster.partitions import prompt_batch_files
from assetgen_dagster.registry import Registry, build_registry
from assetgen_dagster.sensors import batch_sensor
from assetgen_dagster.settings import ProjectSettings

# Materializes the derived assets (pbr_maps, mesh_lods, collision_meshes, asset_pack) for a batch
# when their upstreams change, under `dagster dev` or `dagster-daemon`; on by default.
follow_upstreams = AutomationConditionSensorDefinition(
    "follow_upstreams",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=10,
    description="Rebuilds derived assets (PBR maps, LODs, collision, the pack) after their upstreams change.",
    # Evaluated where the code is loaded: follows_upstreams has a condition of this project's own.
    use_user_code_server=True,
)


def build_definitions(registry: Registry) -> Definitions:
    """Every registered kind's assets, the pack over them, the batch sensor and its job."""
    return Definitions(
        assets=[*registry.definitions.values(), pack_asset(registry), prompt_batch_files],
        asset_checks=[batch_files_check(registry)],
        jobs=[generate_batch_job],
        sensors=[batch_sensor(registry), follow_upstreams],
        resources={"models": ModelLoader(), "project": ProjectSettings()},
        # One process per run: steps share the loaded models instead of each re-importing torch and
        # reloading weights in a subprocess, and one GPU is not contended by sibling steps.
        executor=in_process_executor,
    )


@definitions
def defs() -> Definitions:
    """The built-in kinds and every installed plugin kind (refused plugins are logged, not loaded)."""
    return build_definitions(build_registry())
