"""Per-batch metadata stays bounded for 1,000-item batches (the full record is the manifest)."""

import json
from pathlib import Path

from assetgen_dagster.batches import batch_hash
from assetgen_dagster.engine.batches import BatchSnapshot
from assetgen_dagster.engine.outcome import MAX_LISTED_ITEMS, BatchOutcome
from assetgen_dagster.engine.runner import Plan
from assetgen_dagster.kinds import texture
from assetgen_dagster.kinds.images.generate import ImageRequest

from ..conftest import parse_batch


def outcome_of(count: int) -> BatchOutcome:
    batch = parse_batch("items:\n" + "".join(f"  - {{id: t{n}, kind: texture, prompt: 'tile {n}'}}\n"
                                             for n in range(count)))
    snapshot = BatchSnapshot("big", None, batch, batch_hash(batch))
    outcome = BatchOutcome(snapshot, texture.Textures(), count, Path("/outputs/big/textures"))
    for n, item in enumerate(batch.items):
        failing = n % 3 == 0
        checks = {"tileable": {"passed": not failing, "message": "x seam ratio 2.1 > 1.5" if failing else "",
                               "figures": {"seam_ratio": 2.1 if failing else 1.0}, "blocking": True}}
        entry = {"identity": f"{n:064d}", "files": {f"t{n}.png": {"sha256": "0" * 64, "bytes": 12_000}},
                 "provenance": {"prompt": item.prompt}, "checks": checks, "stats": {"size": "64x64"}}
        outcome.add(Plan(item, ImageRequest(item.prompt, n, 2, 0.0, 64, 64, tile="both"), f"identity{n}", None, {}), entry,
                    generated=n % 2 == 0)
    return outcome


def size_of(metadata: dict) -> int:
    return len(json.dumps({k: getattr(v, "value", v) for k, v in metadata.items()}, default=str))


def test_metadata_and_check_results_stay_bounded_as_batches_grow():
    small, large = outcome_of(100), outcome_of(1000)
    assert large.metadata()["items"] == 1000 and large.metadata()["generated"] == 500
    seeds = large.metadata()["seeds"].value
    assert len(seeds) == MAX_LISTED_ITEMS + 1 and "900 more in manifest.json" in seeds["..."]
    assert size_of(large.metadata()) < 1.2 * size_of(small.metadata()) < 30_000
    tileable = large.check_outcomes()["tileable"]
    assert not tileable.passed and tileable.metadata["items_failed"] == 334
    assert len(tileable.metadata["failures"]) == 20 and tileable.metadata["max_seam_ratio"] == 2.1
    assert len(tileable.description) < 2_000 and "and 314 more" in tileable.description
