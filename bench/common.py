"""Shared set-up for the benchmarks: offline tiny-kit environment, timing, results files."""

from __future__ import annotations

import functools
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"


def offline_tiny_environment() -> Path:
    """Point this process at the tiny kit (project-local HF cache, offline) and temp prompt/output
    dirs. Must run before huggingface_hub is imported."""
    os.environ.setdefault("HF_HOME", str(PROJECT_ROOT / ".cache" / "huggingface"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["ASSETGEN_PROFILE"] = "tiny"
    work = Path(tempfile.mkdtemp(prefix="assetgen-bench-"))
    (work / "prompts").mkdir()
    os.environ["ASSETGEN_PROMPTS_DIR"] = str(work / "prompts")
    os.environ["ASSETGEN_OUTPUT_DIR"] = str(work / "outputs")
    return work


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median_time(fn: Callable[[], object], repeats: int) -> float:
    return statistics.median(timed(fn) for _ in range(repeats))


def machine() -> dict[str, str]:
    import torch

    return {
        "date": date.today().isoformat(),
        "cpu": platform.processor() or platform.machine(),
        "cores": str(os.cpu_count()),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
    }


def write_results(name: str, results: dict, table: list[tuple[str, str]]) -> Path:
    """Write ``results`` as JSON and a two-column markdown table under bench/results/."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    lines = ["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in table)]
    (RESULTS_DIR / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return path


@functools.cache
def registry():
    """The kind registry this benchmark process hands to the code it measures (built once)."""
    from assetgen_dagster.registry import build_registry

    return build_registry()


def asset_def(name: str):
    """The Dagster definition of a registered kind's asset, by name."""
    return registry().definitions[name]


def models(loader=None):
    """A model loader (default settings unless given) bound to the registry's roles."""
    from assetgen_dagster.models import ModelLoader

    return (loader or ModelLoader()).bind(registry().roles)


def resources(loader=None) -> dict:
    """The resources the code location's assets need."""
    from assetgen_dagster.models import ModelLoader
    from assetgen_dagster.settings import ProjectSettings

    return {"models": loader or ModelLoader(), "project": ProjectSettings()}


def ensure_tiny_kit() -> None:
    from assetgen_dagster.tiny import ensure_tiny_kit as build

    build(registry().roles)


def child_result(command: list[str], what: str) -> dict:
    """Run a benchmark's measuring child (a fresh process, so its peak memory is its own) and return the
    JSON object on its last output line; SystemExit with the tail of its stderr if it failed."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{what} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


class RssSampler:
    """The process's resident set sampled every 5 ms from /proc (Linux): the peak of one phase, which
    the kernel's ru_maxrss (the whole life's peak, load included) cannot give."""

    def __init__(self) -> None:
        import threading

        self.peak, self._stop = 0, threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> RssSampler:
        self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
