"""What one per-item asset did for one batch, and the metadata the UI shows for it.

Metadata stays bounded for 1,000-item batches: counts, timings, the model used, a bounded list of
items and a small preview; the full per-item record is the asset's manifest.json.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import MetadataValue

from assetgen_dagster.batches import digest
from assetgen_dagster.engine.batches import BatchSnapshot
from assetgen_dagster.engine.checks import CheckOutcome, ItemCheck, Verdict, batch_outcome
from assetgen_dagster.engine.item_asset import ItemOutput
from assetgen_dagster.engine.preview import MAX_PREVIEW_ITEMS, MAX_TABLE_ROWS, preview_markdown

if TYPE_CHECKING:
    from assetgen_dagster.engine.item_asset import ItemAsset
    from assetgen_dagster.engine.manifest import Manifest

MAX_LISTED_ITEMS = 100  # per-item lists in metadata (seeds, outputs) stop here; manifest.json has all
PROVENANCE_FIELDS = ("model", "revision", "license", "pipeline", "device", "dtype")


class BatchOutcome:
    """What one asset did for one batch: the items' manifest entries, model use and timings."""

    def __init__(self, snapshot: BatchSnapshot, asset: ItemAsset, items: int):
        self.snapshot, self.asset = snapshot, asset
        self.items = items  # how many items of the batch the asset makes outputs for
        self.entries: dict[str, dict[str, Any]] = {}
        self.item_objects: dict[str, Any] = {}
        self.requests: dict[str, Any] = {}
        self.generated: list[str] = []
        self.reused: list[str] = []
        self.blocked: dict[str, str] = {}
        self.corrupt_manifest: str | None = None
        self.model_uses: dict[str, dict[str, Any]] = {}
        self.seconds: dict[str, float] = {}
        self.batch_files: list[Path] = []
        self.manifest_path: Path | None = None

    @property
    def batch_id(self) -> str:
        return self.snapshot.batch_id

    def add(self, plan: Any, entry: dict[str, Any], generated: bool) -> None:
        item_id = plan.item.id
        self.entries[item_id] = entry
        self.item_objects[item_id] = plan.item
        self.requests[item_id] = plan.request
        (self.generated if generated else self.reused).append(item_id)

    def record_model_use(self, role: str | None, model: Any, generate_seconds: float, write_seconds: float) -> None:
        for key, value in (("generate_seconds", generate_seconds), ("write_seconds", write_seconds)):
            self.seconds[key] = self.seconds.get(key, 0.0) + value
        if model is not None:
            self.model_uses[role] = model.metadata()

    def finish(self, manifest: Manifest) -> None:
        self.manifest_path = manifest.path

    def average_bytes(self) -> int:
        """Bytes per item of what this batch holds so far (to estimate what the rest needs)."""
        sizes = [sum(f["bytes"] for f in entry["files"].values()) for entry in self.entries.values() if "files" in entry]
        return sum(sizes) // len(sizes) if sizes else 0

    @property
    def rejected(self) -> dict[str, str]:
        return {item: entry["rejected"]["reason"] for item, entry in self.entries.items() if "rejected" in entry}

    @property
    def files(self) -> list[Path]:
        folder = self.manifest_path.parent if self.manifest_path else None
        if folder is None:
            return []
        return [folder / name for entry in self.entries.values() for name in entry.get("files", {})] + self.batch_files

    def verdicts(self, check: ItemCheck) -> dict[str, Verdict]:
        """Each item's verdict for ``check``; an item the asset refused fails the check it names."""
        verdicts = {}
        for item, entry in self.entries.items():
            if "rejected" in entry:
                if entry["rejected"]["check"] == check.name:
                    verdicts[item] = Verdict(False, entry["rejected"]["reason"])
            elif check.name in entry.get("checks", {}):
                verdicts[item] = Verdict.from_json(entry["checks"][check.name])
        return verdicts

    @property
    def data_version(self) -> str:
        """Changes exactly when an output of the batch changes."""
        return digest(sorted(entry["identity"] for entry in self.entries.values()))[:32]

    def metadata(self) -> dict[str, Any]:
        """What the UI shows for this batch's materialization."""
        kind = self.asset.kind
        metadata: dict[str, Any] = {"items": self.items, "batch_hash": self.snapshot.hash[:16]}
        if not self.items:
            metadata["note"] = f"no `{kind}` items in this batch: nothing to make"
            return metadata
        metadata.update(generated=len(self.generated), reused=len(self.reused))
        if self.rejected:
            metadata["rejected"] = MetadataValue.json(_bounded(self.rejected))
        if self.blocked:
            metadata["blocked"] = MetadataValue.json(_bounded(self.blocked))
        if self.corrupt_manifest:
            metadata["corrupt_manifest"] = self.corrupt_manifest
        if self.snapshot.requested_hash:
            metadata["requested_batch_hash"] = self.snapshot.requested_hash[:16]
        metadata.update(self._model_metadata())
        for key, value in self.seconds.items():
            metadata[key] = round(value, 3)
        for field, key in (("seed", "seeds"), ("steps", "steps")):
            values = {item: getattr(request, field) for item, request in self.requests.items()
                      if hasattr(request, field)}
            if values:
                metadata[key] = MetadataValue.json(_bounded(values))
        stats = {item: entry["stats"] for item, entry in self.entries.items() if "stats" in entry}
        if stats:
            metadata["item_stats"] = MetadataValue.json(_bounded(stats))
        files = self.files
        if files:
            metadata["outputs"] = MetadataValue.json([str(p) for p in files[:MAX_LISTED_ITEMS]])
            metadata["output_count"] = len(files)
            metadata["output_dir"] = MetadataValue.path(str(self.manifest_path.parent))
            metadata["manifest"] = MetadataValue.path(str(self.manifest_path))
        preview = self._preview()
        if preview:
            metadata["preview"] = MetadataValue.md(preview)
        return metadata

    def _model_metadata(self) -> dict[str, Any]:
        if not self.model_uses:
            return self._reused_model_metadata()
        first = next(iter(self.model_uses.values()))
        metadata = {key: value for key, value in first.items() if key != "torch_settings"}
        metadata["torch_settings"] = MetadataValue.json(first["torch_settings"])
        if len(self.model_uses) > 1:
            metadata["models"] = MetadataValue.json(
                {role: {k: v for k, v in use.items() if k != "torch_settings"} for role, use in self.model_uses.items()})
        return metadata

    def _reused_model_metadata(self) -> dict[str, Any]:
        """No model was loaded (every item reused): what made the items, from their provenance."""
        made_by: dict[tuple, dict[str, Any]] = {}
        for entry in self.entries.values():
            record = entry.get("provenance", {})
            if "model" in record:
                made_by.setdefault((record["model"], record.get("revision")),
                                   {key: record[key] for key in PROVENANCE_FIELDS if key in record})
        if not made_by:
            return {}
        metadata: dict[str, Any] = {"cache_state": "not loaded: every item was current"}
        if len(made_by) == 1:
            metadata.update(next(iter(made_by.values())))
        else:
            metadata["models"] = MetadataValue.json(list(made_by.values()))
        return metadata

    def _preview(self) -> str | None:
        """A contact sheet of the first items (generated first) and a table of every item (bounded)."""
        folder = self.manifest_path.parent if self.manifest_path else None
        if folder is None:
            return None
        pictures, labels = [], []
        for item_id in itertools.chain(self.generated, self.reused):
            entry = self.entries[item_id]
            if "files" not in entry or len(pictures) >= MAX_PREVIEW_ITEMS:
                continue
            picture = self.asset.preview(ItemOutput(folder, item_id, entry["provenance"], entry["files"]),
                                         self.item_objects[item_id])
            if picture is not None:
                pictures.append(picture)
                labels.append(item_id)
        if not pictures:
            return None
        rows = [self._table_row(item_id) for item_id in itertools.islice(self.entries, MAX_TABLE_ROWS)]
        return preview_markdown(pictures, labels, f"{self.batch_id}: {self.asset.title or self.asset.name}",
                                rows, more=max(0, len(self.entries) - MAX_TABLE_ROWS))

    def _table_row(self, item_id: str) -> list[str]:
        entry, item = self.entries[item_id], self.item_objects[item_id]
        seed = getattr(self.requests.get(item_id), "seed", None)
        prompt = item.brief()
        if "rejected" in entry:
            status = f"refused: {entry['rejected']['reason']}"
        else:
            failed = [f"{name}: {v.get('message')}" for name, v in entry.get("checks", {}).items() if not v["passed"]]
            status = "; ".join(failed) if failed else ("all pass" if entry.get("checks") else "-")
        return [item_id, "-" if seed is None else str(seed), prompt[:60] + ("..." if len(prompt) > 60 else ""), status]

    def check_outcomes(self) -> dict[str, CheckOutcome]:
        return {check.name: batch_outcome(check, self.verdicts(check)) for check in self.asset.checks}


def _bounded(values: dict[str, Any]) -> dict[str, Any]:
    if len(values) <= MAX_LISTED_ITEMS:
        return values
    shown = dict(itertools.islice(values.items(), MAX_LISTED_ITEMS))
    shown["..."] = f"{len(values) - MAX_LISTED_ITEMS} more in manifest.json"
    return shown
