"""The test harness itself: a pytest run, one process or pytest-xdist's controller and workers, leaves
none of its session folders (the tiny kit's HF_HOME, the device locks) behind."""

import os
import subprocess
import sys

from .conftest import PROJECT_ROOT


def test_a_run_with_two_workers_leaves_no_session_folder(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # where tempfile.mkdtemp puts the session folders
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                          "assetgen_dagster_tests/engine/test_batches.py"],
                         cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "passed" in run.stdout
    left = sorted(path.name for path in tmp_path.iterdir() if path.name.startswith("assetgen-test-"))
    assert left == [], left
