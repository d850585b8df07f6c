"""A run killed with SIGKILL while writing leaves no partial file under a final name, and a re-run
completes the batch with the same bytes."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster import DagsterInstance
from PIL import Image

from assetgen_dagster.partitions import PROMPT_BATCHES

from .conftest import PROJECT_ROOT, write_batch

ITEMS = 24
BATCH = "items:\n" + "".join(f"  - {{id: item{n}, kind: concept_art, prompt: 'prop {n}'}}\n" for n in range(ITEMS))


def materialize_cli(workdir, env):
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m", "assetgen_dagster.definitions",
         "--select", "concept_art", "--partition", "crashy"],
        cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_sigkill_mid_write_leaves_no_partial_files_and_a_rerun_completes(tiny_kit, workdir):
    write_batch(workdir / "prompts", "crashy", BATCH)
    home = workdir / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(PROMPT_BATCHES, ["crashy"])
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    out = workdir / "outputs" / "crashy" / "concept_art"

    process = materialize_cli(workdir, env)
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(out.iterdir())):  # the first temp file: writing has begun
        assert process.poll() is None and time.monotonic() < deadline, "run ended before writing"
        time.sleep(0.002)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    finals = sorted(out.glob("*.png"))
    assert len(finals) < ITEMS, "killed too late to test anything"
    print(f"killed with {len(finals)} of {ITEMS} files written, temp files: {len(list(out.glob('.*.tmp')))}")
    survivors = {}
    for path in finals:  # whatever has a final name is a complete, valid image
        with Image.open(path) as image:
            image.verify()
        survivors[path.name] = path.read_bytes()
    assert not (out / "manifest.json").exists() or len(finals) == ITEMS

    # What run monitoring does for a dead run worker: mark it failed, free its gpu pool slot.
    with DagsterInstance.from_config(str(home)) as instance:
        [dead] = instance.get_runs()
        instance.report_run_failed(dead)
        instance.event_log_storage.free_concurrency_slots_for_run(dead.run_id)

    rerun = materialize_cli(workdir, env)
    _, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr[-3000:]
    assert len(list(out.glob("*.png"))) == ITEMS and (out / "manifest.json").is_file()
    for name, data in survivors.items():
        assert (out / name).read_bytes() == data  # deterministic: the re-run wrote the same bytes
