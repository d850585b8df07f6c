"""dagster-celery's run launcher with the broker taken from the environment and a worker health
check that notices a dead worker.

The stock ``CeleryRunLauncher.check_run_worker_health`` reads only the Celery task state. A worker
killed mid-run (OOM killer, power loss, ``kill -9``) never updates it, so the task stays STARTED and
the run would stay "in progress" forever. Here a STARTED task's worker (the hostname Celery records
when the task starts) must also answer a ping; if it does not, the run is reported failed, run
monitoring marks it so, and run retries queue it again for a live worker.

With ``broker: filesystem://`` (the default dagster.yaml, what ``make ui`` runs) there is no broker
server: kombu's filesystem transport keeps the queue as files under ``$DAGSTER_HOME/celery`` and
results go to files beside it, so one machine gets hot workers with nothing else to run.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import Field, Noneable, StringSource
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster_celery.launcher import CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG

BROKER_URL_ENV = "ASSETGEN_BROKER_URL"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
PING_TIMEOUT_SECONDS = 2.0
PING_ATTEMPTS = 2  # a worker busy importing still answers from its main process; two misses = gone
EMBEDDED_BROKER = "filesystem://"
EMBEDDED_POLL_SECONDS = 0.1  # how often workers look for a new message file: cheap, and the latency of a launch


def broker_url() -> str:
    """The Redis (or AMQP) URL every machine of the cluster uses."""
    return os.environ.get(BROKER_URL_ENV, "").strip() or DEFAULT_BROKER_URL


def embedded_folder() -> Path:
    """Where the filesystem broker keeps its queue, exchange table and task results."""
    home = os.environ.get("DAGSTER_HOME", "").strip()
    if not home:
        raise ValueError("broker: filesystem:// keeps its queue under $DAGSTER_HOME/celery; set DAGSTER_HOME")
    return Path(home).resolve() / "celery"


def embedded_config(folder: Path, config_source: dict | None) -> tuple[str, dict]:
    """The result backend URL and Celery settings of a filesystem broker rooted at ``folder``
    (created here: kombu expects its folders to exist)."""
    queue, control, results = folder / "queue", folder / "control", folder / "results"
    for path in (queue, control, results):
        path.mkdir(parents=True, exist_ok=True)
    options = {"data_folder_in": str(queue), "data_folder_out": str(queue), "control_folder": str(control),
               "polling_interval": EMBEDDED_POLL_SECONDS}
    source = dict(config_source or {})
    source["broker_transport_options"] = {**options, **(source.get("broker_transport_options") or {})}
    return f"file://{results}", source


class WorkerCheckingCeleryRunLauncher(CeleryRunLauncher):
    """``CeleryRunLauncher`` whose health check also pings the worker running the run."""

    def __init__(self, default_queue: str, broker: str | None = None, backend: str | None = None,
                 include: list[str] | None = None, config_source: dict | None = None, inst_data=None) -> None:
        broker = broker or broker_url()
        if broker == EMBEDDED_BROKER:
            embedded_backend, config_source = embedded_config(embedded_folder(), config_source)
            backend = backend or embedded_backend
        super().__init__(default_queue=default_queue, broker=broker, backend=backend or broker,
                         include=include, config_source=config_source, inst_data=inst_data)

    @classmethod
    def config_type(cls) -> dict:
        schema = dict(super().config_type())
        for key in ("broker", "backend"):  # no rpc:// default: results must outlive the launching process
            schema[key] = Field(Noneable(StringSource), is_required=False,
                                description=f"Default: ${BROKER_URL_ENV}, else {DEFAULT_BROKER_URL}. "
                                                     f"{EMBEDDED_BROKER}: files under $DAGSTER_HOME/celery.")
        return schema

    def check_run_worker_health(self, run) -> CheckRunHealthResult:
        health = super().check_run_worker_health(run)
        if health.status != WorkerStatus.RUNNING:
            return health
        info = self.celery.AsyncResult(run.tags[DAGSTER_CELERY_TASK_ID_TAG]).info
        hostname = info.get("hostname") if isinstance(info, dict) else None
        if hostname and not self.worker_answers(hostname):
            return CheckRunHealthResult(
                WorkerStatus.FAILED,
                f"Celery worker {hostname} stopped answering while it ran this run (killed or its machine is down).")
        return health

    def worker_answers(self, hostname: str) -> bool:
        for _ in range(PING_ATTEMPTS):
            if self.celery.control.ping(destination=[hostname], timeout=PING_TIMEOUT_SECONDS):
                return True
        return False
