"""The run queue of the project's instances dequeues every half second (Dagster's own interval is
whole seconds), through the daemon Dagster builds from the instance; less than that is refused."""

import pytest
import yaml

from ..conftest import PROJECT_ROOT


def instance_with(tmp_path, coordinator_config: dict | None = None):
    from dagster import DagsterInstance

    config = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    if coordinator_config is not None:
        config["run_coordinator"]["config"] = coordinator_config
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    return DagsterInstance.from_config(str(tmp_path))


def test_the_daemon_dequeues_every_half_second(tmp_path):
    from dagster._daemon.controller import create_daemon_of_type
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    from assetgen_dagster.cluster.coordinator import QuickQueuedRunCoordinator

    with instance_with(tmp_path) as instance:
        assert isinstance(instance.run_coordinator, QuickQueuedRunCoordinator)
        daemon = create_daemon_of_type(QueuedRunCoordinatorDaemon.daemon_type(), instance)
        assert daemon.interval_seconds == 0.5
    assert "QuickQueuedRunCoordinator" in (PROJECT_ROOT / "deploy" / "celery" / "dagster.yaml").read_text()


def test_a_dequeue_interval_below_half_a_second_is_refused(tmp_path):
    with pytest.raises(ValueError, match="dequeue_seconds: 0.1 is below 0.5"), \
            instance_with(tmp_path, {"dequeue_seconds": 0.1}) as instance:
        instance.run_coordinator  # noqa: B018 - the coordinator is built when first asked for
