"""The model-loading resource: catalog spec -> allow-list -> hub cache -> pipeline on a device."""

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
from assetgen_dagster.models.resource import LoadedModel, ModelLoader

__all__ = [
    "LoadedModel",
    "ModelDownloadError",
    "ModelError",
    "ModelLoader",
    "ModelNotAllowedError",
    "ModelNotCachedError",
    "ModelOutOfMemoryError",
    "ModelTooLargeError",
    "ModelUnavailableError",
    "UnsupportedModelError",
]
