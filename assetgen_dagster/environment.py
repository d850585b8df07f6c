"""The project's default set-up on one machine, shared by ``make demo``, ``make ui`` and
``make cluster``: its environment (tiny kit, folders inside the checkout), its DAGSTER_HOME, the
`gpu` pool, and the console scripts of this Python's environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from assetgen_dagster import settings
from assetgen_dagster.engine.common import GPU_POOL


def demo_environment(project_root: Path) -> dict[str, str]:
    """Environment for demo runs and the UI on them; variables already set by the user win."""
    env = {
        "DAGSTER_HOME": str(project_root / ".dagster_home"),
        "ASSETGEN_PROFILE": "tiny",
        "HF_HOME": str(project_root / ".cache" / "huggingface"),
        settings.PROMPTS_DIR_ENV: str(project_root / "data" / "prompts"),
        settings.OUTPUT_DIR_ENV: str(project_root / "data" / "outputs"),
    }
    merged = {**env, **{k: os.environ[k] for k in env if os.environ.get(k)}}
    if merged["ASSETGEN_PROFILE"] == "tiny":
        merged.setdefault("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "1"))
    return merged


def instance_yaml(project_root: Path) -> Path:
    """The instance config to link into DAGSTER_HOME: ASSETGEN_DAGSTER_YAML, else dagster.yaml."""
    chosen = os.environ.get("ASSETGEN_DAGSTER_YAML", "").strip()
    path = Path(chosen) if chosen else project_root / "dagster.yaml"
    return path if path.is_absolute() else project_root / path


def prepare_dagster_home(home: Path, config: Path) -> None:
    """Create DAGSTER_HOME with a link to the instance config (one source of truth)."""
    home.mkdir(parents=True, exist_ok=True)
    link = home / "dagster.yaml"
    if link.is_symlink() or link.exists():
        if link.resolve() == config.resolve():
            return
        link.unlink()
    link.symlink_to(os.path.relpath(config, home))


def ensure_gpu_pool(instance) -> None:
    """Create the `gpu` pool with the configured default limit before any run claims it: Dagster
    creates a pool on first use, and two runs starting together can both get in before it exists."""
    storage = instance.event_log_storage
    limit = instance.global_op_concurrency_default_limit
    if limit is not None and GPU_POOL not in storage.get_concurrency_keys():
        storage.set_concurrency_slots(GPU_POOL, limit)


def venv_bin(name: str) -> str:
    """A console script (dagster, dagster-daemon, assetgen-dagster) of this Python's environment."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def uses_workers(instance) -> bool:
    """Whether the instance's runs execute in Celery workers (which then have to be started)."""
    from dagster_celery.launcher import CeleryRunLauncher

    return isinstance(instance.run_launcher, CeleryRunLauncher)
