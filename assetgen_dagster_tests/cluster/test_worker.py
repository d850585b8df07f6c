"""The worker's and launcher's own logic, without servers: device pinning, --preload names, the
broker default, the instance config the cluster writes, how a stop treats busy and idle workers."""

import os
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from assetgen_dagster.cluster.launcher import DEFAULT_BROKER_URL, WorkerCheckingCeleryRunLauncher
from assetgen_dagster.cluster.local import LocalStack, instance_yaml_for
from assetgen_dagster.cluster.servers import wait_until as wait_for
from assetgen_dagster.cluster.worker import pin_device, preload_roles

from ..conftest import PROJECT_ROOT, REGISTRY


def test_pin_device_hides_every_other_gpu_before_torch_loads(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    pin_device("cuda:2")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2" and os.environ["ASSETGEN_WORKER_DEVICE"] == "cuda:2"
    pin_device("cpu")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    with pytest.raises(ValueError, match="cpu or cuda:<index>"):
        pin_device("gpu0")


def test_preload_accepts_roles_kinds_and_asset_names():
    assert preload_roles(REGISTRY, ["textures"]) == ["texture"]  # an asset name: its kind's roles
    assert preload_roles(REGISTRY, ["meshes", "concept_art", "mesh"]) == ["mesh", "image_to_3d", "depth", "concept_art"]
    with pytest.raises(ValueError, match="'musik' is not a model role"):
        preload_roles(REGISTRY, ["musik"])


def test_the_broker_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("ASSETGEN_BROKER_URL", raising=False)
    launcher = WorkerCheckingCeleryRunLauncher(default_queue="gpu")
    assert launcher.broker == launcher.backend == DEFAULT_BROKER_URL
    monkeypatch.setenv("ASSETGEN_BROKER_URL", "redis://queue.studio.lan:6379/2")
    launcher = WorkerCheckingCeleryRunLauncher(default_queue="gpu")
    assert launcher.broker == launcher.backend == "redis://queue.studio.lan:6379/2"


def test_the_cluster_config_admits_one_run_per_worker():
    config = yaml.safe_load(instance_yaml_for(PROJECT_ROOT, 3))
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 3
    assert config["run_launcher"]["class"] == "WorkerCheckingCeleryRunLauncher"
    assert config["run_monitoring"]["enabled"] and config["run_retries"]["enabled"]


def test_a_stop_waits_for_the_workers_only_while_a_run_is_in_flight(tmp_path):
    """Workers get Celery's warm shutdown (SIGTERM: finish the run) while a run is handed out, and are
    stopped at once when none is (stand-ins that record a SIGTERM play the workers)."""
    from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

    before = dict(os.environ)
    stopped = {}
    for case, status in (("busy", DagsterRunStatus.STARTED), ("idle", DagsterRunStatus.SUCCESS)):
        stack = LocalStack(PROJECT_ROOT, tmp_path / case, tmp_path / case / "logs", ["cpu"], dict(os.environ))
        (tmp_path / case).mkdir()
        with DagsterInstance.from_config(str(tmp_path / case)) as instance:
            instance.add_run(DagsterRun(job_name="generate_batch", status=status))
        marker = tmp_path / f"{case}.term"
        script = 'trap "touch $0; exit 0" TERM; touch $0.ready; while :; do sleep 0.05; done'
        stack.workers = [subprocess.Popen(["bash", "-c", script, str(marker)], start_new_session=True)]
        wait_for(lambda: Path(f"{marker}.ready").exists(), 10, "the stand-in's trap")  # noqa: B023
        stack.stop()
        stopped[case] = (marker.exists(), stack.workers[0].returncode)
    assert stopped == {"busy": (True, 0), "idle": (False, -signal.SIGKILL)}
    assert dict(os.environ) == before  # the stop exported nothing (a later test would find a stale DAGSTER_HOME)
