"""A real cluster for the scale-out tests: Redis, PostgreSQL, the Dagster daemon, the webserver with
`assetgen-dagster watch`, and two Celery workers as subprocesses on loopback, started once for the
module that asks for it."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from assetgen_dagster.cluster.servers import ServerMissing, wait_until as wait_for  # noqa: F401  (for the tests)

from ..conftest import PROJECT_ROOT

KEPT_LOGS = Path(tempfile.gettempdir()) / "assetgen-cluster-logs"


def require_servers():
    """The cluster tests need PostgreSQL and Redis; CI has them (.ci/run installs them)."""
    from assetgen_dagster.cluster.servers import LocalPostgres, LocalRedis

    try:
        LocalPostgres(Path("/nonexistent"))
        LocalRedis(Path("/nonexistent"))
    except ServerMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the cluster's servers: {exc}")
        pytest.skip(f"CLUSTER TESTS SKIPPED: {exc}")


@pytest.fixture(scope="module")
def cluster(tiny_kit):
    """Two CPU workers sharing the broker, the instance and the output directory."""
    from assetgen_dagster.cluster.local import LocalCluster

    require_servers()
    # Not under pytest's 0700 tmp dir: as root, PostgreSQL runs as the postgres user and must reach it.
    root = Path(tempfile.mkdtemp(prefix="assetgen-cluster-"))
    root.chmod(0o755)
    (root / "prompts").mkdir()
    env = {**os.environ, "ASSETGEN_PROMPTS_DIR": str(root / "prompts"), "ASSETGEN_OUTPUT_DIR": str(root / "outputs"),
           "ASSETGEN_SENSOR_INTERVAL_SECONDS": "1"}
    cluster = LocalCluster(PROJECT_ROOT, root / "cluster", ["cpu", "cpu"], env, webserver_port=0)  # + watcher
    saved = dict(os.environ)  # cluster.instance() exports the servers' ASSETGEN_* variables
    with cluster:
        try:
            cluster.wait_for_workers()
            yield cluster
        finally:
            os.environ.clear()
            os.environ.update(saved)
    # The daemon's, webserver's and workers' logs outlive the cluster: what a failed test needs read.
    shutil.rmtree(KEPT_LOGS, ignore_errors=True)
    shutil.copytree(cluster.logs, KEPT_LOGS, dirs_exist_ok=True)
    shutil.rmtree(root, ignore_errors=True)
