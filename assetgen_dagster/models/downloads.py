"""Which files of a Hugging Face repo a pipeline needs, and fetching exactly those through the cache.

Only the pipeline's components (never safety_checker / feature_extractor), one precision of
safetensors weights per component, shards expanded from their index. Pickle formats are never
fetched; a component that only has pickle weights is refused.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from assetgen_dagster import settings
from assetgen_dagster.models.catalog import ModelSpec
from assetgen_dagster.models.errors import (
    ModelDownloadError,
    ModelNotCachedError,
    ModelUnavailableError,
    UnsupportedModelError,
)

SKIPPED_COMPONENTS = {"safety_checker", "feature_extractor"}
PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl", ".msgpack", ".h5", ".onnx")
SIDE_FILE_SUFFIXES = (".json", ".txt", ".model", ".tiktoken")
_SHARD = re.compile(r"-\d{5}-of-\d{5}$")

# Weight-file variants to look for, best first, for the dtype the model will run in.
VARIANT_PREFERENCE = {"float16": ["fp16", None], "bfloat16": ["bf16", None], "float32": [None, "fp16", "bf16"]}


@dataclass(frozen=True)
class FileSelection:
    """The files to fetch and the weights variant (``None`` = the plain files) they use."""

    files: list[str]
    variant: str | None


@dataclass(frozen=True)
class Snapshot:
    """A model revision present in the local cache, and what it cost to get it there."""

    path: Path
    commit: str
    variant: str | None
    cache_state: str  # "warm": already on disk; "cold": downloaded now
    download_bytes: int = 0
    download_seconds: float = 0.0
    files: list[str] = field(default_factory=list)


def weight_variant(filename: str) -> tuple[str, str | None] | None:
    """(kind, variant) of a safetensors weight or index file, or None for anything else.

    ``unet/diffusion_pytorch_model.fp16.safetensors`` -> ("weights", "fp16");
    ``model-00001-of-00002.safetensors`` -> ("weights", None);
    ``diffusion_pytorch_model.safetensors.index.fp16.json`` -> ("index", "fp16").
    """
    name = PurePosixPath(filename).name
    if name.endswith(".safetensors"):
        stem = _SHARD.sub("", name[: -len(".safetensors")])
        parts = stem.split(".")
        return ("weights", parts[-1] if len(parts) > 1 else None)
    match = re.fullmatch(r".+\.safetensors\.index(?:\.(\w+))?\.json", name)
    if match:
        return ("index", match.group(1))
    return None


def _component_folders(library: str, model_index: dict | None) -> list[str]:
    """Folders to fetch: a diffusers pipeline's components from model_index.json; for a transformers
    model, the repo root ("")."""
    if library != "diffusers":
        return [""]
    if model_index is None:
        raise UnsupportedModelError("the repo has no model_index.json, so it is not a diffusers pipeline")
    return sorted(
        name for name, value in model_index.items()
        if not name.startswith("_") and name not in SKIPPED_COMPONENTS
        and isinstance(value, list) and value[0] is not None
    )


def _in_folder(files: Iterable[str], folder: str) -> list[str]:
    return [f for f in files if str(PurePosixPath(f).parent) == (folder or ".")]


def select_files(
    repo_files: list[str],
    library: str,
    dtype: str,
    read_json: Callable[[str], dict],
) -> FileSelection:
    """Choose the files a pipeline needs from a repo's file list.

    ``read_json(name)`` returns a JSON file of the repo (model_index.json, shard indexes): remote
    or cached, the caller decides.
    """
    model_index = read_json("model_index.json") if "model_index.json" in repo_files else None
    folders = _component_folders(library, model_index)
    weights_by_folder = {}
    for folder in folders:
        local = _in_folder(repo_files, folder)
        weights = [f for f in local if weight_variant(f)]
        if not weights:
            pickles = [f for f in local if f.endswith(PICKLE_SUFFIXES)]
            if pickles:
                raise UnsupportedModelError(
                    f"component {folder or '(root)'!r} only has pickle weights ({pickles[0]}); "
                    f"only safetensors are loaded. Use a revision or repo that publishes .safetensors."
                )
        weights_by_folder[folder] = weights

    variant = _common_variant(weights_by_folder, dtype)
    files = ["model_index.json"] if model_index is not None else []
    for folder in folders:
        local = _in_folder(repo_files, folder)
        files += [f for f in local if f.endswith(SIDE_FILE_SUFFIXES) and not weight_variant(f)]
        files += _weights_of_variant(weights_by_folder[folder], variant, repo_files, read_json)
    return FileSelection(files=sorted(set(files)), variant=variant)


def _common_variant(weights_by_folder: dict[str, list[str]], dtype: str) -> str | None:
    """The best variant that every weight-bearing component has (from_pretrained takes one variant)."""
    bearing = [ws for ws in weights_by_folder.values() if ws]
    for variant in VARIANT_PREFERENCE[dtype]:
        if all(any(weight_variant(w)[1] == variant for w in ws) for ws in bearing):
            return variant
    raise UnsupportedModelError(
        "the components have no common safetensors variant (e.g. one is fp16-only, another fp32-only)"
    )


def _weights_of_variant(weights: list[str], variant: str | None, repo_files: list[str],
                        read_json: Callable[[str], dict]) -> list[str]:
    mine = [w for w in weights if weight_variant(w)[1] == variant]
    indexes = [w for w in mine if weight_variant(w)[0] == "index"]
    if not indexes:
        return mine
    selected = []
    repo = set(repo_files)
    for index in indexes:
        folder = str(PurePosixPath(index).parent)
        prefix = "" if folder == "." else folder + "/"
        shards = sorted(set(read_json(index).get("weight_map", {}).values()))
        missing = [s for s in shards if prefix + s not in repo]
        if missing:
            raise UnsupportedModelError(f"{index} references shards missing from the repo: {missing[:3]}")
        selected += [index, *(prefix + s for s in shards)]
    return selected


_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def resolve_commit(spec: ModelSpec) -> str:
    """The commit ``spec.revision`` points at, without downloading weights (see :func:`commit_of`)."""
    return commit_of(spec.repo_id, spec.revision)


def commit_of(repo_id: str, revision: str) -> str:
    """The commit ``revision`` of ``repo_id`` points at, without downloading weights.

    A 40-hex revision is already a commit; offline the local cache's refs answer; online, the hub's
    model info does.
    """
    if _COMMIT.match(revision):
        return revision
    if settings.hub_offline():
        return Path(_cached_folder(repo_id, revision)).name
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        return HfApi().model_info(repo_id, revision=revision).sha
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise ModelUnavailableError(f"{repo_id}@{revision}: {type(exc).__name__}") from exc
    except (HfHubHTTPError, OSError) as exc:
        raise ModelDownloadError(f"could not resolve {repo_id}@{revision}: {exc}") from exc


def fetch_file(repo_id: str, commit: str, filename: str) -> Path:
    """One file of ``repo_id`` at ``commit`` in the hub cache (an adapter's weights): from the cache
    when offline, downloaded into it otherwise."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    offline = settings.hub_offline()
    try:
        return Path(hf_hub_download(repo_id, filename, revision=commit, local_files_only=offline))
    except LocalEntryNotFoundError as exc:
        if offline:
            raise ModelNotCachedError(f"{repo_id}@{commit[:12]}: {filename} is not in the Hugging Face cache and the "
                                      f"hub is offline; pre-fetch it with `hf download {repo_id} {filename}`") from exc
        raise ModelDownloadError(f"could not fetch {filename} of {repo_id}@{commit[:12]}: {exc}") from exc
    except (RepositoryNotFoundError, GatedRepoError, EntryNotFoundError) as exc:
        raise ModelUnavailableError(f"{repo_id}@{commit[:12]} has no {filename}: {type(exc).__name__}") from exc
    except (HfHubHTTPError, OSError) as exc:
        raise ModelDownloadError(f"could not fetch {filename} of {repo_id}@{commit[:12]}: {exc}") from exc


def card_license(repo_id: str, commit: str) -> str:
    """The license the repo's model card (README.md front matter) declares at ``commit``, for the
    provenance of what is made with it; a card that is absent or names none says so."""
    from huggingface_hub import ModelCard

    try:
        card = ModelCard(fetch_file(repo_id, commit, "README.md").read_text(encoding="utf-8"))
    except (ModelNotCachedError, ModelUnavailableError, ModelDownloadError):
        return "unknown (no model card)"
    except (ValueError, UnicodeDecodeError):
        return "unknown (the model card cannot be read)"
    declared, name = card.data.license, card.data.to_dict().get("license_name")
    if not declared:
        return "unknown (the model card names none)"
    return f"{declared}: {name}" if declared == "other" and name else str(declared)


def fetch_snapshot(spec: ModelSpec, commit: str, dtype: str,
                   on_progress: Callable[[str], None] | None = None) -> Snapshot:
    """Make the needed files of ``spec`` at ``commit`` present in the hub cache.

    Offline (HF_HUB_OFFLINE=1, or the tiny profile), only the cache is used; a missing model fails
    at once with the command that pre-fetches it.
    """
    if settings.hub_offline():
        return _cached_snapshot(spec, commit, dtype)
    return _download_snapshot(spec, commit, dtype, on_progress)


def _cached_folder(repo_id: str, revision: str) -> str:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return snapshot_download(repo_id, revision=revision, local_files_only=True)
    except LocalEntryNotFoundError as exc:
        raise ModelNotCachedError(
            f"{repo_id}@{revision} is not in the Hugging Face cache and the hub is offline "
            f"(HF_HUB_OFFLINE=1 or ASSETGEN_PROFILE=tiny). Pre-fetch it where the hub is reachable with "
            f"`assetgen-dagster models pull` (or `hf download {repo_id} --revision {revision}`) into the "
            f"same HF_HOME; for the tiny profile, build the kit with `assetgen-dagster tiny-kit`."
        ) from exc


def _cached_snapshot(spec: ModelSpec, commit: str, dtype: str) -> Snapshot:
    folder = Path(_cached_folder(spec.repo_id, commit))
    local_files = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]
    selection = select_files(local_files, spec.library, dtype, lambda name: json.loads((folder / name).read_text()))
    missing = [f for f in selection.files if not (folder / f).exists()]
    if missing:
        raise ModelNotCachedError(f"{spec.repo_id}@{commit}: cached snapshot lacks {missing[:3]}")
    return Snapshot(folder, commit, selection.variant, "warm", files=selection.files)


