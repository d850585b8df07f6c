"""One writer per batch output directory at a time.

Two runs that materialize the same batch at once (a sensor run and a CLI run, or two GPU workers)
would otherwise interleave appends to one manifest journal or publish two packs over each other.
Every step takes ``<output_dir>/.locks/<batch>.lock`` (an exclusive ``flock``) for the time it works
on that batch; the second writer waits, says who it is waiting for, and then finds the first one's
outputs current. The lock is released by the kernel when the holder's process dies. (Lock files
live outside the batch folders, so a run that writes nothing leaves nothing there.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from assetgen_dagster.locks import hold_one

LOCKS_DIR = ".locks"


def locks_dir(output_dir: Path) -> Path:
    """``<output_dir>/.locks``: the batch and launch locks of everything written under ``output_dir``."""
    return output_dir / LOCKS_DIR


@contextmanager
def batch_lock(batch_dir: Path, holder: str, log: Callable[[str], None], poll_seconds: float = 0.1) -> Iterator[None]:
    """Hold the lock of a batch's output directory for the ``with`` block, waiting for another holder."""
    path = locks_dir(batch_dir.parent) / f"{batch_dir.name}.lock"
    with hold_one([path], holder, log, str(path), poll_seconds) as (_, waited):
        if waited > poll_seconds:
            log(f"got {path} after waiting {waited:.1f} s")
        yield
