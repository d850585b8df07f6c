"""Fixtures the kinds' tests share."""

from contextlib import contextmanager

import pytest


@pytest.fixture
def without_wrap_around(monkeypatch):
    """Image generation as it runs without the wrap-around padding patch (zero padding everywhere)."""
    from assetgen_dagster.kinds.images import generate

    @contextmanager
    def zero_padding(pipe, tile):
        yield

    monkeypatch.setattr(generate, "seamless_tiling", zero_padding)
