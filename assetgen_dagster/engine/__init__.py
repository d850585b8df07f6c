"""The per-item engine every kind uses: plan, reuse, generate, write, manifest, checks, outcome.

A kind declares its assets as :class:`ItemAsset` subclasses; the engine turns each into a Dagster
asset and runs it (``runner.py``). Nothing here imports torch, diffusers or numpy at import time.
"""

from assetgen_dagster.engine.checks import CheckOutcome, ItemCheck, Verdict, fail, ok, worst
from assetgen_dagster.engine.common import Blocked, ItemRejected, UpstreamMissing
from assetgen_dagster.engine.item_asset import (
    BatchContext,
    ItemAsset,
    ItemOutput,
    KindRegistry,
    Relations,
    identity_fields,
    runtime_input,
)

__all__ = [
    "BatchContext",
    "Blocked",
    "CheckOutcome",
    "ItemAsset",
    "ItemCheck",
    "ItemOutput",
    "ItemRejected",
    "KindRegistry",
    "Relations",
    "UpstreamMissing",
    "Verdict",
    "fail",
    "identity_fields",
    "ok",
    "runtime_input",
    "worst",
]
