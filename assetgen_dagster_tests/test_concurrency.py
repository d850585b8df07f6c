"""Two runs launched together (half a second apart) never run model steps at the same time: the
`gpu` pool (limit 1 in dagster.yaml) makes the second wait for the first's slot."""

import os
import subprocess
import sys
import time
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance

from assetgen_dagster.demo import ensure_gpu_pool

from .conftest import CONCEPT_BATCH, dagster_home, write_batch


def test_two_runs_take_turns_on_the_gpu_pool(tiny_kit, workdir):
    for key in ("alpha", "beta"):
        write_batch(workdir / "prompts", key, CONCEPT_BATCH)
    home = dagster_home(workdir, ["alpha", "beta"])
    with DagsterInstance.from_config(str(home)) as instance:
        ensure_gpu_pool(instance)  # as `make demo` / `make ui` do: no first-use race between the runs
        assert instance.event_log_storage.get_concurrency_info("gpu").slot_count == 1  # from dagster.yaml
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    dagster = str(Path(sys.executable).with_name("dagster"))
    runs = []
    for key in ("alpha", "beta"):
        runs.append(subprocess.Popen([dagster, "asset", "materialize", "-m", "assetgen_dagster.definitions",
                                      "--select", "concept_art,textures", "--partition", key],
                                     cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        # Half a second apart: on SQLite, Dagster's slot claim (SELECT ... FOR UPDATE, which SQLite
        # ignores, then UPDATE) lets two claims in the same few milliseconds both win (README).
        time.sleep(0.5)
    for process in runs:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]

    windows = []
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.event_log_storage.get_concurrency_info("gpu").slot_count == 1
        for run in instance.get_runs():
            assert run.is_success
            starts, ends = {}, {}
            for record in instance.all_logs(run.run_id):
                event = record.dagster_event
                if event is None or event.step_key is None:
                    continue
                if event.event_type == DagsterEventType.STEP_START:
                    starts[event.step_key] = record.timestamp
                elif event.event_type == DagsterEventType.STEP_SUCCESS:
                    ends[event.step_key] = record.timestamp
            windows += [(starts[step], ends[step], run.run_id, step) for step in starts]
    windows.sort()
    assert len(windows) == 4  # concept_art and textures in each run
    for (_, end, run_a, _), (start, _, run_b, _) in zip(windows, windows[1:]):
        assert end <= start, f"model steps of two runs overlapped: {windows}"
