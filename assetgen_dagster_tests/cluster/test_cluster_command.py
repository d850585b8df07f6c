"""`assetgen-dagster cluster` (what `make cluster` runs) on a fresh folder: it starts Redis,
PostgreSQL, the daemon, the UI and a worker that preloads its model, an edited batch comes back
from a hot worker, and Ctrl-C stops every part."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from dagster import AssetKey, DagsterInstance

from assetgen_dagster.cluster.servers import LocalPostgres, free_port, listening

from ..conftest import PROJECT_ROOT
from .conftest import require_servers, wait_for


def test_the_cluster_command_serves_edits_from_a_preloaded_worker_and_stops_on_ctrl_c(tiny_kit, monkeypatch):
    require_servers()
    root = Path(tempfile.mkdtemp(prefix="assetgen-cluster-cli-"))
    root.chmod(0o755)
    (root / "prompts").mkdir()
    ui, pg, redis = free_port(), free_port(), free_port()
    env = {**os.environ, "ASSETGEN_PROMPTS_DIR": str(root / "prompts"), "ASSETGEN_OUTPUT_DIR": str(root / "outputs")}
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("assetgen-dagster")), "cluster", "--workers", "1", "--preload",
         "concept_art", "--port", str(ui), "--pg-port", str(pg), "--redis-port", str(redis), "--folder", str(root / "c")],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    printed = []
    try:
        deadline = time.monotonic() + 240
        while not any("worker(s) ready" in line for line in printed):
            line = process.stdout.readline()
            assert line and time.monotonic() < deadline, "".join(printed)
            printed.append(line)

        def ui_answers() -> bool:
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{ui}/server_info", timeout=2).status == 200
            except OSError:
                return False

        wait_for(ui_answers, 120, "the Dagster UI")
        (root / "prompts" / "props.yaml").write_text("items:\n  - {id: lamp, kind: concept_art, prompt: 'a lamp'}\n")
        wait_for(lambda: (root / "outputs" / "props" / "concept_art" / "lamp.png").is_file(), 120, "the sensor's run")

        for key, value in LocalPostgres(root / "c" / "postgres", pg).env().items():  # the server the command started
            monkeypatch.setenv(key, value)
        with DagsterInstance.from_config(str(root / "c" / "dagster_home")) as instance:
            [record] = instance.fetch_materializations(AssetKey("concept_art"), limit=1).records
            run = instance.get_run_by_id(record.run_id)
            metadata = record.asset_materialization.metadata
        assert run.tags["assetgen/device"] == "cpu" and run.tags["assetgen/worker"].startswith("worker0-cpu@")
        assert metadata["models"].value["concept_art"]["cache_state"] == "hot"  # preloaded before the first run
    finally:
        process.send_signal(signal.SIGINT)
        try:
            rest, _ = process.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            stop_everything(process, root)  # it hung while stopping: nothing it started may outlive the test
            raise
    assert process.returncode == 0, "".join(printed) + rest
    assert "stopping" in rest
    assert not any(listening(port) for port in (ui, pg, redis))  # every part is down
    shutil.rmtree(root, ignore_errors=True)


def stop_everything(process: subprocess.Popen, root: Path) -> None:
    """Kill the command and every process it started (workers, daemon and UI are its descendants;
    PostgreSQL detaches, so pg_ctl stops it)."""
    import psutil

    for child in psutil.Process(process.pid).children(recursive=True):
        child.kill()
    process.kill()
    process.wait()
    LocalPostgres(root / "c" / "postgres").stop("immediate")
