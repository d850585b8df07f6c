"""Cross-process exclusive locks on files (``flock``): released by the kernel when the holder's
process ends, however it ends (SIGKILL included), so a crash never leaves a lock held.

Used for one writer per batch output folder (``engine/locks.py``), one model user per device
slot (``models/resource.py``) and one launch per saved batch content (``launches.py``). A waiter
says whom it waits for (the holder writes a line into the lock file) at once and then once a minute.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

REPORT_EVERY_SECONDS = 60.0


def _open(path: Path) -> IO[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # any local user's process may take it
    return os.fdopen(fd, "r+")


@contextmanager
def hold_one(paths: Sequence[Path], holder: str, log: Callable[[str], None], what: str,
             poll_seconds: float = 0.05) -> Iterator[tuple[Path, float]]:
    """Hold the first free lock of ``paths`` (slots of one resource) for the ``with`` block, waiting
    while every slot is held; yields (the slot held, seconds waited)."""
    with ExitStack() as stack:
        handles = [stack.enter_context(_open(path)) for path in paths]
        started, next_report = time.monotonic(), 0.0
        while True:
            held = next((handle for handle in handles if _try_lock(handle)), None)
            if held is not None:
                break
            waited = time.monotonic() - started
            if waited >= next_report:  # at once, then once a minute
                holders = "; ".join(_holder(handle) for handle in handles)
                log(f"waiting for {what}: held by {holders}; waited {waited:.0f} s")
                next_report = waited + REPORT_EVERY_SECONDS
            time.sleep(poll_seconds)
        waited = time.monotonic() - started
        held.seek(0)
        held.truncate()
        held.write(f"{holder}, pid {os.getpid()}\n")
        held.flush()
        try:
            yield paths[handles.index(held)], waited
        finally:
            held.seek(0)
            held.truncate()
            fcntl.flock(held.fileno(), fcntl.LOCK_UN)


def _try_lock(handle: IO[str]) -> bool:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder(handle: IO[str]) -> str:
    handle.seek(0)
    return handle.read().strip() or "unknown"
