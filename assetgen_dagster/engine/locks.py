"""One writer per batch output directory at a time.

Two runs that materialize the same batch at once (a sensor run and a CLI run, or two GPU workers)
would otherwise interleave appends to one manifest journal or publish two packs over each other.
Every step takes ``<output_dir>/.locks/<batch>.lock`` (an exclusive ``flock``) for the time it works
on that batch; the second writer waits, says who it is waiting for, and then finds the first one's
outputs current. The lock is released by the kernel when the holder's process dies. (Lock files
live outside the batch folders, so a run that writes nothing leaves nothing there.)
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LOCKS_DIR = ".locks"
REPORT_EVERY_SECONDS = 60.0


@contextmanager
def batch_lock(batch_dir: Path, holder: str, log: Callable[[str], None], poll_seconds: float = 0.1) -> Iterator[None]:
    """Hold the lock of a batch's output directory for the ``with`` block, waiting for another holder."""
    path = batch_dir.parent / LOCKS_DIR / f"{batch_dir.name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        started, next_report = time.monotonic(), 0.0
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= next_report:  # at once, then once a minute
                    handle.seek(0)
                    log(f"waiting for {path}: another writer holds it ({handle.read().strip() or 'unknown'}); "
                        f"waited {waited:.0f} s")
                    next_report = waited + REPORT_EVERY_SECONDS
                time.sleep(poll_seconds)
        waited = time.monotonic() - started
        if waited > poll_seconds:
            log(f"got {path} after waiting {waited:.1f} s")
        handle.seek(0)
        handle.truncate()
        handle.write(f"{holder}, pid {os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