def _download_snapshot(spec: ModelSpec, commit: str, dtype: str,
                       on_progress: Callable[[str], None] | None) -> Snapshot:
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download, try_to_load_from_cache
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        info = HfApi().model_info(spec.repo_id, revision=commit, files_metadata=True)
        sizes = {s.rfilename: (s.size or 0) for s in info.siblings or []}

        def read_json(name: str) -> dict:
            return json.loads(Path(hf_hub_download(spec.repo_id, name, revision=commit)).read_text())

        selection = select_files(sorted(sizes), spec.library, dtype, read_json)
        missing = [f for f in selection.files
                   if not isinstance(try_to_load_from_cache(spec.repo_id, f, revision=commit), str)]
        started = time.perf_counter()
        if missing and on_progress:
            total = sum(sizes.get(f, 0) for f in missing)
            on_progress(f"downloading {len(missing)} files ({total / 1e9:.2f} GB) of {spec.repo_id}@{commit[:12]}")
        folder = Path(snapshot_download(spec.repo_id, revision=commit, allow_patterns=selection.files))
    except (RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError) as exc:
        raise ModelUnavailableError(
            f"{spec.repo_id}@{spec.revision} cannot be fetched: {type(exc).__name__}. Check the repo id and "
            f"revision in the catalog; for a gated repo accept its terms on the hub and set HF_TOKEN."
        ) from exc
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as exc:
        raise ModelDownloadError(f"could not fetch {spec.repo_id}@{spec.revision}: {exc}") from exc
    return Snapshot(
        path=folder,
        commit=commit,
        variant=selection.variant,
        cache_state="cold" if missing else "warm",
        download_bytes=sum(sizes.get(f, 0) for f in missing),
        download_seconds=time.perf_counter() - started if missing else 0.0,
        files=selection.files,
    )
