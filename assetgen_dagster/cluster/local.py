"""The processes of one box: the Dagster daemon, the webserver with the watcher and one Celery worker
per device (``LocalStack``: what ``make ui`` runs on the default SQLite instance and its filesystem
broker), and the same on Redis and PostgreSQL (``LocalCluster``: ``make cluster``), all on loopback.

Both run until Ctrl-C; the tests drive the same classes. Several machines use the same pieces by
hand: see README "Scale-out".
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from assetgen_dagster import tiny
from assetgen_dagster.cluster.launcher import BROKER_URL_ENV
from assetgen_dagster.cluster.servers import LocalPostgres, LocalRedis, free_port, wait_until
from assetgen_dagster.environment import demo_environment, venv_bin
from assetgen_dagster.registry import build_registry

CELERY_YAML = Path("deploy") / "celery" / "dagster.yaml"


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``, read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def _terminate(stopping: Sequence[tuple[subprocess.Popen | None, bool]], sig: int, timeout: float) -> None:
    """Send ``sig`` to each (process, group) at once: to its process group, or (``group`` False) to
    the leader alone, which stops its children itself; then wait until every member of every group
    has exited (the Dagster code servers a webserver or daemon starts shut down after their parent),
    and SIGKILL what outlives ``timeout``. Signalled together, the stop takes the slowest one's time,
    not the sum."""
    running = [process for process, group in stopping if process is not None and process.poll() is None]
    for process, group in stopping:
        if process in running:
            os.killpg(process.pid, sig) if group else process.send_signal(sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(process.poll() is None or _group_members(process.pid)
                                              for process in running):
        time.sleep(0.05)
    for process in running:
        if process.poll() is None or _group_members(process.pid):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait()


def instance_yaml_for(project_root: Path, workers: int) -> str:
    """deploy/celery/dagster.yaml with as many runs in progress as there are workers: the rest wait in
    Dagster's queue, where the UI shows them and they can be cancelled."""
    config = yaml.safe_load((project_root / CELERY_YAML).read_text())
    config["concurrency"]["runs"]["max_concurrent_runs"] = workers
    return f"# Written by assetgen-dagster cluster from {CELERY_YAML}; edit that file instead.\n" + \
        yaml.safe_dump(config, sort_keys=False)


