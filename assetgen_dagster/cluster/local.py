"""A one-box studio cluster: Redis, PostgreSQL, the Dagster daemon, the webserver and one Celery
worker per device, all on loopback, with their data and logs in one folder.

``assetgen-dagster cluster`` (``make cluster``) runs it until Ctrl-C; the tests drive the same class.
Several machines use the same pieces by hand: see README "Scale-out".
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
from assetgen_dagster.cluster.servers import LocalPostgres, LocalRedis, free_port
from assetgen_dagster.demo import demo_environment, venv_bin
from assetgen_dagster.registry import build_registry

CELERY_YAML = Path("deploy") / "celery" / "dagster.yaml"


def _terminate(process: subprocess.Popen | None, sig: int, timeout: float) -> None:
    """Send ``sig`` to the process group and wait; SIGKILL it if it outlives ``timeout``."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def instance_yaml_for(project_root: Path, workers: int) -> str:
    """deploy/celery/dagster.yaml with as many runs in progress as there are workers: the rest wait in
    Dagster's queue, where the UI shows them and they can be cancelled."""
    config = yaml.safe_load((project_root / CELERY_YAML).read_text())
    config["concurrency"]["runs"]["max_concurrent_runs"] = workers
    return f"# Written by assetgen-dagster cluster from {CELERY_YAML}; edit that file instead.\n" + \
        yaml.safe_dump(config, sort_keys=False)


class LocalCluster:
    """Start with :meth:`start`, stop with :meth:`stop` (or use it as a context manager)."""

    def __init__(self, project_root: Path, folder: Path, devices: Sequence[str], env: dict[str, str],
                 preload: Sequence[str] = (), webserver_port: int | None = None,
                 pg_port: int | None = None, redis_port: int | None = None, instance_config: str | None = None):
        self.project_root = Path(project_root).resolve()
        self.folder = Path(folder).resolve()
        self.devices = list(devices)
        self.preload = list(preload)
        self.webserver_port = webserver_port
        self.instance_config = instance_config  # dagster.yaml text; default: deploy/celery for these workers
        self.logs = self.folder / "logs"
        self.home = self.folder / "dagster_home"
        self.postgres = LocalPostgres(self.folder / "postgres", pg_port)
        self.redis = LocalRedis(self.folder / "redis", redis_port)
        self.env = {**env, **self.postgres.env(), BROKER_URL_ENV: self.redis.url, "DAGSTER_HOME": str(self.home)}
        self.daemon: subprocess.Popen | None = None
        self.webserver: subprocess.Popen | None = None
        self.watcher: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen | None] = [None] * len(self.devices)

    def instance(self):
        """The cluster's DagsterInstance for this process (its config reads the servers' ASSETGEN_* variables,
        which this exports)."""
        from dagster import DagsterInstance

        os.environ.update({key: value for key, value in self.env.items() if key.startswith("ASSETGEN_")})
        return DagsterInstance.from_config(str(self.home))

    def webserver_ready(self) -> bool:
        """Whether the webserver answers (its /server_info endpoint)."""
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.webserver_port}/server_info", timeout=2):
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

    def start(self) -> LocalCluster:
        self.redis.start()
        self.postgres.start()
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "dagster.yaml").write_text(
            self.instance_config or instance_yaml_for(self.project_root, max(1, len(self.devices))))
        with self.instance():  # create the storage schema once: processes starting together race to create it
            pass
        workspace = str(self.project_root / "workspace.yaml")
        self.daemon = self._spawn("daemon", [venv_bin("dagster-daemon"), "run", "-w", workspace])
        if self.webserver_port is not None:
            self.webserver_port = self.webserver_port or free_port()
            self.webserver = self._spawn("webserver", [venv_bin("dagster-webserver"), "-w", workspace,
                                                       "-h", "127.0.0.1", "-p", str(self.webserver_port)])
            # Saved batch files launch their run at once instead of at the sensor's next 5 s pass.
            self.watcher = self._spawn("watch", [venv_bin("assetgen-dagster"), "watch", "--webserver",
                                                 f"http://127.0.0.1:{self.webserver_port}"])
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
        _terminate(self.workers[index], sig, timeout)

    def wait_for_workers(self, timeout: float = 180) -> list[str]:
        """Block until every started worker answers a ping; returns their hostnames."""
        from celery import Celery

        expected = {self.worker_name(i) for i, p in enumerate(self.workers) if p and p.poll() is None}
        app = Celery(broker=self.redis.url)
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

    def stop(self) -> None:
        for index in range(len(self.workers)):
            self.stop_worker(index)
        for process in (self.watcher, self.webserver, self.daemon):
            _terminate(process, signal.SIGTERM, 60)
        self.redis.stop()
        self.postgres.stop()

    def __enter__(self) -> LocalCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def gpu_devices() -> list[str]:
    """cuda:0..N-1 for the GPUs `nvidia-smi -L` lists (without importing torch); none without it."""
    try:
        listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [f"cuda:{index}" for index, line in enumerate(l for l in listed.splitlines() if l.startswith("GPU "))]


def run_cluster(project_root: Path, folder: Path, devices: Sequence[str], preload: Sequence[str], port: int,
                pg_port: int, redis_port: int) -> int:
    """Start the one-box cluster on the demo's environment, print where things are, run until Ctrl-C."""
    env = {**os.environ, **demo_environment(project_root)}
    os.environ.update(env)
    if env.get("ASSETGEN_PROFILE") == "tiny":
        tiny.ensure_tiny_kit(build_registry().roles)
    cluster = LocalCluster(project_root, folder, devices, env, preload, port, pg_port, redis_port)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    with cluster:
        print(f"redis {cluster.redis.url}, postgres 127.0.0.1:{cluster.postgres.port}, logs in {cluster.logs}")
        names = cluster.wait_for_workers()
        print(f"{len(names)} worker(s) ready: {', '.join(names)}")
        print(f"Dagster UI: http://127.0.0.1:{port}  (prompts: {env['ASSETGEN_PROMPTS_DIR']}; Ctrl-C stops everything)",
              flush=True)
        try:
            while not stop["now"]:
                for index, process in enumerate(cluster.workers):
                    if process is not None and process.poll() is not None:
                        print(f"{cluster.worker_name(index)} exited ({process.returncode}); restarting it", flush=True)
                        cluster.start_worker(index)
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        print("stopping: workers finish their current run first", flush=True)
    return 0
