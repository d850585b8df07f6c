"""Throwaway PostgreSQL and Redis servers on loopback, for the one-box cluster and the tests.

Both are Debian's binaries (`initdb`/`pg_ctl` from postgresql, `redis-server`), run from a data
folder the caller owns; nothing is installed or configured system-wide.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class ServerMissing(RuntimeError):
    """A server binary is not installed."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found or (candidates[-1] if candidates else None)


def wait_until(condition: Callable[[], T], timeout: float, what: str, every: float = 0.5) -> T:
    """Poll ``condition`` until it returns something truthy (returned); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_for_port(port: int, timeout: float, what: str) -> None:
    wait_until(lambda: listening(port), timeout, f"{what} to listen on 127.0.0.1:{port}", every=0.05)


class LocalPostgres:
    """A PostgreSQL server in ``folder`` (initdb on first start) with database ``assetgen``.

    As root, the server runs as the ``postgres`` user (PostgreSQL refuses to run as root).
    """

    def __init__(self, folder: Path, port: int | None = None, durable: bool = True):
        self.initdb, self.pg_ctl = _binary("initdb"), _binary("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            raise ServerMissing("PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql)")
        self.folder = Path(folder).resolve()
        self.data, self.sockets, self.log = self.folder / "data", self.folder / "sock", self.folder / "postgres.log"
        self.port = port or free_port()
        self.durable = durable
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *command: str) -> subprocess.CompletedProcess:
        done = subprocess.run([*self._as_postgres, *command], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed ({done.returncode}) for {self.folder}: "
                               f"{(done.stderr or done.stdout).strip()[-2000:]}")
        return done

    def env(self) -> dict[str, str]:
        """The ASSETGEN_PG_* variables deploy/*/dagster.yaml read."""
        return {"ASSETGEN_PG_HOST": "127.0.0.1", "ASSETGEN_PG_PORT": str(self.port), "ASSETGEN_PG_USER": "postgres",
                "ASSETGEN_PG_PASSWORD": "", "ASSETGEN_PG_DB": "assetgen"}

    def start(self) -> LocalPostgres:
        fresh = not (self.data / "PG_VERSION").exists()
        self.sockets.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            for path in (self.folder, self.sockets):
                shutil.chown(path, "postgres")
            if subprocess.run([*self._as_postgres, "test", "-x", str(self.folder)]).returncode != 0:
                raise RuntimeError(f"PostgreSQL runs as the postgres user and cannot reach {self.folder}: "
                                   "make its parent folders traversable (chmod o+x) or choose another folder")
        if fresh:
            self._run(self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1"
        if not self.durable:
            options += " -c fsync=off"
        self._run(self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, "start")
        if fresh:
            import psycopg2

            admin = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
            admin.autocommit = True
            admin.cursor().execute("CREATE DATABASE assetgen")
            admin.close()
        return self

    def restart(self) -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-m", "fast", "restart")

    def stop(self, mode: str = "fast") -> None:
        subprocess.run([*self._as_postgres, self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"],
                       capture_output=True)


class LocalRedis:
    """A Redis server in ``folder`` with the append-only file on, so queued Celery tasks survive a restart."""

    def __init__(self, folder: Path, port: int | None = None):
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise ServerMissing("redis-server is not installed (apt-get install redis-server)")
        self.folder = Path(folder).resolve()
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> LocalRedis:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
             "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        _wait_for_port(self.port, 30, "redis-server")
        return self

    def stop(self) -> None:
        """SIGTERM, as a service manager's stop does: Redis flushes the append-only file and exits.
        (A SHUTDOWN command through redis-py took 3 s: the client retries, with backoff, the
        connection the server closes as it exits.)"""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()
