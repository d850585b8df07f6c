"""The registry of asset kinds: the one place that lists them.

Everything that enumerates kinds (the batch item union, the catalog and allow-list, the tiny kit,
the asset list, the pack) asks this registry. A built-in kind is a package in this folder named in
``BUILTIN_KINDS``; a plugin (or a test) calls :func:`register` with a :class:`Kind`.

Built-in kinds are imported on first use, not at import of this module: their modules import the
engine, which imports the model loader, which reads the catalog from here.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from assetgen_dagster.kinds.base import Kind, KindError, ModelRole, PackTarget, TinyModel, in_folder, validate_kind

__all__ = ["Kind", "KindError", "ModelRole", "PackTarget", "TinyModel", "all_kinds", "get", "in_folder",
           "register", "registered", "roles", "generation", "unregister"]

# Each is a package assetgen_dagster.kinds.<name> defining KIND.
BUILTIN_KINDS = ("concept_art", "sprite", "icon", "texture", "mesh", "item_text", "dialogue", "strings",
                 "sfx", "music", "voice")

_kinds: dict[str, Kind] = {}
_lock = threading.RLock()
_state = {"loaded": False, "generation": 0}


def _load_builtins() -> None:
    with _lock:
        if _state["loaded"]:
            return
        _state["loaded"] = True
        for name in BUILTIN_KINDS:
            module = importlib.import_module(f"{__name__}.{name}")
            kind = getattr(module, "KIND", None)
            if not isinstance(kind, Kind):
                raise KindError(f"kind package {module.__name__} must define KIND = Kind(...)")
            register(kind)


def register(kind: Kind) -> Kind:
    """Add a kind after checking it is complete; its items become valid in batch files."""
    with _lock:
        _load_builtins()
        if kind.name in _kinds:
            raise KindError(f"kind {kind.name!r} is already registered")
        validate_kind(kind, roles(), {a.name for k in _kinds.values() for a in k.assets})
        _kinds[kind.name] = kind
        _state["generation"] += 1
        return kind


def unregister(name: str) -> None:
    """Remove a registered kind (plugins being reloaded, tests)."""
    with _lock:
        _kinds.pop(name)
        _state["generation"] += 1


@contextmanager
def registered(kind: Kind) -> Iterator[Kind]:
    """The kind is registered for the ``with`` block only."""
    register(kind)
    try:
        yield kind
    finally:
        unregister(kind.name)


def all_kinds() -> tuple[Kind, ...]:
    _load_builtins()
    return tuple(_kinds.values())


def get(name: str) -> Kind:
    _load_builtins()
    try:
        return _kinds[name]
    except KeyError:
        raise KindError(f"no kind {name!r}; registered kinds: {', '.join(_kinds)}") from None


def roles() -> dict[str, ModelRole]:
    """Every model role any registered kind declares, by name."""
    return {role.name: role for kind in all_kinds() for role in kind.models}


def generation() -> int:
    """Changes whenever the set of kinds changes (caches derived from the registry key on it)."""
    _load_builtins()
    return _state["generation"]
