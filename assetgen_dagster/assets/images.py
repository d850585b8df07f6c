"""What the image assets share: plan which items of a batch need (re)generating, generate them
through the model loader, write PNGs with provenance and a manifest, and report one
MaterializeResult for all the partitions of a run.

An item's identity hashes everything its output depends on (asset code version, effective
generation parameters, kind options, model repo + commit, dtype, device). If the asset's manifest
already holds that identity and its files verify (sha256), the item is reused, not regenerated.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, DataVersion, MaterializeResult, MetadataValue

from assetgen_dagster import __version__, settings
from assetgen_dagster.assets.checks import result as check_result
from assetgen_dagster.assets.common import dagster_failures, image_requests, read_partition_batch, throttled
from assetgen_dagster.batches import Item, PromptBatch, batch_hash, item_options
from assetgen_dagster.catalog import GenerationParams
from assetgen_dagster.checks import CheckOutcome, merge_outcomes
from assetgen_dagster.generate.images import ImageRequest
from assetgen_dagster.models import ModelLoader
from assetgen_dagster.outputs import atomic_write_json, item_output_path, save_png

RequestBuilder = Callable[[PromptBatch, list[Item], GenerationParams], list[ImageRequest]]
MANIFEST = "manifest"


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def output_path(batch_id: str, asset: str, name: str, suffix: str = ".png") -> Path:
    return item_output_path(settings.output_dir(), batch_id, asset, name, suffix)


def write_png(path: Path, image: Any, provenance: dict[str, Any]) -> Path:
    """Save ``image`` (PIL, or a numpy array) with provenance in an ``assetgen`` PNG text chunk."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(image)
    save_png(path, image, {"assetgen": json.dumps(provenance, sort_keys=True)})
    return path


