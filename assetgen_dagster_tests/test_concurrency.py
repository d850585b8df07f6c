"""Two runs started at the same instant never overlap their model work on one device, 20 times out of
20, on SQLite: each model step holds the device's lock (flock), whatever the run storage does with
the `gpu` pool's slot claims (on SQLite two claims in the same milliseconds can both win; here the
pool has a slot for each, so nothing but the lock stands between them)."""

import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from dagster import DagsterInstance

from assetgen_dagster.environment import ensure_gpu_pool

from .conftest import dagster_home, write_batch

RUNNER = Path(__file__).with_name("device_lock_runner.py")
REPETITIONS = 20
CLAIM = re.compile(r"device (\S+): (claimed|released) ")


def device_windows(instance) -> list[tuple[float, float, str]]:
    """(claimed, released, run id) of every run's device claim, from the run logs."""
    windows = []
    for run in instance.get_runs():
        marks = {}
        for record in instance.all_logs(run.run_id):
            match = CLAIM.match(record.user_message or "")
            if match:
                marks[match.group(2)] = record.timestamp
        windows.append((marks["claimed"], marks["released"], run.run_id))
    return sorted(windows)


def test_runs_started_together_take_turns_on_the_device(tiny_kit, workdir, tmp_path):
    names = ("alpha", "beta")
    partitions = [f"{name}{n}" for name in names for n in range(REPETITIONS)]
    for key in partitions:
        write_batch(workdir / "prompts", key, f"items:\n  - {{id: rock, kind: concept_art, prompt: 'rock {key}'}}\n")
    home = dagster_home(workdir, partitions)
    with DagsterInstance.from_config(str(home)) as instance:
        ensure_gpu_pool(instance)  # the UI's view of waiting steps stays (README)
        assert instance.event_log_storage.get_concurrency_info("gpu").slot_count == 1
        # Opened to 2 slots: both steps get in whatever the race, so only the device lock keeps them apart.
        instance.event_log_storage.set_concurrency_slots("gpu", 2)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "ASSETGEN_DEVICE_LOCK_DIR": str(tmp_path / "devices")}
    logs = {name: tmp_path / f"{name}.log" for name in names}  # files, not pipes: a full pipe would stall a twin
    processes = [subprocess.Popen([sys.executable, str(RUNNER), name, str(REPETITIONS), str(barrier)], cwd=workdir, env=env,
                                  stdout=subprocess.DEVNULL, stderr=logs[name].open("w"))
                 for name in names]
    for name, process in zip(names, processes, strict=True):
        assert process.wait(timeout=600) == 0, logs[name].read_text()[-3000:]

    with DagsterInstance.from_config(str(home)) as instance:
        assert all(run.is_success for run in instance.get_runs())
        windows = device_windows(instance)
    assert len(windows) == 2 * REPETITIONS
    overlaps = [(first, second) for first, second in zip(windows, windows[1:]) if first[1] > second[0]]
    assert not overlaps, "model work of two runs overlapped: " + "; ".join(
        f"{a[2][:8]} until {datetime.fromtimestamp(a[1]).time()} / {b[2][:8]} from {datetime.fromtimestamp(b[0]).time()}"
        for a, b in overlaps[:5])