class LocalStack:
    """The Dagster daemon, optionally the webserver with the watcher, and one Celery worker per device,
    as subprocesses of one instance (``home``), with their logs in one folder.

    ``make ui`` runs it on the default instance (SQLite, the filesystem broker); :class:`LocalCluster`
    adds Redis and PostgreSQL. Start with :meth:`start`, stop with :meth:`stop` (or use it as a
    context manager). ``instance_config``: dagster.yaml text to write into ``home``; without it
    ``home/dagster.yaml`` must exist. ``webserver_port`` None: no webserver (0: a free port).
    """

    def __init__(self, project_root: Path, home: Path, logs: Path, devices: Sequence[str], env: dict[str, str],
                 preload: Sequence[str] = (), webserver_port: int | None = None, instance_config: str | None = None,
                 watch: bool = True):
        self.project_root = Path(project_root).resolve()
        self.home = Path(home).resolve()
        self.logs = Path(logs).resolve()
        self.devices = list(devices)
        self.preload = list(preload)
        self.webserver_port = webserver_port
        self.instance_config = instance_config
        self.watch = watch  # with the webserver, `assetgen-dagster watch` launches saved batches at once
        self.env = {**env, "DAGSTER_HOME": str(self.home)}
        self.daemon: subprocess.Popen | None = None
        self.webserver: subprocess.Popen | None = None
        self.watcher: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen | None] = [None] * len(self.devices)

    def instance(self):
        """The stack's DagsterInstance for this process (a cluster's config reads the servers'
        ASSETGEN_* variables, the filesystem broker DAGSTER_HOME: this exports them)."""
        from dagster import DagsterInstance

        os.environ.update({key: value for key, value in self.env.items()
                           if key.startswith("ASSETGEN_") or key == "DAGSTER_HOME"})
        return DagsterInstance.from_config(str(self.home))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.webserver_port}"

    def webserver_ready(self) -> bool:
        """Whether the webserver answers (its /server_info endpoint)."""
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.url}/server_info", timeout=2):
                return True
        except OSError:
            return False

    def worker_name(self, index: int) -> str:
        return f"worker{index}-{self.devices[index].replace(':', '')}"

    def _spawn(self, name: str, command: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            return subprocess.Popen(command, cwd=self.project_root, env={**self.env, **(extra_env or {})},
                                    stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)

    def start_services(self) -> None:
        """Servers the instance needs before any Dagster process starts (none here)."""

    def stop_services(self) -> None:
        """Stop what :meth:`start_services` started."""

    def start(self) -> LocalStack:
        self.start_services()
        self.home.mkdir(parents=True, exist_ok=True)
        if self.instance_config is not None:
            (self.home / "dagster.yaml").write_text(self.instance_config)
        with self.instance():  # create the storage schema once: processes starting together race to create it
            pass
        workspace = str(self.project_root / "workspace.yaml")
        self.daemon = self._spawn("daemon", [venv_bin("dagster-daemon"), "run", "-w", workspace])
        if self.webserver_port is not None:
            self.webserver_port = self.webserver_port or free_port()
            self.webserver = self._spawn("webserver", [venv_bin("dagster-webserver"), "-w", workspace,
                                                       "-h", "127.0.0.1", "-p", str(self.webserver_port)])
        if self.webserver_port is not None and self.watch:
            # Saved batch files launch their run at once instead of at the sensor's next 5 s pass.
            self.watcher = self._spawn("watch", [venv_bin("assetgen-dagster"), "watch", "--webserver", self.url])
        for index in range(len(self.devices)):
            self.start_worker(index)
        return self

    def start_worker(self, index: int) -> subprocess.Popen:
        command = [venv_bin("assetgen-dagster"), "worker", "--queue", "gpu", "--device", self.devices[index],
                   "--name", self.worker_name(index)]
        if self.preload:
            command += ["--preload", ",".join(self.preload)]
        self.workers[index] = self._spawn(self.worker_name(index), command, self._cpu_share(index))
        return self.workers[index]

    def _cpu_share(self, index: int) -> dict[str, str]:
        """CPU workers share the cores instead of each starting one torch thread per core, and the
        CPU as a device: one model slot each (a GPU worker holds its GPU's one slot)."""
        cpu_workers = sum(device == "cpu" for device in self.devices)
        if self.devices[index] != "cpu":
            return {}
        share = {} if "OMP_NUM_THREADS" in self.env else {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1)
                                                                                         // cpu_workers))}
        return {**share, "ASSETGEN_DEVICE_SLOTS": str(cpu_workers)}

    def stop_worker(self, index: int, sig: int = signal.SIGTERM, timeout: float = 120) -> None:
        """SIGTERM: Celery's warm shutdown (the current run finishes first); SIGKILL: the worker is gone."""
        self.stop_workers([index], sig, timeout)

    def stop_workers(self, indices: Sequence[int], sig: int = signal.SIGTERM, timeout: float = 120) -> None:
        """:meth:`stop_worker` for several at once. A warm shutdown signals Celery's main process only:
        a SIGTERM to its pool child would end the run in flight, and Celery would start a new child
        (importing everything again) only to stop it."""
        _terminate([(self.workers[index], sig == signal.SIGKILL) for index in indices], sig, timeout)

    def wait_for_workers(self, timeout: float = 180) -> list[str]:
        """Block until every started worker answers a ping (through the instance's broker); returns
        their hostnames."""
        expected = {self.worker_name(i) for i, p in enumerate(self.workers) if p and p.poll() is None}
        with self.instance() as instance:
            app = instance.run_launcher.celery
        deadline = time.monotonic() + timeout
        while True:
            answered = {name for reply in app.control.ping(timeout=1.0) for name in reply}
            if expected <= {name.split("@")[0] for name in answered}:
                return sorted(answered)
            for index, process in enumerate(self.workers):
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"{self.worker_name(index)} exited; see {self.logs}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers {sorted(expected)} did not answer within {timeout:.0f} s; see {self.logs}")
            time.sleep(0.5)

    def restart_dead_workers(self) -> list[str]:
        """Start again every worker whose process exited; returns what happened, one line each."""
        restarted = []
        for index, process in enumerate(self.workers):
            if process is not None and process.poll() is not None:
                restarted.append(f"{self.worker_name(index)} exited ({process.returncode}); restarting it")
                self.start_worker(index)
        return restarted

    def stop(self) -> None:
        """The watcher, the webserver and the daemon first, so nothing new is launched; then the
        workers: a warm shutdown (each finishes its run) while a run is in flight, else at once.
        An idle worker's warm shutdown takes 4-6 s (Celery's poll timeout, then its pool child's and
        its own exit) for nothing: a stop after the demo's runs, or Ctrl-C on an idle UI, waited for it."""
        _terminate([(process, True) for process in (self.watcher, self.webserver, self.daemon)], signal.SIGTERM, 120)
        if self._runs_in_flight():
            _terminate([(worker, False) for worker in self.workers], signal.SIGTERM, 120)
        else:  # no run started and none can start now: nothing of a worker's is worth waiting for
            _terminate([(worker, True) for worker in self.workers], signal.SIGKILL, 120)
        self.stop_services()

    def _runs_in_flight(self) -> bool:
        """Whether a run has been handed to the workers and has not finished (true where the storage
        cannot say: a warm shutdown is never wrong, only slower)."""
        if not any(worker is not None and worker.poll() is None for worker in self.workers):
            return False
        from dagster import DagsterRunStatus, RunsFilter

        handed = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
        environment = dict(os.environ)  # instance() exports the stack's variables; a stop leaves none behind
        try:
            with self.instance() as instance:
                return instance.get_runs_count(RunsFilter(statuses=handed)) > 0
        except Exception:  # noqa: BLE001 - any storage error: keep the safe stop
            return True
        finally:
            os.environ.clear()
            os.environ.update(environment)

    def __enter__(self) -> LocalStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


