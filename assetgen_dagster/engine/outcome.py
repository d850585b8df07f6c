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
# Per model role in ``models``: the same keys whether the model was loaded or every item was reused.
MODEL_KEYS = ("model", "revision", "license", "pipeline", "variant", "companions", "device", "dtype", "cache_state",
              "load_seconds", "download_mb", "download_seconds", "model_mb", "memory_mode", "batch_size_used", "peak_memory_mb",
              "torch_settings")


class BatchOutcome:
    """What one asset did for one batch: the items' manifest entries, model use and timings."""

    def __init__(self, snapshot: BatchSnapshot, asset: ItemAsset, items: int, folder: Path):
        self.snapshot, self.asset = snapshot, asset
        self.items = items  # how many items of the batch the asset makes outputs for
        self.folder = folder  # where the asset keeps this batch's outputs and manifest
        self.entries: dict[str, dict[str, Any]] = {}
        self.item_objects: dict[str, Any] = {}
        self.requests: dict[str, Any] = {}
        self.roles: dict[str, str | None] = {}  # item -> the model role that makes it
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
        """An output made or reused: an item's (its entry is the item's), or one of its candidates'
        (counted; the item's entry is the picked one's, see :meth:`pick`)."""
        (self.generated if generated else self.reused).append(plan.key)
        if plan.variant is None:
            self.pick(plan, entry)

    def pick(self, plan: Any, entry: dict[str, Any]) -> None:
        """The item's entry: its own, or its picked candidate's (``plan`` is that candidate's)."""
        item_id = plan.item.id
        self.entries[item_id] = entry
        self.item_objects[item_id] = plan.item
        self.requests[item_id] = plan.request
        self.roles[item_id] = plan.model.role if plan.model is not None else None

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
        """What the UI shows for this batch's materialization: the same keys every time (generated,
        reused or with no item of the kind), so runs compare side by side."""
        files, folder = self.files, self.folder
        preview = self._preview() if self.items else None
        return {
            "items": self.items,
            "generated": len(self.generated),
            "reused": len(self.reused),
            "note": "" if self.items else f"no `{self.asset.kind}` items in this batch: nothing to make",
            "batch_hash": self.snapshot.hash[:16],
            "requested_batch_hash": (self.snapshot.requested_hash or self.snapshot.hash)[:16],
            "models": MetadataValue.json(self._models()),
            "generate_seconds": round(self.seconds.get("generate_seconds", 0.0), 3),
            "write_seconds": round(self.seconds.get("write_seconds", 0.0), 3),
            "rejected": MetadataValue.json(_bounded(self.rejected)),
            "blocked": MetadataValue.json(_bounded(self.blocked)),
            "corrupt_manifest": self.corrupt_manifest or "",
            "seeds": MetadataValue.json(_bounded(self._request_field("seed"))),
            "steps": MetadataValue.json(_bounded(self._request_field("steps"))),
            "item_stats": MetadataValue.json(_bounded({item: entry["stats"] for item, entry in self.entries.items()
                                                        if "stats" in entry})),
            # items with variants: the candidate that ships, who chose it (person, score, default) and the scores
            "candidates": MetadataValue.json(_bounded({
                item: {"pick": entry["variant"], "picked_by": entry.get("picked_by"), "scores": entry.get("scores")}
                for item, entry in self.entries.items() if "variants" in entry})),
            "outputs": MetadataValue.json([str(p) for p in files[:MAX_LISTED_ITEMS]]),
            "output_count": len(files),
            "output_dir": MetadataValue.path(str(folder)),
            "manifest": MetadataValue.path(str(folder / "manifest.json")),
            "preview": MetadataValue.md(preview or f"_{self.batch_id}: nothing to preview_"),
        }

    def _request_field(self, field: str) -> dict[str, Any]:
        return {item: getattr(request, field) for item, request in self.requests.items() if hasattr(request, field)}

    def _models(self) -> dict[str, dict[str, Any]]:
        """Each model role this batch's items came from: the model use when it was loaded, else what
        the current items' provenance says made them (not loaded: every item was current)."""
        models = {role: {key: use.get(key) for key in MODEL_KEYS} for role, use in self.model_uses.items() if role}
        for item_id, entry in self.entries.items():
            role = self.roles.get(item_id)
            record = entry.get("provenance", {})
            if role and role not in models and "model" in record:
                models[role] = {key: record.get(key) for key in MODEL_KEYS}
                models[role]["cache_state"] = "not loaded: every item was current"
        return models

    def _preview(self) -> str | None:
        """A contact sheet of the first items (generated first) and a table of every item (bounded)."""
        folder = self.manifest_path.parent if self.manifest_path else None
        if folder is None:
            return None
        pictures, labels = [], []
        # outputs are item ids or candidates' ``<item>.v<k>`` (ids have no dots): each item once, made ones first
        for item_id in dict.fromkeys(key.partition(".")[0] for key in itertools.chain(self.generated, self.reused)):
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
