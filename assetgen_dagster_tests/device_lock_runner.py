"""One process of the device-lock test (test_concurrency.py): materializes ``concept_art`` for one
small batch per repetition against the shared instance in DAGSTER_HOME (SQLite), each repetition
released at the same instant as its twin in another process (a barrier of files), so the two runs'
slot claims and model steps start together.

    python assetgen_dagster_tests/device_lock_runner.py NAME REPETITIONS BARRIER_FOLDER
"""

import sys
import time
from pathlib import Path


def wait_for_twin(barrier: Path, name: str, repetition: int) -> None:
    (barrier / f"{repetition}.{name}").touch()
    while len(list(barrier.glob(f"{repetition}.*"))) < 2:
        time.sleep(0.0002)


def main(name: str, repetitions: int, barrier: Path) -> int:
    from dagster import DagsterInstance, materialize

    from assetgen_dagster.models import ModelLoader
    from assetgen_dagster.registry import build_registry
    from assetgen_dagster.settings import ProjectSettings

    registry = build_registry(plugins=False)
    concept_art = registry.definitions["concept_art"]
    resources = {"models": ModelLoader(), "project": ProjectSettings()}
    with ModelLoader().bind(registry.roles).use("concept_art"):
        pass  # imports and the model load before the first barrier: the runs start together
    failed = 0
    with DagsterInstance.get() as instance:
        for repetition in range(repetitions):
            wait_for_twin(barrier, name, repetition)
            result = materialize([concept_art], partition_key=f"{name}{repetition}", instance=instance,
                                 resources=resources, raise_on_error=False)
            failed += not result.success
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])))
