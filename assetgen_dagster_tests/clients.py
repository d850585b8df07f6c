"""Real clients of what the pack writes, run as subprocesses: gettext's `msgfmt -c`, ffmpeg's
`ffprobe`. Under CI a missing client fails the test; elsewhere it skips with the reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest


def require(program: str, package: str) -> str:
    """The path of ``program``; fail under CI (``.ci/run`` installs ``package``), else skip."""
    path = shutil.which(program)
    if path is None:
        message = f"{program} is not installed (Debian package {package})"
        if os.environ.get("CI"):
            pytest.fail(f"CI must have it: {message}")
        pytest.skip(message)
    return path


def msgfmt_warnings(po: Path) -> list[str]:
    """What `msgfmt -c` says about a .po file (errors and warnings), one line each; [] when clean."""
    done = subprocess.run([require("msgfmt", "gettext"), "-c", "-o", os.devnull, str(po)],
                          capture_output=True, text=True, timeout=60)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if done.returncode != 0 and not lines:
        lines = [f"msgfmt exited {done.returncode}"]
    return lines


def ffprobe(path: Path) -> dict:
    """ffprobe's view of an audio file: its first stream and the format, with tags by upper-case name."""
    done = subprocess.run([require("ffprobe", "ffmpeg"), "-v", "error", "-show_streams", "-show_format",
                           "-of", "json", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"ffprobe could not read {path}: {done.stderr}"
    probed = json.loads(done.stdout)
    [stream] = probed["streams"]
    tags = {**probed["format"].get("tags", {}), **stream.get("tags", {})}
    return {"codec": stream["codec_name"], "rate": int(stream["sample_rate"]), "channels": stream["channels"],
            "seconds": float(probed["format"]["duration"]), "tags": {k.upper(): v for k, v in tags.items()}}


VALIDATOR = Path(__file__).parent / "gltf_validator"


def gltf_validate(paths: list[Path]) -> dict[str, dict]:
    """The Khronos glTF Validator's report per file (errors, warnings, infos, hints, messages), run
    with node from ``gltf_validator/`` (npm package pinned there; ``.ci/run`` installs it)."""
    node = require("node", "nodejs")
    if not (VALIDATOR / "node_modules" / "gltf-validator").is_dir():
        message = f"the glTF validator is not installed: run `npm ci` in {VALIDATOR}"
        if os.environ.get("CI"):
            pytest.fail(f"CI must have it: {message}")
        pytest.skip(message)
    done = subprocess.run([node, str(VALIDATOR / "validate.js"), *map(str, paths)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def gltf_problems(paths: list[Path]) -> dict[str, list[str]]:
    """Files with validator errors or warnings, and what it said; {} when every file is clean."""
    return {path: report["messages"] or [f"{report['errors']} errors, {report['warnings']} warnings"]
            for path, report in gltf_validate(paths).items() if report["errors"] or report["warnings"]}
