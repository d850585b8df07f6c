"""Model catalog: which Hugging Face model each model role uses, per profile, with user overrides.

Kinds declare their model roles (:class:`ModelRole`): the real model (``default``), the offline
stand-in (``tiny``), the library that builds it and reviewed alternatives. The registry collects them
into one :class:`ModelRoles`, which builds the active :class:`Catalog`: a profile's entries with the
overrides of a user catalog YAML (``ASSETGEN_CATALOG``) applied. Fields a user file leaves out keep
the profile's values (``params`` merge key by key). A catalog is parsed once per process and re-read
only when the user file changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assetgen_dagster.models.errors import UnsupportedModelError
from assetgen_dagster.models.loading import LIBRARIES, Library, check_pipeline
from assetgen_dagster.settings import PROFILES


class CatalogError(ValueError):
    """The catalog (built-in or user file) is invalid or has no entry for a role."""


class ModelParams(BaseModel):
    """Generation parameters every role has; roles extend it (steps, sizes, durations, tokens...)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    batch_size: Annotated[int, Field(ge=1, le=64)] = 1  # items per pipeline call


@dataclass(frozen=True)
class TinyModel:
    """The offline stand-in for a role's model: a random-weight build saved by ``build(folder)`` into
    the Hugging Face cache as ``repo_id``, and the catalog fields it runs with in the ``tiny`` profile."""

    repo_id: str
    build: Callable[[Path], None]
    entry: dict[str, Any]  # catalog fields other than repo_id: pipeline, dtype, params, license
    # Repos the model's own files name and load beside it (a TTS model's audio codec): (repo id, builder).
    companions: tuple[tuple[str, Callable[[Path], None]], ...] = ()


FULL_KIT_LICENSE = "random weights at the real architecture, built locally; measurements only"


@dataclass(frozen=True)
class FullModel:
    """A role's default model at its real architecture and size with seeded random weights, saved by
    ``build(folder)`` into the Hugging Face cache as ``repo_id`` (not the real repo's id) on demand
    (``assetgen-dagster full-kit``), never by the tests: memory and speed at real scale without the hub."""

    repo_id: str
    build: Callable[[Path], None]


@dataclass(frozen=True, eq=False)
class ModelRole:
    """One model an asset calls through the loader, named as users override it in ASSETGEN_CATALOG.

    ``library`` says what builds its pipelines: ``diffusers`` (a pipeline class, e.g.
    StableAudioPipeline) or ``transformers`` (a pipeline task, e.g. text-generation); the catalog
    entries name the class or task, which the loader's allow-list must admit."""

    name: str
    params: type[BaseModel]  # generation parameters its catalog entries accept (`params:`)
    default: dict[str, Any]  # the real model: repo_id, revision, pipeline, dtype, params, license
    tiny: TinyModel
    alternatives: tuple[str, ...] = ()  # other reviewed repos for this role, on the allow-list too
    companions: tuple[str, ...] = ()  # repos the default model loads beside it (its codec), allow-listed
    library: Library = "diffusers"
    full: FullModel | None = None  # the default model's full-size random-weight stand-in, if the kit has one

    def full_entry(self) -> dict[str, Any]:
        """The catalog fields that load the full-size stand-in in place of the default model."""
        if self.full is None:
            raise CatalogError(f"role {self.name!r} has no full-size model in the kit")
        return {**self.default, "repo_id": self.full.repo_id, "revision": "main", "license": FULL_KIT_LICENSE}

    def entry(self, profile: str) -> dict[str, Any]:
        """The built-in catalog fields of this role in ``profile``."""
        if profile == "tiny":
            return {"repo_id": self.tiny.repo_id, **self.tiny.entry}
        return dict(self.default)

    def repos(self) -> tuple[str, ...]:
        """Every repo this role may load: default, tiny, reviewed alternatives and companions."""
        companions = (*self.companions, *(repo for repo, _ in self.tiny.companions))
        return (self.default["repo_id"], self.tiny.repo_id, *self.alternatives, *companions)


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
    library: Library = "diffusers"


