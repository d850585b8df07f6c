"""The model-loading resource: role -> catalog spec -> allow-list -> hub cache -> pipeline on a device."""

from assetgen_dagster.models.catalog import (
    Catalog,
    CatalogError,
    ModelParams,
    ModelRole,
    ModelRoles,
    ModelSpec,
    TinyModel,
)
from assetgen_dagster.models.errors import (
    ModelDownloadError,
    ModelError,
    ModelNotAllowedError,
    ModelNotCachedError,
    ModelOutOfMemoryError,
    ModelTooLargeError,
    ModelUnavailableError,
    UnsupportedModelError,
)
from assetgen_dagster.models.resource import LoadedModel, ModelLoader, Models

__all__ = [
    "Catalog",
    "CatalogError",
    "LoadedModel",
    "ModelDownloadError",
    "ModelError",
    "ModelLoader",
    "ModelNotAllowedError",
    "ModelNotCachedError",
    "ModelOutOfMemoryError",
    "ModelParams",
    "ModelRole",
    "ModelRoles",
    "ModelSpec",
    "ModelTooLargeError",
    "ModelUnavailableError",
    "Models",
    "TinyModel",
    "UnsupportedModelError",
]
