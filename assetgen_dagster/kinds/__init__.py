"""The kinds of game asset: one package per kind (``kinds/<name>/``, defining ``KIND``) and the
shared pieces they are built from (``images``, ``audio``, ``text``).

Which kinds exist is decided once, at the entry point, by ``assetgen_dagster.registry`` (the
built-in kinds plus installed plugins); nothing here keeps a list or global state.
"""

from assetgen_dagster.kinds.base import Kind, KindError, ModelRole, PackTarget, TinyModel, in_folder, kind_problems

__all__ = ["Kind", "KindError", "ModelRole", "PackTarget", "TinyModel", "in_folder", "kind_problems"]