def file_record(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def read_manifest(batch_id: str, asset: str) -> dict[str, dict[str, Any]]:
    """The asset's previous manifest entries for a batch (empty if none or unreadable)."""
    path = output_path(batch_id, asset, MANIFEST, ".json")
    try:
        return json.loads(path.read_text())["items"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def verified(entry: dict[str, Any], folder: Path) -> bool:
    """Every file of a manifest entry exists with the recorded sha256."""
    try:
        return all(file_record(folder / name)["sha256"] == record["sha256"]
                   for name, record in entry["files"].items())
    except (OSError, KeyError, TypeError):
        return False


def write_manifest(batch_id: str, asset: str, entries: dict[str, dict[str, Any]]) -> Path:
    """``<output>/<batch>/<asset>/manifest.json``: per item, identity, files (sha256, bytes), provenance."""
    path = output_path(batch_id, asset, MANIFEST, ".json")
    atomic_write_json(path, {"batch": batch_id, "asset": asset, "items": entries})
    return path


class Manifest:
    """An asset's manifest for one batch, rewritten after every finished item, so a run killed half
    way keeps what it finished: the re-run finds those items current and reuses them."""

    def __init__(self, batch_id: str, asset: str):
        self.batch_id, self.asset = batch_id, asset
        self.entries: dict[str, dict[str, Any]] = {}  # only entries known to be current

    @functools.cached_property
    def folder(self) -> Path:
        return output_path(self.batch_id, self.asset, MANIFEST, ".json").parent

    @functools.cached_property
    def previous(self) -> dict[str, dict[str, Any]]:
        """The entries the last run left, read once."""
        return read_manifest(self.batch_id, self.asset)

    def reuse(self, item_id: str, identity: str) -> dict[str, Any] | None:
        """Keep and return the item's previous entry if it has ``identity`` and its files verify."""
        old = self.previous.get(item_id)
        if old and old.get("identity") == identity and verified(old, self.folder):
            self.entries[item_id] = old
            return old
        return None

    def add(self, item_id: str, item_entry: dict[str, Any]) -> None:
        """Record an item whose files were just written, and save the manifest."""
        self.entries[item_id] = item_entry
        write_manifest(self.batch_id, self.asset, self.entries)

    def finish(self, item_ids: list[str]) -> None:
        """The final manifest: the batch's current items, in batch order."""
        self.entries = {item_id: self.entries[item_id] for item_id in item_ids if item_id in self.entries}
        write_manifest(self.batch_id, self.asset, self.entries)


@dataclass
class Plan:
    """One batch's items of a kind, which are current on disk and which must be generated."""

    batch_id: str
    asset: str
    batch: PromptBatch
    path: Path
    items: list[Item]
    requests: dict[str, ImageRequest] = field(default_factory=dict)
    identities: dict[str, str] = field(default_factory=dict)
    reused: dict[str, dict[str, Any]] = field(default_factory=dict)  # item id -> previous manifest entry
    model_identity: dict[str, str] = field(default_factory=dict)
    manifest: Manifest | None = None  # holds the reused entries; the asset adds what it writes

    @property
    def todo(self) -> list[Item]:
        return [item for item in self.items if item.id not in self.reused]


def plan_batch(models: ModelLoader, batch_id: str, asset: str, kind: str, code_version: str,
               build_requests: RequestBuilder = image_requests) -> Plan:
    """Read the batch, resolve the model (without loading it) and find the reusable items."""
    batch, path = read_partition_batch(batch_id)
    plan = Plan(batch_id, asset, batch, path, batch.items_of_kind(kind), manifest=Manifest(batch_id, asset))
    if not plan.items:
        return plan
    resolved = models.resolve(kind)
    plan.model_identity = resolved.identity()
    for item, request in zip(plan.items, build_requests(batch, plan.items, resolved.spec.params)):
        plan.requests[item.id] = request
        plan.identities[item.id] = digest({
            "asset": f"{asset}/{code_version}", "request": asdict(request), "options": item_options(item),
            **plan.model_identity,
        })
        previous = plan.manifest.reuse(item.id, plan.identities[item.id])
        if previous:
            plan.reused[item.id] = previous
    return plan


@dataclass
class Generated:
    images: dict[str, Any]
    model_metadata: dict[str, Any]
    model_provenance: dict[str, Any]
    seconds: float


def generate_todo(context: AssetExecutionContext, models: ModelLoader, kind: str, plan: Plan) -> Generated | None:
    """Generate the plan's items that are not current, through the loader and its OOM ladder."""
    from assetgen_dagster.generate.images import generate_images

    todo = plan.todo
    if not todo:
        return None
    requests = [plan.requests[item.id] for item in todo]
    progress = throttled(context.log.info)
    with models.use(kind, on_progress=context.log.info) as model:
        context.log.info(f"{plan.path.name}: generating {len(todo)} {kind} item(s) with {model.spec.repo_id}@"
                         f"{model.commit[:12]} on {model.device}/{model.dtype} ({model.cache_state}, "
                         f"{model.load_seconds:.2f} s); {len(plan.reused)} reused")
        started = time.perf_counter()
        images = model.run(lambda bs: generate_images(model.pipeline, requests, bs, progress),
                           batch_size=model.spec.params.batch_size, on_step_down=context.log.warning)
        return Generated(dict(zip((item.id for item in todo), images)), model.metadata(), model.provenance(),
                         time.perf_counter() - started)


def provenance(plan: Plan, generated: Generated, item: Item, code_version: str, **extra: Any) -> dict[str, Any]:
    """Everything needed to reproduce (and trust) one output file."""
    request = plan.requests[item.id]
    return {
        "generator": f"assetgen-dagster {__version__}",
        "code_version": f"{plan.asset}/{code_version}",
        "batch": plan.batch_id,
        "item": item.id,
        "kind": item.kind,
        "identity": plan.identities[item.id],
        **{k: v for k, v in asdict(request).items() if k != "item_id"},
        "batch_size": generated.model_metadata["batch_size_used"],
        **item_options(item),
        **generated.model_provenance,
        **extra,
    }


def entry(identity: str, files: list[Path], item_provenance: dict[str, Any]) -> dict[str, Any]:
    return {"identity": identity, "files": {p.name: file_record(p) for p in files}, "provenance": item_provenance}


@dataclass
class BatchOutcome:
    """What one partition contributed to the run's MaterializeResult."""

    batch_id: str
    items: int = 0
    generated: int = 0
    reused: int = 0
    files: list[Path] = field(default_factory=list)
    identities: list[str] = field(default_factory=list)
    checks: dict[str, CheckOutcome] = field(default_factory=dict)
    previews: list[Any] = field(default_factory=list)
    model_metadata: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def start_outcome(plan: Plan) -> BatchOutcome:
    return BatchOutcome(plan.batch_id, items=len(plan.items), reused=len(plan.reused), extra=batch_metadata(plan))


def finish_outcome(outcome: BatchOutcome, plan: Plan, generated: Generated | None, write_started: float) -> BatchOutcome:
    """Record what every image asset reports for a batch once its files are written."""
    outcome.generated = len(plan.todo)
    outcome.identities = list(plan.identities.values())
    outcome.extra.update(request_metadata(plan))
    if generated:
        outcome.model_metadata = generated.model_metadata
        outcome.seconds = {"generate_seconds": generated.seconds,
                           "write_seconds": time.perf_counter() - write_started}
    return outcome


def materialize_result(outcomes: list[BatchOutcome], check_names: tuple[str, ...], title: str) -> MaterializeResult:
    """One result for every partition of the run: totals, per-partition figures, merged checks and a
    data version derived from the item identities (it changes exactly when an output changes)."""
    from assetgen_dagster.generate.preview import preview_markdown

    total = {key: sum(getattr(o, key) for o in outcomes) for key in ("items", "generated", "reused")}
    metadata: dict[str, Any] = {**total, "partitions": len(outcomes)}
    with_model = [o for o in outcomes if o.model_metadata]
    if with_model:
        model = with_model[-1].model_metadata
        metadata.update({k: v for k, v in model.items() if k != "torch_settings"})
        metadata["torch_settings"] = MetadataValue.json(model["torch_settings"])
    for key in sorted({k for o in outcomes for k in o.seconds}):
        metadata[key] = round(sum(o.seconds.get(key, 0.0) for o in outcomes), 3)
    if len(outcomes) == 1:
        metadata.update(outcomes[0].extra)
    metadata["per_partition"] = MetadataValue.json({
        o.batch_id: {"items": o.items, "generated": o.generated, "reused": o.reused} for o in outcomes})
    files = [str(p) for o in outcomes for p in o.files]
    if files:
        metadata["outputs"] = MetadataValue.json(files)
        metadata["output_dir"] = MetadataValue.path(str(Path(files[0]).parent))
    previews = [image for o in outcomes for image in o.previews]
    if previews:
        metadata["preview"] = MetadataValue.md(preview_markdown(previews, title))
    merged = {name: merge_outcomes({o.batch_id: o.checks[name] for o in outcomes if name in o.checks})
              for name in check_names}
    identities = sorted(i for o in outcomes for i in o.identities)
    return MaterializeResult(
        metadata=metadata,
        check_results=[check_result(name, outcome) for name, outcome in merged.items()],
        data_version=DataVersion(digest(identities)[:32]),
    )


def materialize_partitions(context: AssetExecutionContext, per_batch: Callable[[str], BatchOutcome],
                           check_names: tuple[str, ...], title: str) -> MaterializeResult:
    """Run ``per_batch`` for every partition of the run (one, or a single-run backfill's range) and
    report them as one result; errors retrying cannot fix become non-retryable failures."""
    with dagster_failures():
        outcomes = [per_batch(batch_id) for batch_id in context.partition_keys]
    return materialize_result(outcomes, check_names, f"{', '.join(context.partition_keys)} {title}")


def batch_metadata(plan: Plan) -> dict[str, Any]:
    return {"batch_hash": batch_hash(plan.batch)} if plan.items else {}


def request_metadata(plan: Plan) -> dict[str, Any]:
    """Seeds and steps per item, shown in the UI for a single-partition run."""
    return {"seeds": {item.id: plan.requests[item.id].seed for item in plan.items},
            "steps": {item.id: plan.requests[item.id].steps for item in plan.items}}


def load_rgba(path: Path, mode: str = "RGBA") -> Any:
    """A written PNG back as a numpy array (checks over reused items read them from disk)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert(mode))
