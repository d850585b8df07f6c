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


GODOT_IMPORTED = {"png", "glb", "wav", "ogg", "csv"}  # what Godot 3's editor imports from a pack


def godot_project(folder: Path, packs: dict[str, Path]) -> Path:
    """A throwaway Godot 3 project in ``folder`` with each pack copied under ``res://packs/<name>/``
    and this folder's GDScript checks, imported by the editor."""
    (folder / "project.godot").write_text('config_version=4\n\n[application]\n\nconfig/name="assetgen-pack-check"\n')
    for name, pack in packs.items():
        shutil.copytree(pack.resolve(), folder / "packs" / name, ignore=shutil.ignore_patterns("review", "*.html"))
    shutil.copy(Path(__file__).parent / "godot" / "check_packs.gd", folder)
    _godot_import(folder)
    return folder


def _godot_import(project: Path, timeout: float = 300) -> None:
    """Run the editor's import (`--editor --quit`). Debian's godot3-server 3.2.3 imports in seconds
    but then does not exit, so the import counts as done when every importable file has its
    ``.import`` and nothing changed for two seconds; then the editor is stopped."""
    import signal
    import time

    godot = require("godot3-server", "godot3-server")
    expected = [path for path in project.rglob("*") if path.suffix[1:] in GODOT_IMPORTED]
    log = (project / "import.log").open("w")
    editor = subprocess.Popen([godot, "--path", str(project), "--editor", "--quit"], stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, "LC_ALL": "C.UTF-8"})
    deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
    try:
        while time.monotonic() < deadline and editor.poll() is None:
            state = sorted((p.name, p.stat().st_size) for p in project.rglob("*.import") if p.is_file())
            if state != last:
                last, since = state, time.monotonic()
            elif len(state) >= len(expected) and time.monotonic() - since > 2:
                break
            time.sleep(0.25)
        else:
            if editor.poll() is None:
                raise AssertionError(f"Godot did not import {len(expected)} files in {timeout} s: {project}/import.log")
    finally:
        if editor.poll() is None:
            os.killpg(editor.pid, signal.SIGKILL)
        editor.wait()
        log.close()
    missing = [str(p) for p in expected if not Path(f"{p}.import").is_file()]
    assert not missing, f"Godot did not import {missing[:5]}"


def godot_facts(project: Path) -> dict:
    """Run the GDScript checks in ``project`` and return what it reported, per pack."""
    godot = require("godot3-server", "godot3-server")
    done = subprocess.run([godot, "--path", str(project), "--script", "res://check_packs.gd"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "LC_ALL": "C.UTF-8"})
    lines = [line for line in done.stdout.splitlines() if line.startswith("ASSETGEN_GODOT ")]
    assert lines, f"the GDScript printed no report (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return json.loads(lines[-1].split(" ", 1)[1])
