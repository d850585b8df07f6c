"""A run killed with SIGKILL while writing leaves no partial file under a final name, and a re-run
completes the batch, reusing the items the killed run finished, with the same bytes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster import AssetKey, DagsterInstance
from PIL import Image

from .conftest import dagster_home, write_batch

ITEMS = 48
BATCH = "items:\n" + "".join(f"  - {{id: item{n}, kind: concept_art, prompt: 'prop {n}'}}\n" for n in range(ITEMS))


def materialize_cli(workdir, env, log: Path):
    """The CLI run, its log in a file (a stderr pipe nobody reads while it works would stall it)."""
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-m", "assetgen_dagster.definitions",
         "--select", "concept_art", "--partition", "crashy"],
        cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"), start_new_session=True)


def test_sigkill_mid_write_leaves_no_partial_files_and_a_rerun_completes(tiny_kit, workdir):
    write_batch(workdir / "prompts", "crashy", BATCH)
    home = dagster_home(workdir, ["crashy"])
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    out = workdir / "outputs" / "crashy" / "concept_art"

    process = materialize_cli(workdir, env, workdir / "killed.log")
    deadline = time.monotonic() + 120
    while not (out.is_dir() and len(list(out.glob("*.png"))) >= 2):  # writing has begun
        assert process.poll() is None and time.monotonic() < deadline, "run ended before writing"
        time.sleep(0.001)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    (out / ".item0.png.left.tmp").write_bytes(b"half")  # as a kill between write and rename leaves
    finals = sorted(out.glob("*.png"))
    assert len(finals) < ITEMS, "killed too late to test anything"
    survivors = {}
    for path in finals:  # whatever has a final name is a complete, valid image
        with Image.open(path) as image:
            image.verify()
        survivors[path.name] = path.read_bytes()
    from assetgen_dagster.engine.manifest import Manifest

    killed = Manifest(out, "crashy", "concept_art")  # manifest.json + the journal the killed run left
    assert killed.corrupt is None and killed.journal_path.exists()
    recorded = killed.entries
    assert set(recorded) <= {p.stem for p in finals}  # the manifest only lists finished files

    # What run monitoring does for a dead run worker: mark it failed, free its gpu pool slot.
    with DagsterInstance.from_config(str(home)) as instance:
        [dead] = instance.get_runs()
        instance.report_run_failed(dead)
        instance.event_log_storage.free_concurrency_slots_for_run(dead.run_id)

    rerun = materialize_cli(workdir, env, workdir / "rerun.log")
    assert rerun.wait(timeout=300) == 0, (workdir / "rerun.log").read_text()[-3000:]
    assert list(out.glob(".*.tmp")) == []  # the killed run's temp files were swept under the batch lock
    assert len(list(out.glob("*.png"))) == ITEMS and (out / "manifest.json").is_file()
    with DagsterInstance.from_config(str(home)) as instance:
        metadata = instance.fetch_materializations(AssetKey("concept_art"), limit=1).records[0] \
            .asset_materialization.metadata
    assert metadata["reused"].value == len(recorded) >= 1  # finished items were not generated again
    assert metadata["generated"].value == ITEMS - len(recorded)
    for name, data in survivors.items():
        assert (out / name).read_bytes() == data  # deterministic: the re-run wrote the same bytes
