"""Model catalog: which Hugging Face model each asset kind uses, per profile, with user overrides.

The built-in ``catalog.yaml`` holds a ``default`` profile (real models) and a ``tiny`` profile (the
offline kit). ``ASSETGEN_CATALOG`` may name a YAML file mapping kind -> fields; fields it leaves out
keep the active profile's values (``params`` merge key by key).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assetgen_dagster import settings
from assetgen_dagster.batches import KINDS, MAX_GUIDANCE, MAX_IMAGE_SIDE, MAX_STEPS, MIN_IMAGE_SIDE

# Model roles: the item kinds plus helper models that assets use internally.
ROLES = (*KINDS, "depth")

# Pipelines the model-loading resource knows how to build: diffusers classes or transformers tasks.
SUPPORTED_PIPELINES = (
    "AutoPipelineForText2Image",
    "DiffusionPipeline",
    "StableDiffusionPipeline",
    "StableDiffusionXLPipeline",
    "FluxPipeline",
    "ShapEPipeline",
    "depth-estimation",
)


class CatalogError(ValueError):
    """The catalog (built-in or user file) is invalid or has no entry for a kind."""


class GenerationParams(BaseModel):
    """Default generation parameters of a model; a batch's own values win."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    steps: Annotated[int, Field(ge=1, le=MAX_STEPS)] = 4
    guidance: Annotated[float, Field(ge=0.0, le=MAX_GUIDANCE)] = 0.0
    width: Annotated[int, Field(ge=MIN_IMAGE_SIDE, le=MAX_IMAGE_SIDE, multiple_of=8)] = 512
    height: Annotated[int, Field(ge=MIN_IMAGE_SIDE, le=MAX_IMAGE_SIDE, multiple_of=8)] = 512
    batch_size: Annotated[int, Field(ge=1, le=64)] = 1  # prompts per pipeline call


class ModelSpec(BaseModel):
    """One catalog entry: everything needed to load a model reproducibly and say what it is."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    repo_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    revision: Annotated[str, Field(min_length=1, max_length=100)] = "main"
    pipeline: Literal[SUPPORTED_PIPELINES]  # type: ignore[valid-type]
    dtype: Literal["float32", "float16", "bfloat16"] = "float16"
    params: GenerationParams = GenerationParams()
    license: Annotated[str, Field(min_length=1)]


@dataclass(frozen=True)
class Catalog:
    """The active catalog: a profile's entries with any user overrides applied."""

    profile: str
    entries: dict[str, ModelSpec]
    override_path: Path | None = None

    def spec(self, kind: str) -> ModelSpec:
        if kind not in self.entries:
            where = f" or {self.override_path}" if self.override_path else ""
            raise CatalogError(
                f"no model for kind {kind!r} in profile {self.profile!r}; add one to the catalog{where} "
                f"(ASSETGEN_CATALOG names a user catalog)"
            )
        return self.entries[kind]


@functools.cache
def _builtin_catalog() -> dict[str, Any]:
    text = resources.files("assetgen_dagster").joinpath("catalog.yaml").read_text()
    return yaml.safe_load(text)


def builtin_catalog_data() -> dict[str, Any]:
    """The packaged catalog.yaml, parsed once per process (it is looked up on every model use)."""
    return copy.deepcopy(_builtin_catalog())


def load_catalog(profile: str | None = None, override_path: Path | None = None) -> Catalog:
    """The catalog for ``profile`` (default: ``ASSETGEN_PROFILE``) with ``override_path``
    (default: ``ASSETGEN_CATALOG``) applied."""
    profile = profile or settings.profile()
    override_path = override_path if override_path is not None else settings.catalog_override_path()
    data = builtin_catalog_data()
    if profile not in data:
        raise CatalogError(f"unknown profile {profile!r}; built-in profiles: {', '.join(data)}")
    raw_entries: dict[str, dict[str, Any]] = {k: dict(v) for k, v in data[profile].items()}
    if override_path is not None:
        for kind, fields in _read_override(override_path).items():
            raw_entries[kind] = _merge(raw_entries.get(kind), fields)
    entries = {kind: _validate(kind, fields, override_path or "built-in catalog.yaml")
               for kind, fields in raw_entries.items()}
    return Catalog(profile=profile, entries=entries, override_path=override_path)


def _read_override(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the user catalog ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: top level must map kind -> fields")
    for kind, fields in data.items():
        if kind not in ROLES:
            raise CatalogError(f"{path}: unknown kind {kind!r}; kinds are {', '.join(ROLES)}")
        if not isinstance(fields, dict):
            raise CatalogError(f"{path}: kind {kind!r} must map field -> value")
    return data


def _merge(base: dict[str, Any] | None, override: dict[str, Any]) -> dict[str, Any]:
    """Override fields onto a built-in entry. A new repo_id does not inherit the old repo's
    revision or license, which describe a different model."""
    merged = dict(base or {})
    if "repo_id" in override and override["repo_id"] != merged.get("repo_id"):
        merged.pop("revision", None)
        merged["license"] = "unknown (set `license` in your catalog)"
    for field, value in override.items():
        if field == "params" and isinstance(value, dict) and isinstance(merged.get("params"), dict):
            merged["params"] = {**merged["params"], **value}
        else:
            merged[field] = value
    return merged


def _validate(kind: str, fields: dict[str, Any], source: Path | str) -> ModelSpec:
    try:
        return ModelSpec.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"field {'.'.join(str(p) for p in err['loc'])!r}: {err['msg']}" for err in exc.errors()
        )
        raise CatalogError(f"{source}: kind {kind!r}: {problems}") from None
