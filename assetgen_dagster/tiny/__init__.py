"""Offline tiny model kit: random-weight models built from configs into a Hugging Face cache layout.

Every model role of every registered kind names a tiny stand-in (``ModelRole.tiny``: repo id and
builder). :func:`ensure_tiny_kit` builds the roles it is handed (the registry's) into the hub cache,
where they load by repo id through the same ``snapshot_download`` / ``from_pretrained`` path as real
models, offline. The CLI, the demo and the tests call it; the model loader knows nothing of the kit.
Outputs are noise by design. Weights are seeded, so every machine builds the same bytes.

The full-size kit (``ModelRole.full``) is built the same way, on demand only (``full-kit``): the
default models' real architectures with random weights, to measure memory and speed at real scale.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from assetgen_dagster.models.quiet import quiet_libraries

if TYPE_CHECKING:
    from assetgen_dagster.models.catalog import FullModel, ModelRole

TINY_ORG = "assetgen-tiny"

# Bump when a builder changes: the snapshot commit is derived from it, so old builds are not reused.
KIT_VERSION = "4"


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache directory, honouring HF_HUB_CACHE and HF_HOME like huggingface_hub does."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def snapshot_commit(repo_id: str) -> str:
    """A stable 40-hex 'commit' for a tiny repo, as a real hub snapshot would have."""
    return hashlib.sha1(f"{repo_id}@tiny-kit-v{KIT_VERSION}".encode()).hexdigest()


def builders(roles: Mapping[str, ModelRole]) -> dict[str, Callable[[Path], None]]:
    """The tiny repo id -> builder of every role and its companions (roles may share a model; the
    registry refuses two builders for one repo)."""
    found: dict[str, Callable[[Path], None]] = {}
    for role in roles.values():
        for repo_id, build in ((role.tiny.repo_id, role.tiny.build), *role.tiny.companions):
            known = found.setdefault(repo_id, build)
            if known is not build:
                raise ValueError(f"tiny repo {repo_id!r} has two different builders (role {role.name!r})")
    return found


def ensure_tiny_model(roles: Mapping[str, ModelRole], repo_id: str, cache_dir: Path | None = None) -> Path:
    """Build ``repo_id`` into the hub cache unless it is already there; return its snapshot folder."""
    available = builders(roles)
    if repo_id not in available:
        raise KeyError(f"{repo_id!r} is not in the tiny model kit (known: {', '.join(sorted(available))})")
    return install_snapshot(repo_id, snapshot_commit(repo_id), available[repo_id], cache_dir)


def ensure_tiny_kit(roles: Mapping[str, ModelRole], cache_dir: Path | None = None) -> list[Path]:
    """Build every role's tiny model (the demo, the CLI's ``tiny-kit`` and the test session call this)."""
    return [install_snapshot(repo, snapshot_commit(repo), build, cache_dir) for repo, build in builders(roles).items()]


def install_snapshot(repo_id: str, commit: str, build: Callable[[Path], None], cache_dir: Path | None = None) -> Path:
    """Write a model into the hub cache as ``repo_id`` at ``commit`` (``build(folder)`` saves it),
    unless that snapshot is already complete. Also used by benchmarks for locally built models.

    Idempotent and safe against a crash mid-build: the snapshot is written to a temp folder and
    renamed into place, and ``refs/main`` is written last.
    """
    cache_dir = cache_dir or hub_cache_dir()
    repo_folder = cache_dir / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo_folder / "snapshots" / commit
    ref = repo_folder / "refs" / "main"
    if snapshot.is_dir() and ref.is_file() and ref.read_text() == commit:
        return snapshot

    quiet_libraries()  # the builders import torch, diffusers and transformers
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=snapshot.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a hub cache is shared
    try:
        build(staging)
        if snapshot.exists():
            shutil.rmtree(snapshot)
        os.replace(staging, snapshot)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp_ref = ref.with_name(f".main.{os.getpid()}")
    tmp_ref.write_text(commit)  # no newline: huggingface_hub reads the file verbatim
    os.replace(tmp_ref, ref)
    return snapshot


def byte_level_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A minimal CLIP-style byte-level BPE vocabulary: the 256 byte symbols, the same with ``</w>``,
    a handful of merges and the two special tokens."""
    from tokenizers.pre_tokenizers import ByteLevel

    symbols = sorted(ByteLevel.alphabet())
    vocab: dict[str, int] = {}
    for token in symbols + [s + "</w>" for s in symbols]:
        vocab[token] = len(vocab)
    merges = [("a", "r"), ("e", "r</w>"), ("o", "n"), ("i", "n"), ("t", "h"), ("th", "e</w>")]
    for left, right in merges:
        vocab.setdefault(left + right, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab, merges


def clip_tokenizer():
    """A CLIP tokenizer over :func:`byte_level_vocab` (the pipelines pad prompts to 77 tokens)."""
    from transformers import CLIPTokenizer

    vocab, merges = byte_level_vocab()
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


FULL_KIT_VERSION = "1"


def full_commit(repo_id: str) -> str:
    """A stable 40-hex 'commit' for a full-kit repo (bumped with FULL_KIT_VERSION)."""
    return hashlib.sha1(f"{repo_id}@full-kit-v{FULL_KIT_VERSION}".encode()).hexdigest()


def full_models(roles: Mapping[str, ModelRole]) -> dict[str, FullModel]:
    """Role name -> its full-size stand-in, for the roles that have one (several may share one)."""
    return {name: role.full for name, role in roles.items() if role.full is not None}


def ensure_full_model(full: FullModel, cache_dir: Path | None = None) -> Path:
    """Build a full-size stand-in into the hub cache unless it is there; its snapshot folder."""
    return install_snapshot(full.repo_id, full_commit(full.repo_id), full.build, cache_dir)
