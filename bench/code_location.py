"""Code location load time: import of assetgen_dagster.definitions and `dagster definitions validate`
(target < 2 s), with the import profile's top entries.

    .venv/bin/python bench/code_location.py
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, machine, timed, write_results  # noqa: E402


def main() -> None:
    python = sys.executable
    dagster = str(Path(python).with_name("dagster"))
    run = lambda cmd: subprocess.run(cmd, cwd=PROJECT_ROOT, check=True, capture_output=True, text=True)  # noqa: E731
    bare = statistics.median(timed(lambda: run([python, "-c", "pass"])) for _ in range(3))
    imports = statistics.median(timed(lambda: run([python, "-c", "import assetgen_dagster.definitions"]))
                                for _ in range(5))
    validate = statistics.median(timed(lambda: run([dagster, "definitions", "validate", "-w", "workspace.yaml"]))
                                 for _ in range(3))
    cli_start = statistics.median(timed(lambda: run([dagster, "definitions", "validate", "--help"]))
                                  for _ in range(3))
    profile = run([python, "-X", "importtime", "-c", "import assetgen_dagster.definitions"]).stderr
    rows = []
    for line in profile.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(3)) <= 3:  # top-level and first-level packages
            rows.append((int(match.group(2)), match.group(4).strip()))
    top = sorted(rows, reverse=True)[:8]
    heavy = [name for name in ("torch", "diffusers", "transformers") if re.search(rf"\| +{name}$", profile, re.M)]
    results = {
        "machine": machine(), "interpreter_start_seconds": bare, "import_definitions_seconds": imports,
        "definitions_validate_seconds": validate, "dagster_cli_start_seconds": cli_start,
        "heavy_modules_imported": heavy,
        "top_imports_cumulative_us": dict((name, us) for us, name in top),
    }
    write_results("code_location", results, [
        ("python -c 'import assetgen_dagster.definitions' (median of 5)", f"{imports:.2f} s (target < 2 s)"),
        ("  of which interpreter start", f"{bare:.2f} s"),
        ("dagster definitions validate -w workspace.yaml (median of 3)", f"{validate:.2f} s (target < 2 s)"),
        ("  of which the dagster CLI itself (`validate --help`)", f"{cli_start:.2f} s"),
        ("torch / diffusers / transformers imported at load", ", ".join(heavy) or "none"),
        *((f"import {name} (cumulative)", f"{us / 1e6:.3f} s") for us, name in top),
    ])


if __name__ == "__main__":
    main()
