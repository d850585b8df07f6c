"""The one benchmark entry point: every CPU benchmark in turn (tiny kit, offline), or GPU mode.

    .venv/bin/python bench/run_all.py          # CPU: overhead, code location, batch scaling, model loader, regeneration, scaling,
                                               # edit latency (starts Redis and PostgreSQL), asset steps, style,
                                               # picks latency (make cluster and Chromium)
    .venv/bin/python bench/run_all.py --gpu    # on a CUDA machine: bench/gpu.py at full scale

Each prints its table and writes bench/results/<name>.json and .md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
CPU_BENCHMARKS = ["overhead.py", "code_location.py", "batch_scaling.py", "model_loader.py", "regeneration.py",
                  "scaling.py", "edit_latency.py", "asset_steps.py", "style.py", "picks_latency.py"]


def main() -> int:
    scripts = ["gpu.py"] if "--gpu" in sys.argv[1:] else CPU_BENCHMARKS
    failed = []
    for script in scripts:
        print(f"\n== {script}", flush=True)
        result = subprocess.run([sys.executable, str(BENCH / script)], capture_output=True, text=True)
        table = [line for line in result.stdout.splitlines() if line.startswith("|")]
        print("\n".join(table))
        if result.returncode != 0:
            print(result.stderr[-3000:])
            failed.append(script)
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
