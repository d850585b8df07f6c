"""Output paths confined to the output directory, and atomic writes (temp file, fsync, rename).

A crash never leaves a half-written file under a final name: readers see the old file or the new one.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from assetgen_dagster.batches import is_valid_id

T = TypeVar("T")


class OutputPathError(ValueError):
    """A computed output path would leave the output directory."""


def batch_output_dir(output_dir: Path, batch_id: str) -> Path:
    """``<output_dir>/<batch>``, refusing a batch id that is not a plain path component."""
    if not is_valid_id(batch_id):
        raise OutputPathError(f"batch id {batch_id!r} is not a valid path component")
    return Path(output_dir).resolve() / batch_id


def item_output_path(output_dir: Path, batch_id: str, asset_key: str, item_id: str, suffix: str) -> Path:
    """``<output_dir>/<batch>/<asset_key>/<item_id><suffix>``, refusing anything that escapes ``output_dir``."""
    for label, part in (("batch id", batch_id), ("asset key", asset_key), ("item id", item_id)):
        if not is_valid_id(part):
            raise OutputPathError(f"{label} {part!r} is not a valid path component")
    root = Path(output_dir).resolve()
    path = (root / batch_id / asset_key / f"{item_id}{suffix}").resolve()
    if not path.is_relative_to(root):
        raise OutputPathError(f"{path} is outside the output directory {root}")
    return path


def _in_its_folder(path: Path, open_file: Callable[[], T]) -> T:
    """``open_file()``, creating ``path``'s folder first if it is missing (only the first file of a
    folder pays for the mkdir)."""
    try:
        return open_file()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open_file()


def atomic_write_bytes(path: Path, data: bytes) -> os.stat_result:
    """Write ``data`` to ``path`` via a temp file in the same directory, fsync, then rename; returns
    the written file's stat (size and mtime, which the rename keeps)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")  # swept by sweep_leftovers
    fd = _in_its_folder(tmp, lambda: os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            stat = os.fstat(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return stat


def sweep_leftovers(batch_dir: Path) -> int:
    """Remove the temp files and pack staging folders a killed writer left in ``batch_dir``; call it
    holding the batch's lock (no live writer then). Returns how many were removed."""
    if not batch_dir.is_dir():
        return 0
    leftovers = [*batch_dir.rglob(".*.tmp"), *(batch_dir / ".packs").glob(".*.tmp-*")]
    for path in leftovers:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return len(leftovers)


def link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` as ``target`` (a snapshot: a later atomic rewrite of the source gets a new
    inode), copying where links are impossible (another file system)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def atomic_link(source: Path, target: Path) -> os.stat_result:
    """Publish ``source`` as ``target`` in one rename (a hard link, or a copy keeping its mtime, under a
    temp name first): a reader sees the old file or the new one, never a half-copied one."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")  # swept by sweep_leftovers
    try:
        link_or_copy(source, tmp)
        os.replace(tmp, target)
    finally:
        # Gone after a rename, except where ``target`` already was ``source``'s inode: renaming one
        # hard link over another of the same file does nothing (POSIX) and leaves the temp name.
        tmp.unlink(missing_ok=True)
    return target.stat()


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_bytes(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def png_bytes(image: Any, text: dict[str, str]) -> bytes:
    """A PIL image encoded as PNG with ``text`` as iTXt chunks (provenance).

    No timestamp is written, so the same pixels and provenance give the same bytes.
    """
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in text.items():
        info.add_itxt(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, optimize=False)
    return buffer.getvalue()


def append_line(path: Path, line: str, durable: bool = True) -> None:
    """Append one line to a journal file (O(1) per record); ``durable`` fsyncs it before returning.
    A process killed mid-append leaves at most a torn last line, which readers skip."""
    with _in_its_folder(path, lambda: open(path, "ab")) as handle:
        handle.write(line.encode() + b"\n")
        handle.flush()
        if durable:
            os.fsync(handle.fileno())


def fsync_file(path: Path) -> None:
    """Make what was appended to ``path`` durable (a group commit of several appends)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
