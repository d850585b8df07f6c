"""The code location: one ``Definitions`` object. Nothing heavy (torch, diffusers) is imported here."""

from dagster import Definitions, in_process_executor

from assetgen_dagster.assets import ALL_ASSETS
from assetgen_dagster.jobs import generate_batch_job
from assetgen_dagster.models import ModelLoader
from assetgen_dagster.sensors import prompt_batch_files, prompt_batch_sensor

defs = Definitions(
    assets=[*ALL_ASSETS, prompt_batch_files],
    jobs=[generate_batch_job],
    sensors=[prompt_batch_sensor],
    resources={"models": ModelLoader()},
    # One process per run: steps share the loaded models instead of each re-importing torch and
    # reloading weights in a subprocess, and one GPU is not contended by sibling steps.
    executor=in_process_executor,
)
