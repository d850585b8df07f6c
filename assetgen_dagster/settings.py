"""Where batches are read and outputs written, and which model profile runs.

Runs get them from the :class:`ProjectSettings` resource (each field defaults to its environment
variable, read when used, not at import); tools outside a run (CLI, sensor tests) read the same
variables through the functions below.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Optional

from dagster import ConfigurableResource
from pydantic import Field

PROMPTS_DIR_ENV = "ASSETGEN_PROMPTS_DIR"
OUTPUT_DIR_ENV = "ASSETGEN_OUTPUT_DIR"
PROFILE_ENV = "ASSETGEN_PROFILE"
CATALOG_ENV = "ASSETGEN_CATALOG"
ALLOWED_REPOS_ENV = "ASSETGEN_ALLOWED_REPOS"

SENSOR_INTERVAL_ENV = "ASSETGEN_SENSOR_INTERVAL_SECONDS"
DEVICE_LOCK_DIR_ENV = "ASSETGEN_DEVICE_LOCK_DIR"
DEVICE_SLOTS_ENV = "ASSETGEN_DEVICE_SLOTS"

PROFILES = ("default", "tiny")


def prompts_dir() -> Path:
    """Where prompt batch files live (one YAML file per batch/partition)."""
    return Path(os.environ.get(PROMPTS_DIR_ENV, "data/prompts")).resolve()


def output_dir() -> Path:
    """Root of every generated file: ``<output_dir>/<batch>/<asset_key>/...``."""
    return Path(os.environ.get(OUTPUT_DIR_ENV, "data/outputs")).resolve()


def profile() -> str:
    """``default`` uses real Hugging Face models; ``tiny`` the offline tiny kit."""
    value = os.environ.get(PROFILE_ENV, "default").strip() or "default"
    if value not in PROFILES:
        raise ValueError(f"{PROFILE_ENV}={value!r} is not a profile; use one of {', '.join(PROFILES)}")
    return value


def sensor_interval_seconds() -> int:
    """The least time between two looks of the batch sensor at the prompts directory (read when the
    code location loads). Dagster's sensor daemon loops every 5 s, so the default of 1 means every
    loop: a 5 s interval would skip a loop whenever two passes come a hair under 5 s apart. A tick
    over 1,000 unchanged files costs ~15 ms."""
    value = int(os.environ.get(SENSOR_INTERVAL_ENV, "1"))
    if value < 1:
        raise ValueError(f"{SENSOR_INTERVAL_ENV} must be at least 1 second")
    return value


def catalog_override_path() -> Path | None:
    """A user catalog YAML that overrides built-in entries by kind, if ``ASSETGEN_CATALOG`` names one."""
    value = os.environ.get(CATALOG_ENV, "").strip()
    return Path(value) if value else None


def extra_allowed_repos() -> list[str]:
    """Repo ids or fnmatch patterns added to the allow-list, comma separated in ``ASSETGEN_ALLOWED_REPOS``."""
    return [p.strip() for p in os.environ.get(ALLOWED_REPOS_ENV, "").split(",") if p.strip()]


def device_lock_dir() -> Path:
    """Where the per-device locks live: one folder for every process on this machine that uses
    its GPUs (``ASSETGEN_DEVICE_LOCK_DIR``, default ``<tmp>/assetgen-devices``)."""
    value = os.environ.get(DEVICE_LOCK_DIR_ENV, "").strip()
    return Path(value) if value else Path(tempfile.gettempdir()) / "assetgen-devices"


def device_slots() -> int:
    """How many model users one device takes at once (``ASSETGEN_DEVICE_SLOTS``, default 1: a GPU
    runs one model step at a time)."""
    value = int(os.environ.get(DEVICE_SLOTS_ENV, "1"))
    if value < 1:
        raise ValueError(f"{DEVICE_SLOTS_ENV} must be at least 1")
    return value


def hub_offline() -> bool:
    """True when models come from the local cache only: ``HF_HUB_OFFLINE`` is set, or the profile is
    ``tiny``, whose models exist nowhere but in the local cache (built by ``assetgen-dagster tiny-kit``)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return True
    return os.environ.get(PROFILE_ENV, "").strip() == "tiny"


class ProjectSettings(ConfigurableResource):
    """The prompts folder, the output folder and the model profile of the runs; each unset field
    falls back to its environment variable (ASSETGEN_PROMPTS_DIR, ASSETGEN_OUTPUT_DIR, ASSETGEN_PROFILE)."""

    prompts_dir: Optional[str] = Field(default=None, description="Batch files; default ASSETGEN_PROMPTS_DIR.")
    output_dir: Optional[str] = Field(default=None, description="Generated files; default ASSETGEN_OUTPUT_DIR.")
    profile: Optional[str] = Field(default=None, description="default (real models) or tiny; "
                                                             "default ASSETGEN_PROFILE.")

    def prompts(self) -> Path:
        return Path(self.prompts_dir).resolve() if self.prompts_dir else prompts_dir()

    def outputs(self) -> Path:
        return Path(self.output_dir).resolve() if self.output_dir else output_dir()

    def model_profile(self) -> str:
        if self.profile is None:
            return profile()
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is not a profile; use one of {', '.join(PROFILES)}")
        return self.profile