def validate_entry(fields: dict[str, Any], role: ModelRole) -> ModelSpec:
    """A ModelSpec for ``role`` from catalog fields, or ValueError naming each bad field."""
    try:
        entry = _EntryFields.model_validate(fields)
    except ValidationError as exc:
        raise ValueError(_problems(exc)) from None
    try:
        check_pipeline(role.library, entry.pipeline)
    except UnsupportedModelError as exc:
        raise ValueError(f"field 'pipeline': {exc}") from None
    try:
        params = role.params.model_validate(entry.params)
    except ValidationError as exc:
        raise ValueError(_problems(exc, prefix="params.")) from None
    return ModelSpec(repo_id=entry.repo_id, revision=entry.revision, pipeline=entry.pipeline, dtype=entry.dtype,
                     params=params, license=entry.license, library=role.library)


def _problems(exc: ValidationError, prefix: str = "") -> str:
    return "; ".join(f"field '{prefix}{'.'.join(str(p) for p in err['loc'])}': {err['msg']}" for err in exc.errors())


def role_problems(role: ModelRole) -> Iterator[str]:
    """What is wrong with a role's declaration (its library, its built-in entries, its tiny builder)."""
    if role.library not in LIBRARIES:
        yield f"library {role.library!r} is not one the loader builds ({', '.join(LIBRARIES)})"
        return
    if not (isinstance(role.params, type) and issubclass(role.params, BaseModel)):
        yield "params must be a pydantic model of its generation parameters"
        return
    for profile in PROFILES:
        try:
            validate_entry(role.entry(profile), role)
        except ValueError as exc:
            yield f"{profile} catalog entry: {exc}"
    if not callable(role.tiny.build):
        yield "the tiny model needs a builder"
    if role.full is not None:
        if not callable(role.full.build):
            yield "the full-size model needs a builder"
        try:
            validate_entry({**role.full_entry(), "repo_id": role.full.repo_id}, role)
        except ValueError as exc:
            yield f"full-size catalog entry: {exc}"


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


class ModelRoles(Mapping[str, ModelRole]):
    """Every model role the registered kinds declare, by name: the source of the built-in catalog
    entries, the allow-list of repos and the tiny kit. Immutable; catalogs are cached per profile and
    user file (re-read when the file changes)."""

    def __init__(self, roles: Sequence[ModelRole]):
        self._roles = {role.name: role for role in roles}
        self._catalogs: dict[tuple[str, Path | None], tuple[int | None, Catalog]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> ModelRole:
        return self._roles[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._roles)

    def __len__(self) -> int:
        return len(self._roles)

    def allowed_repos(self) -> list[str]:
        """Repos a studio may load without further review: every role's default, tiny, reviewed
        alternative and companion repos. ASSETGEN_ALLOWED_REPOS and the loader's ``allowed_repos`` add more."""
        return list(dict.fromkeys(repo for role in self._roles.values() for repo in role.repos()))

    def catalog(self, profile: str, override_path: Path | None = None) -> Catalog:
        """The catalog of ``profile`` with the user file ``override_path`` applied; cached until the file changes."""
        if profile not in PROFILES:
            raise CatalogError(f"unknown profile {profile!r}; built-in profiles: {', '.join(PROFILES)}")
        try:
            stamp = override_path.stat().st_mtime_ns if override_path is not None else None
        except OSError:
            stamp = None  # reported by _read_override
        key = (profile, override_path)
        with self._lock:
            cached = self._catalogs.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            catalog = self._build(profile, override_path)
            self._catalogs[key] = (stamp, catalog)
            return catalog

    def _build(self, profile: str, override_path: Path | None) -> Catalog:
        raw_entries = {name: role.entry(profile) for name, role in self._roles.items()}
        if override_path is not None:
            for name, fields in _read_override(override_path, set(raw_entries)).items():
                raw_entries[name] = _merge(raw_entries.get(name), fields)
        entries = {}
        for name, fields in raw_entries.items():
            try:
                entries[name] = validate_entry(fields, self._roles[name])
            except ValueError as exc:
                raise CatalogError(f"{override_path or 'built-in catalog'}: role {name!r}: {exc}") from None
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
