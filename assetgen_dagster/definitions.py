"""The code location: one ``Definitions`` object, built from the kind registry.

Nothing heavy (torch, diffusers, transformers, numpy) is imported here.
"""

from dagster import Definitions, in_process_executor

from assetgen_dagster import kinds
from assetgen_dagster.jobs import generate_batch_job
from assetgen_dagster.models import ModelLoader
from assetgen_dagster.pack import pack_asset
from assetgen_dagster.sensors import prompt_batch_files, prompt_batch_sensor


def build_definitions() -> Definitions:
    """Every registered kind's assets, the pack over them, the batch sensor and its job."""
    registered = kinds.all_kinds()
    return Definitions(
        assets=[*(item_asset.definition for kind in registered for item_asset in kind.assets),
                pack_asset(registered), prompt_batch_files],
        jobs=[generate_batch_job],
        sensors=[prompt_batch_sensor],
        resources={"models": ModelLoader()},
        # One process per run: steps share the loaded models instead of each re-importing torch and
        # reloading weights in a subprocess, and one GPU is not contended by sibling steps.
        executor=in_process_executor,
    )


defs = build_definitions()
