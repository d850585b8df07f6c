"""One launch per saved batch content: whoever launches a batch's run (the sensor, the watcher) first
claims it here, so two launchers reacting to one save never both launch.

The claim is a compare-and-swap on one record per batch, ``<output_dir>/.locks/<batch>.launched``
(the content hash of the last run launched for it, who launched it and when), read and replaced
under that batch's launch lock. A claim succeeds when the content is still the file's (a launcher
that read an older save loses to the one that read the newer) and differs from the last launched
content, so an edit lands, a revert to an earlier content lands too (its outputs were replaced
meanwhile), and saving the same content again launches nothing. With no record yet, a batch
whose latest pack was made from this content (by the demo or a CLI run) is current: recorded, not
launched. A launcher whose launch then fails withdraws its claim, so the next look launches it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from dagster import AssetKey, AssetRecordsFilter

from assetgen_dagster.batches import BatchSchema, PromptBatch, read_batch_text
from assetgen_dagster.engine.locks import locks_dir
from assetgen_dagster.locks import hold_one
from assetgen_dagster.outputs import atomic_write_bytes
from assetgen_dagster.pack import ASSET as PACK


@dataclass(frozen=True)
class Launch:
    """What the last launch of a batch was for."""

    content_hash: str
    by: str  # "sensor", "watch", or "made" (found current, launched by nobody)
    at: float


@dataclass(frozen=True)
class Claim:
    """A won claim: the launcher launches now, or withdraws it if the launch fails."""

    output_dir: Path
    batch_id: str
    launch: Launch
    previous: Launch | None

    def withdraw(self) -> None:
        """Put back the record this claim replaced (unless someone has claimed since)."""
        with _locked(self.output_dir, self.batch_id, f"withdraw by {self.launch.by}"):
            if last_launch(self.output_dir, self.batch_id) == self.launch:
                _write(self.output_dir, self.batch_id, self.previous)


def _record(output_dir: Path, batch_id: str) -> Path:
    return locks_dir(output_dir) / f"{batch_id}.launched"


@contextmanager
def _locked(output_dir: Path, batch_id: str, holder: str) -> Iterator[None]:
    lock = locks_dir(output_dir) / f"{batch_id}.launch.lock"
    with hold_one([lock], holder, lambda message: None, str(lock), poll_seconds=0.005):
        yield


def last_launch(output_dir: Path, batch_id: str) -> Launch | None:
    """The batch's last launch, or None when none was recorded (or the record is unreadable)."""
    try:
        return Launch(**json.loads(_record(output_dir, batch_id).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write(output_dir: Path, batch_id: str, launch: Launch | None) -> None:
    path = _record(output_dir, batch_id)
    if launch is None:
        path.unlink(missing_ok=True)
    else:
        atomic_write_bytes(path, json.dumps(asdict(launch), sort_keys=True).encode())


def claim_launch(output_dir: Path, batch_id: str, content_hash: str, by: str, still_read: Callable[[], bool],
                 made_from: Callable[[], str | None], always: bool = False) -> Claim | None:
    """Claim the launch of ``batch_id`` at ``content_hash`` for ``by``; None when the file was saved
    again since the claimer read it (``still_read()``, asked under the lock), when this content was
    launched last, or (with no launch recorded) when ``made_from()`` (the content hash, 16 hex, its
    latest pack was made from) says it is current. ``always``: launched whatever was launched
    before (the demo runs every batch), still recorded so that no other launcher repeats it."""
    with _locked(output_dir, batch_id, f"claim by {by}"):
        if not still_read():
            return None
        previous = last_launch(output_dir, batch_id)
        if not always and previous is not None and previous.content_hash == content_hash:
            return None
        if not always and previous is None and content_hash[:16] == made_from():
            _write(output_dir, batch_id, Launch(content_hash, "made", time.time()))
            return None
        launch = Launch(content_hash, by, time.time())
        _write(output_dir, batch_id, launch)
        return Claim(output_dir, batch_id, launch, previous)


def forget_launches(output_dir: Path, batch_id: str) -> None:
    """Drop the record of a batch whose file is gone (a file restored later is judged afresh)."""
    with _locked(output_dir, batch_id, "forget"):
        _write(output_dir, batch_id, None)


def read_batch(path: Path, schema: BatchSchema) -> tuple[PromptBatch, Callable[[], bool]]:
    """The batch in ``path``, and a test of whether the file still holds the bytes that were read
    (what a claim asks under its lock: cheap, no YAML parse). Raises BatchError as loading does."""
    text = read_batch_text(path)
    batch = schema.parse(text, path)
    read = hashlib.sha256(text.encode()).digest()

    def still_read() -> bool:
        try:
            return hashlib.sha256(path.read_bytes()).digest() == read
        except OSError:
            return False

    return batch, still_read


def packed_hash(instance, batch_id: str) -> str | None:
    """The batch content hash (16 hex) the latest pack of ``batch_id`` was made from, if any."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(PACK), asset_partitions=[batch_id]), limit=1).records
    if not records:
        return None
    value = records[0].asset_materialization.metadata.get("batch_hash")
    return getattr(value, "value", None)


