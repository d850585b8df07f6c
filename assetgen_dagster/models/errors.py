"""Errors of the model-loading resource. ``retryable`` says whether trying again can help."""

from __future__ import annotations


class ModelError(Exception):
    """Base class; non-retryable unless a subclass says otherwise."""

    retryable = False


class ModelNotAllowedError(ModelError):
    """The repo id is not on the allow-list."""


class ModelNotCachedError(ModelError):
    """Offline (HF_HUB_OFFLINE=1) and the model is not in the local Hugging Face cache."""


class ModelUnavailableError(ModelError):
    """The hub says the repo or revision does not exist or is gated: retrying will not help."""


class UnsupportedModelError(ModelError):
    """The catalog asks for a pipeline or weight format this resource will not load."""


class ModelDownloadError(ModelError):
    """A network or hub fault while fetching weights: transient, worth retrying with backoff."""

    retryable = True


class ModelTooLargeError(ModelError):
    """The model plus its working memory can never fit the memory budget: fail before loading."""


class ModelOutOfMemoryError(ModelError):
    """Out of memory even at the bottom of the memory ladder."""
