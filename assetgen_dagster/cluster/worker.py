"""A long-lived Celery worker for one device: it runs one Dagster run at a time inside its process,
so the models a run loaded stay in the process-wide cache for the next run.

The worker takes its Celery app (broker, backend, settings) from the run launcher of the instance in
DAGSTER_HOME, so it always matches what the daemon sends. Celery's prefork pool with one child:
the child executes runs (and is where torch and the models live); the parent keeps answering
pings while a run works, which is what the launcher's health check relies on.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assetgen_dagster.registry import Registry

log = logging.getLogger("assetgen.worker")

WORKER_TAG = "assetgen/worker"
DEVICE_TAG = "assetgen/device"
DEVICE_ENV = "ASSETGEN_WORKER_DEVICE"
STARTUP_SECONDS = 1800  # Celery's default of 4 s for a child to start leaves no time to load models


def pin_device(device: str) -> None:
    """Make ``device`` the only one this process can see; must run before torch is imported."""
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    elif match := re.fullmatch(r"cuda:(\d+)", device):
        os.environ["CUDA_VISIBLE_DEVICES"] = match.group(1)
    else:
        raise ValueError(f"--device {device!r}: use cpu or cuda:<index>")
    os.environ[DEVICE_ENV] = device


def preload_roles(registry: Registry, names: Sequence[str]) -> list[str]:
    """Model roles for ``--preload``: role names, kind names or asset names (``textures``)."""
    roles = registry.roles
    chosen: list[str] = []
    for name in names:
        if name in roles:
            found = [name]
        else:
            found = [role.name for kind in registry.kinds
                     if name == kind.name or name in {item_asset.name for item_asset in kind.assets}
                     for role in kind.models]
        if not found:
            raise ValueError(f"--preload {name!r} is not a model role, kind or asset; roles: {', '.join(roles)}")
        chosen += [role for role in found if role not in chosen]
    return chosen


def warm_up(registry: Registry, roles: Sequence[str]) -> None:
    """Pay the imports and the model loads before the first run asks for them."""
    started = time.perf_counter()
    import diffusers  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401

    import assetgen_dagster.definitions  # noqa: F401  the code location every run reconstructs
    from assetgen_dagster.models import ModelLoader

    log.info("imports done in %.1f s", time.perf_counter() - started)
    resource = ModelLoader()
    models = resource.bind(registry.roles)
    for role in roles:
        resolved = models.resolve(role)
        with resource.claim_device(resolved.device, f"worker preload of {role}", log.info), models.use(resolved) as model:
            log.info("preloaded %s (%s) on %s in %.1f s", role, model.spec.repo_id, model.device, model.load_seconds)


def tag_run(task_kwargs: dict, hostname: str) -> None:
    """Record on the run which worker and device executed it (visible in the UI's run tags)."""
    from dagster import DagsterInstance
    from dagster._grpc.types import ExecuteRunArgs, ResumeRunArgs
    from dagster._serdes import unpack_value

    packed = task_kwargs.get("execute_job_args_packed")
    if packed is None:
        return
    args = unpack_value(packed, as_type=(ExecuteRunArgs, ResumeRunArgs))
    with DagsterInstance.get() as instance:
        instance.add_run_tags(args.run_id, {WORKER_TAG: hostname, DEVICE_TAG: os.environ.get(DEVICE_ENV, "")})
    log.info("%s takes run %s", hostname, args.run_id)


# What a run's instance keeps open: PostgreSQL storages connect once per query by default (a new
# connection each, ~2 ms on loopback, ~230 per run with no generation); a run holds a small pool instead.
POOL_RECYCLE_SECONDS, POOL_MAX_OVERFLOW = 3600, 10


def hold_connections(instance: Any) -> None:
    """Make ``instance``'s PostgreSQL storages keep a small pool of connections (the webserver's own
    setting, no statement timeout) instead of opening one per query, each checked with a ``SELECT 1``
    when taken from the pool: one the server dropped (a restart) is replaced, so a run survives a
    PostgreSQL restart as it does with a connection per query. Nothing changes for SQLite."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    if not event.contains(Pool, "checkout", _replace_a_dropped_connection):
        event.listen(Pool, "checkout", _replace_a_dropped_connection)
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=POOL_RECYCLE_SECONDS,
                                    max_overflow=POOL_MAX_OVERFLOW)


def _replace_a_dropped_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """SQLAlchemy's pessimistic disconnect check: a pooled connection that cannot run ``SELECT 1`` is
    reported as disconnected, and the pool connects again (a refused connect is then an
    OperationalError, which dagster-postgres retries while the server comes back)."""
    from sqlalchemy import exc

    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure of the probe means the connection is unusable
        raise exc.DisconnectionError("the database dropped this pooled connection") from None
    finally:
        try:
            cursor.close()
        except Exception:  # noqa: BLE001, S110 - closing a dead connection's cursor may fail too
            pass


def register_run_task(app: Any) -> None:
    """dagster-celery's execute-run task (same name, so the launcher's messages reach it), with the run's
    instance holding pooled database connections (:func:`hold_connections`) instead of one connection
    per query. The instance is still made per run.

    Acknowledged when the run ends, not when it starts: with one run at a time and a prefetch of one,
    a worker whose run is unacknowledged takes no second message, so a run that waits stays in the
    broker for whichever worker comes free first (Celery's default would park it behind this one).
    A worker killed mid-run is handled by run monitoring and retries; its message, redelivered after
    the broker's visibility timeout, finds the run finished and Dagster ignores it."""
    from dagster import DagsterInstance
    from dagster._cli.api import _execute_run_command_body
    from dagster._grpc.types import ExecuteRunArgs
    from dagster._serdes import unpack_value
    from dagster_celery.config import TASK_EXECUTE_JOB_NAME

    @app.task(bind=True, name=TASK_EXECUTE_JOB_NAME, track_started=True, acks_late=True)
    def execute_run(_task: Any, execute_job_args_packed: Any) -> int:
        args = unpack_value(execute_job_args_packed, as_type=ExecuteRunArgs)
        with DagsterInstance.get() as instance:
            hold_connections(instance)
            exit_on_failure = True if args.set_exit_code_on_failure is None else args.set_exit_code_on_failure
            return _execute_run_command_body(instance=instance, run_id=args.run_id, write_stream_fn=lambda _: None,
                                             set_exit_code_on_failure=exit_on_failure)


def run_worker(queue: str, device: str, preload: Sequence[str] = (), name: str | None = None,
               loglevel: str = "INFO") -> int:
    """Start the worker and block until it is stopped (SIGTERM/Ctrl-C: finish the current run first)."""
    pin_device(device)
    from assetgen_dagster.registry import build_registry

    registry = build_registry()
    roles = preload_roles(registry, preload)
    from celery import signals
    from dagster import DagsterInstance
    from dagster_celery.launcher import CeleryRunLauncher
    from dagster_celery.tasks import create_resume_job_task

    instance = DagsterInstance.get()
    launcher = instance.run_launcher
    if not isinstance(launcher, CeleryRunLauncher):
        raise SystemExit(f"{os.environ.get('DAGSTER_HOME')}/dagster.yaml does not use the Celery run launcher; "
                         "link deploy/celery/dagster.yaml there (ASSETGEN_DAGSTER_YAML=deploy/celery/dagster.yaml)")
    app = launcher.celery
    register_run_task(app)
    create_resume_job_task(app)
    app.conf.worker_prefetch_multiplier = 1  # with acks_late: no message reserved beside the run in flight
    app.conf.worker_proc_alive_timeout = STARTUP_SECONDS
    app.conf.worker_redirect_stdouts_level = "INFO"  # run logs are not warnings
    hostname = f"{name or queue + '-' + device.replace(':', '')}@{socket.gethostname()}"

    signals.worker_process_init.connect(lambda **_: warm_up(registry, roles), weak=False)
    signals.task_prerun.connect(lambda kwargs=None, **_: tag_run(kwargs or {}, hostname), weak=False)
    app.worker_main(["worker", "--queues", queue, "--concurrency", "1", "--pool", "prefork", "--hostname", hostname,
                     "--loglevel", loglevel, "--without-mingle", "--without-gossip"])
    return 0