class LocalCluster(LocalStack):
    """A :class:`LocalStack` on its own Redis and PostgreSQL, all data and logs under ``folder``."""

    def __init__(self, project_root: Path, folder: Path, devices: Sequence[str], env: dict[str, str],
                 preload: Sequence[str] = (), webserver_port: int | None = None,
                 pg_port: int | None = None, redis_port: int | None = None, instance_config: str | None = None):
        folder = Path(folder).resolve()
        self.folder = folder
        self.postgres = LocalPostgres(folder / "postgres", pg_port)
        self.redis = LocalRedis(folder / "redis", redis_port)
        env = {**env, **self.postgres.env(), BROKER_URL_ENV: self.redis.url}
        super().__init__(project_root, folder / "dagster_home", folder / "logs", devices, env, preload, webserver_port,
                         instance_config or instance_yaml_for(project_root, max(1, len(devices))))

    def start_services(self) -> None:
        self.redis.start()
        self.postgres.start()

    def stop_services(self) -> None:
        self.redis.stop()
        self.postgres.stop()


def gpu_devices() -> list[str]:
    """cuda:0..N-1 for the GPUs `nvidia-smi -L` lists (without importing torch); none without it."""
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [f"cuda:{index}" for index, line in enumerate(l for l in listed.splitlines() if l.startswith("GPU "))]


def serve(stack: LocalStack, banner: str) -> None:
    """Start ``stack``, wait for its workers and webserver, print ``banner``, and keep it up
    (restarting a worker that exits) until Ctrl-C or SIGTERM; then stop everything it started."""
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even where started with SIGINT ignored
    with stack:
        try:
            names = stack.wait_for_workers() if stack.devices else []
            if names:
                print(f"{len(names)} worker(s) ready: {', '.join(names)}", flush=True)
            if stack.webserver_port is not None:
                wait_until(stack.webserver_ready, 180, "the Dagster webserver", every=0.5)
            print(banner, flush=True)
            while not stop["now"]:
                for line in stack.restart_dead_workers():
                    print(line, flush=True)
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave half of it running
        print("stopping: workers finish their current run first", flush=True)


def run_cluster(project_root: Path, folder: Path, devices: Sequence[str], preload: Sequence[str], port: int,
                pg_port: int, redis_port: int) -> int:
    """Start the one-box cluster on the demo's environment, print where things are, run until Ctrl-C."""
    env = {**os.environ, **demo_environment(project_root)}
    os.environ.update(env)
    if env.get("ASSETGEN_PROFILE") == "tiny":
        tiny.ensure_tiny_kit(build_registry().roles)
    cluster = LocalCluster(project_root, folder, devices, env, preload, port, pg_port, redis_port)
    serve(cluster, f"redis {cluster.redis.url}, postgres 127.0.0.1:{cluster.postgres.port}, logs in {cluster.logs}\n"
                   f"Dagster UI: {cluster.url}  (prompts: {env['ASSETGEN_PROMPTS_DIR']}; Ctrl-C stops everything)")
    return 0
