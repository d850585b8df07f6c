"""The worker's and launcher's own logic, without servers: device pinning, --preload names, the
broker default, the instance config the cluster writes."""

import os

import pytest
import yaml

from assetgen_dagster.cluster.launcher import DEFAULT_BROKER_URL, WorkerCheckingCeleryRunLauncher
from assetgen_dagster.cluster.local import instance_yaml_for
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
