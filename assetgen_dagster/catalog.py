"""Model catalog: which Hugging Face model each model role uses, per profile, with user overrides.

Each kind declares its model roles (``assetgen_dagster.kinds``) with a ``default`` entry (the real
model) and a ``tiny`` one (the offline kit). ``ASSETGEN_CATALOG`` may name a YAML file mapping role
-> fields; fields it leaves out keep the active profile's values (``params`` merge key by key).
The catalog is parsed once per process and re-read only when the user file changes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assetgen_dagster import settings


class CatalogError(ValueError):
    """The catalog (built-in or user file) is invalid or has no entry for a role."""


class ModelParams(BaseModel):
    """Generation parameters every role has; roles extend it (steps, sizes, durations, tokens...)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    batch_size: Annotated[int, Field(ge=1, le=64)] = 1  # items per pipeline call


class _EntryFields(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    repo_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    revision: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]*$")] = "main"
    pipeline: str
    dtype: Literal["float32", "float16", "bfloat16"] = "float16"
    params: dict[str, Any] = {}
    license: Annotated[str, Field(min_length=1)]


@dataclass(frozen=True)
class ModelSpec:
    """One catalog entry: everything needed to load a model reproducibly and say what it is."""

    repo_id: str
    pipeline: str
    license: str
    revision: str = "main"
    dtype: str = "float16"
    params: Any = field(default_factory=ModelParams)  # the role's params model


def validate_entry(fields: dict[str, Any], params_class: type[BaseModel]) -> ModelSpec:
    """A ModelSpec from catalog fields, or ValueError naming each bad field."""
    from assetgen_dagster.models.loading import PIPELINES

    try:
        entry = _EntryFields.model_validate(fields)
    except ValidationError as exc:
        raise ValueError(_problems(exc)) from None
    if entry.pipeline not in PIPELINES:
        raise ValueError(f"field 'pipeline': {entry.pipeline!r} is not a supported pipeline "
                         f"(one of: {', '.join(PIPELINES)})")
    try:
        params = params_class.model_validate(entry.params)
    except ValidationError as exc:
        raise ValueError(_problems(exc, prefix="params.")) from None
    return ModelSpec(repo_id=entry.repo_id, revision=entry.revision, pipeline=entry.pipeline, dtype=entry.dtype,
                     params=params, license=entry.license)


def _problems(exc: ValidationError, prefix: str = "") -> str:
    return "; ".join(f"field '{prefix}{'.'.join(str(p) for p in err['loc'])}': {err['msg']}" for err in exc.errors())


@dataclass(frozen=True)
class Catalog:
    """The active catalog: a profile's entries with any user overrides applied."""

    profile: str
    entries: dict[str, ModelSpec]
    override_path: Path | None = None

    def spec(self, role: str) -> ModelSpec:
        if role not in self.entries:
            where = f" or {self.override_path}" if self.override_path else ""
            raise CatalogError(
                f"no model for role {role!r} in profile {self.profile!r}; add one to the catalog{where} "
                f"(ASSETGEN_CATALOG names a user catalog)"
            )
        return self.entries[role]


def profile_entries(profile: str) -> dict[str, dict[str, Any]]:
    """The built-in catalog fields of every registered role for ``profile``."""
    from assetgen_dagster import kinds

    if profile not in settings.PROFILES:
        raise CatalogError(f"unknown profile {profile!r}; built-in profiles: {', '.join(settings.PROFILES)}")
    if profile == "tiny":
        return {name: {"repo_id": role.tiny.repo_id, **role.tiny.entry} for name, role in kinds.roles().items()}
    return {name: dict(role.default) for name, role in kinds.roles().items()}


def load_catalog(profile: str | None = None, override_path: Path | None = None) -> Catalog:
    """The catalog for ``profile`` (default: ``ASSETGEN_PROFILE``) with ``override_path``
    (default: ``ASSETGEN_CATALOG``) applied; cached until the user file or the kinds change."""
    from assetgen_dagster import kinds

    profile = profile or settings.profile()
    override_path = override_path if override_path is not None else settings.catalog_override_path()
    try:
        stamp = override_path.stat().st_mtime_ns if override_path is not None else None
    except OSError:
        stamp = None  # reported by _read_override
    return _load_catalog(profile, override_path, stamp, kinds.generation())


@functools.lru_cache(maxsize=16)
def _load_catalog(profile: str, override_path: Path | None, _stamp: int | None, _generation: int) -> Catalog:
    from assetgen_dagster import kinds

    raw_entries = profile_entries(profile)
    if override_path is not None:
        for role, fields in _read_override(override_path, set(raw_entries)).items():
            raw_entries[role] = _merge(raw_entries.get(role), fields)
    roles = kinds.roles()
    entries = {}
    for role, fields in raw_entries.items():
        try:
            entries[role] = validate_entry(fields, roles[role].params)
        except ValueError as exc:
            raise CatalogError(f"{override_path or 'built-in catalog'}: role {role!r}: {exc}") from None
    return Catalog(profile=profile, entries=entries, override_path=override_path)


def _read_override(path: Path, roles: set[str]) -> dict[str, dict[str, Any]]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the user catalog ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: top level must map role -> fields")
    for role, fields in data.items():
        if role not in roles:
            raise CatalogError(f"{path}: unknown role {role!r}; roles are {', '.join(sorted(roles))}")
        if not isinstance(fields, dict):
            raise CatalogError(f"{path}: role {role!r} must map field -> value")
    return data


def _merge(base: dict[str, Any] | None, override: dict[str, Any]) -> dict[str, Any]:
    """Override fields onto a built-in entry. A new repo_id does not inherit the old repo's
    revision or license, which describe a different model."""
    merged = dict(base or {})
    if "repo_id" in override and override["repo_id"] != merged.get("repo_id"):
        merged.pop("revision", None)
        merged["license"] = "unknown (set `license` in your catalog)"
    for name, value in override.items():
        if name == "params" and isinstance(value, dict) and isinstance(merged.get("params"), dict):
            merged["params"] = {**merged["params"], **value}
        else:
            merged[name] = value
    return merged


def allowed_repos() -> list[str]:
    """Repos a studio may load without further review: every role's default, tiny and reviewed
    alternative repos. ASSETGEN_ALLOWED_REPOS and the resource's ``allowed_repos`` add more."""
    from assetgen_dagster import kinds

    repos = []
    for role in kinds.roles().values():
        companions = (*role.companions, *(repo for repo, _ in role.tiny.companions))
        for repo in (role.default["repo_id"], role.tiny.repo_id, *role.alternatives, *companions):
            if repo not in repos:
                repos.append(repo)
    return repos
