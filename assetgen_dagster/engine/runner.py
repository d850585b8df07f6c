"""The per-item engine: plan, reuse, generate, write, record, check, for every per-item asset.

For each batch (partition) of a run:
1. plan: one request per item of the asset's kind; its identity hashes the asset's code version,
   the request and the resolved model (repo, commit, dtype, device). An item whose manifest entry
   has that identity and intact files is reused;
2. generate the rest through the model loader (one load per role per process, the OOM ladder,
   pipeline batches), writing each item as soon as its chunk is done and appending it to the
   manifest journal, so a killed run loses at most the chunk in flight;
3. check each written item (verdicts stored in the manifest and reused with the item);
4. write batch-level files if an item changed, compact the manifest, report.

A batch that fails does not stop the others (``engine/report.py``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from dagster import AssetExecutionContext

from assetgen_dagster import __version__
from assetgen_dagster.batches import digest, item_options, item_variants, variant_seed
from assetgen_dagster.engine.batches import BatchSnapshot
from assetgen_dagster.engine.common import (
    DISK_FULL_ERRNOS,
    Blocked,
    ItemRejected,
    UpstreamMissing,
    disk_full,
    throttled,
)
from assetgen_dagster.engine.item_asset import (
    VARIANTS_FOLDER,
    BatchContext,
    ItemAsset,
    ItemOutput,
    KindRegistry,
    asset_folder,
    identity_fields,
    variant_key,
)
from assetgen_dagster.engine.manifest import Manifest, files_verify
from assetgen_dagster.engine.outcome import BatchOutcome
from assetgen_dagster.engine.report import materialize_batches
from assetgen_dagster.models import ModelLoader, Models
from assetgen_dagster.models.resource import ResolvedModel
from assetgen_dagster.outputs import atomic_link
from assetgen_dagster.settings import ProjectSettings


@dataclass
class Plan:
    """One item (or one candidate of an item) to make: its request, identity and the model that makes it."""

    item: Any  # for a candidate: the item with the candidate's seed
    request: Any
    identity: str
    model: ResolvedModel | None
    fields: dict[str, Any]  # the request as JSON-able fields (hashed into the identity, and provenance)
    variant: int | None = None  # which candidate (items with ``variants`` > 1), None for a plain item

    @property
    def key(self) -> str:
        """Its manifest key: the item id, or ``<item>.v<k>`` for a candidate."""
        return self.item.id if self.variant is None else variant_key(self.item.id, self.variant)


class StepDevices:
    """The devices a step's model work holds: each claimed (across processes, see
    ``ModelLoader.claim_device``) when the step first uses a model on it, released when the step ends."""

    def __init__(self, loader: ModelLoader | None, stack: ExitStack, holder: str, log: Callable[[str], None]):
        self._loader, self._stack, self._holder, self._log = loader, stack, holder, log
        self._held: set[str] = set()

    def claim(self, device: str) -> None:
        if device not in self._held and self._loader is not None:
            self._stack.enter_context(self._loader.claim_device(device, self._holder, self._log))
            self._held.add(device)


def materialize(asset: ItemAsset, registry: KindRegistry, context: AssetExecutionContext, project: ProjectSettings,
                loader: ModelLoader | None) -> Iterator[Any]:
    """The asset over every partition of the run, reported per batch (see ``engine/report.py``)."""
    output_dir = project.outputs()
    models = loader.bind(registry.roles, project.model_profile()) if loader is not None else None
    with ExitStack() as held:
        devices = StepDevices(loader, held, f"run {context.run.run_id} ({asset.name})", context.log.info)
        yield from materialize_batches(
            context, asset.name, asset.code_version, [check.name for check in asset.checks], project.prompts(),
            output_dir, registry.schema,
            lambda snapshot: run_batch(asset, context, BatchContext(snapshot, output_dir, registry, models), devices))


def run_batch(asset: ItemAsset, context: AssetExecutionContext, ctx: BatchContext, devices: StepDevices) -> BatchOutcome:
    """Make ``asset`` current for the batch of ``ctx``; return what it did."""
    snapshot, models, output_dir = ctx.snapshot, ctx.models, ctx.output_dir
    items = [item for kind in ctx.registry.item_kinds(asset.name) for item in snapshot.batch.items_of_kind(kind)
             if asset.takes(item)]
    folder = asset_folder(output_dir, snapshot.batch_id, asset.name)
    outcome = BatchOutcome(snapshot, asset, len(items), folder)
    if not items:
        return outcome
    manifest = Manifest(folder, snapshot.batch_id, asset.name)
    if manifest.corrupt:
        context.log.warning(manifest.corrupt)
        outcome.corrupt_manifest = manifest.corrupt

    ctx.share(manifest)  # items made from another item's output read it through this manifest
    candidates: dict[str, list[Plan]] = {}  # item id -> its candidates' plans (items with variants)
    todo_count, noted = 0, False
    waves = item_waves(asset, items)  # an item made from another's output waits for it
    try:
        for index, wave in enumerate(waves):
            todo = _plan_wave(asset, ctx, manifest, wave, candidates, outcome)
            if index == 0:
                _check_later_waves(asset, ctx, waves[1:])  # their bad input is refused before any model loads
            todo_count += sum(len(plans) for plans in todo.values())
            for plans in todo.values():
                if plans[0].model is not None:
                    devices.claim(plans[0].model.device)
                _generate(asset, context, models, manifest, snapshot, plans, outcome)
            wave_candidates = {item.id: candidates[item.id] for item in wave if item.id in candidates}
            for note in snapshot.picks.notes if wave_candidates and not noted else ():
                context.log.warning(note)
            noted = noted or bool(wave_candidates)
            if asset.scorer and wave_candidates:
                _score_candidates(asset, context, models, manifest,
                                  [p for plans in wave_candidates.values() for p in plans], devices)
            for item_id, plans in wave_candidates.items():
                _publish_pick(manifest, plans, snapshot.picks.pick(item_id), outcome)
        _verdicts_for_reused(asset, manifest, items, outcome)
        batch_entry = _batch_files(asset, ctx, manifest, items, outcome)
        keys = [key for item in items for key in [*(plan.key for plan in candidates.get(item.id, [])), item.id]]
        manifest.compact(keys, batch_entry)
    except OSError as exc:
        if exc.errno not in DISK_FULL_ERRNOS:
            raise
        left = todo_count - len(outcome.generated)
        raise disk_full(exc, output_dir, f"{asset.name} for batch {snapshot.batch_id!r} ({left} items to go)",
                        outcome.average_bytes() * max(left, 1)) from exc
    outcome.finish(manifest)
    return outcome


def item_waves(asset: ItemAsset, items: list[Any]) -> list[list[Any]]:
    """``items`` in waves, in file order within each: an item whose request reads other items'
    outputs (``asset.sources``) comes in a wave after theirs. A source that is not among ``items``
    is not waited for (the request says what is missing); a cycle is refused (batch validation
    refuses it first, naming the items)."""
    by_id = {item.id: item for item in items}
    level: dict[str, int] = {}

    def depth(item: Any, path: tuple[str, ...]) -> int:
        if item.id in path:
            raise ValueError(f"items made from each other's outputs form a cycle: {' -> '.join((*path, item.id))}")
        if item.id not in level:
            sources = [by_id[source] for source in asset.sources(item) if source in by_id]
            level[item.id] = 1 + max((depth(source, (*path, item.id)) for source in sources), default=-1)
        return level[item.id]

    waves: list[list[Any]] = []
    for item in items:
        index = depth(item, ())
        waves.extend([] for _ in range(index + 1 - len(waves)))
        waves[index].append(item)
    return waves


def _check_later_waves(asset: ItemAsset, ctx: BatchContext, waves: list[list[Any]]) -> None:
    """Build the requests of the items in ``waves`` only to raise their bad input (a BatchError); that
    their sources' outputs are not made yet is expected here (each item's own wave plans it again)."""
    for item in (item for wave in waves for item in wave):
        try:
            asset.request(ctx, item)
        except (UpstreamMissing, Blocked):
            pass


def _plan_wave(asset: ItemAsset, ctx: BatchContext, manifest: Manifest, wave: list[Any],
               candidates: dict[str, list[Plan]], outcome: BatchOutcome) -> dict[str | None, list[Plan]]:
    """Plan one wave's items: reuse the current ones (recorded in ``outcome``), collect their
    candidates' plans in ``candidates``, and return the rest per model role. An item made from a
    blocked item's output is blocked too."""
    todo: dict[str | None, list[Plan]] = {}
    missing: list[str] = []
    for item in wave:
        blocked = [source for source in asset.sources(item) if source in outcome.blocked]
        if blocked:
            outcome.blocked[item.id] = f"made from {blocked[0]!r}, which was not made: {outcome.blocked[blocked[0]]}"
            continue
        count = item_variants(ctx.batch, item) if asset.varies(item) else 1
        try:
            plans = [_plan(asset, ctx, item, variant) for variant in (range(count) if count > 1 else [None])]
        except Blocked as exc:
            outcome.blocked[item.id] = str(exc)
            continue
        except UpstreamMissing as exc:
            missing.append(str(exc))
            continue
        if count > 1:
            candidates[item.id] = plans
        for plan in plans:
            entry = manifest.current(plan.key, plan.identity)
            if entry is None:
                todo.setdefault(asset.role(item), []).append(plan)
            else:
                outcome.add(plan, entry, generated=False)
    if missing:
        raise UpstreamMissing("\n".join(missing))
    return todo


def _plan(asset: ItemAsset, ctx: BatchContext, item: Any, variant: int | None) -> Plan:
    """The plan of an item, or of its candidate ``variant``: the same item with the candidate's seed
    (derived from the item's, the variant and its re-rolls). Raises what ``asset.request`` raises."""
    subject = item if variant is None else item.model_copy(update={
        "seed": variant_seed(ctx.seed(item), variant, ctx.snapshot.picks.rerolls(item.id, variant))})
    request = asset.request(ctx, subject)
    role = asset.role(item)
    resolved = ctx.models.resolve(role) if role else None
    fields = identity_fields(request)
    identity = digest({"asset": f"{asset.name}/{asset.code_version}", "request": fields,
                       "model": resolved.identity() if resolved else None})
    return Plan(subject, request, identity, resolved, fields, variant)


def _generate(asset: ItemAsset, context: AssetExecutionContext, models: Models | None, manifest: Manifest,
              snapshot: BatchSnapshot, plans: list[Plan], outcome: BatchOutcome) -> None:
    """Generate ``plans`` (all for one model role) chunk by chunk. A writer thread writes, checks and
    records each chunk while the model generates the next one (the model call releases the GIL),
    so file encoding and fsyncs overlap generation; items are recorded in order, each only after its
    files have their final names, and at most one chunk waits to be written."""
    resolved = plans[0].model
    progress = throttled(context.log.info)
    with ExitStack() as stack:
        adapters = asset.adapter_files([plan.request for plan in plans]) if resolved else ()
        model = stack.enter_context(models.use(resolved, on_progress=context.log.info, adapters=adapters)) \
            if resolved else None
        writer = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="assetgen-writer"))
        if model is not None:
            context.log.info(f"{snapshot.path.name}: {asset.name}: generating {len(plans)} item(s) with "
                             f"{model.spec.repo_id}@{model.commit[:12]} on {model.device}/{model.dtype} "
                             f"({model.cache_state}, {model.load_seconds:.2f} s)")
        size = model.spec.params.batch_size if model is not None else 1
        queue = deque(asset.chunks([plan.request for plan in plans], size))
        timing = {"generate": 0.0, "write": 0.0, "done": 0}
        written: deque[Future] = deque()

        def write_chunk(chunk: list[tuple[Plan, Any]], made_by: dict[str, Any] | None) -> None:
            started = time.perf_counter()
            for plan, raw in chunk:
                _write(asset, manifest, snapshot, plan, raw, made_by, outcome)
            manifest.sync()  # one fsync of the journal per chunk
            timing["write"] += time.perf_counter() - started
            timing["done"] += len(chunk)
            progress(f"{snapshot.path.name}: {asset.name}: {timing['done']}/{len(plans)} items written")

        while queue:
            chunk = queue.popleft()
            started = time.perf_counter()
            if model is not None:
                def call(batch_size: int, chunk: list[int] = chunk) -> tuple[list[int], list[Any]]:
                    part = chunk[:batch_size]
                    return part, asset.generate(model, [plans[i].request for i in part])

                part, raws = model.run(call, size, on_step_down=context.log.warning)
            else:
                part, raws = chunk, asset.generate(None, [plans[i].request for i in chunk])
            timing["generate"] += time.perf_counter() - started
            made_by = {**model.provenance(), "batch_size": model.batch_size_used} if model is not None else None
            written.append(writer.submit(write_chunk, [(plans[i], raw) for i, raw in zip(part, raws, strict=True)],
                                         made_by))
            while len(written) > 1 or (written and written[0].done()):
                written.popleft().result()  # re-raises a write error (e.g. disk full) here
            if model is not None and model.batch_size_used is not None and model.batch_size_used < size:
                size = model.batch_size_used  # the ladder stepped down: re-chunk what is left
                left = chunk[len(part):] + [i for rest in queue for i in rest]
                queue = deque([[left[j] for j in c] for c in asset.chunks([plans[i].request for i in left], size)])
        while written:
            written.popleft().result()
        outcome.record_model_use(resolved.role if resolved else None, model, timing["generate"], timing["write"])


def provenance(asset: ItemAsset, snapshot: BatchSnapshot, plan: Plan, made_by: dict[str, Any] | None) -> dict[str, Any]:
    """Everything needed to reproduce (and trust) one item's files; ``made_by`` is the model's
    provenance and the pipeline batch size the item was generated with."""
    return {
        "generator": f"assetgen-dagster {__version__}",
        "code_version": f"{asset.name}/{asset.code_version}",
        "batch": snapshot.batch_id,
        "item": plan.item.id,
        "kind": plan.item.kind,
        "identity": plan.identity,
        **plan.fields,
        **item_options(plan.item),
        **({"variant": plan.variant} if plan.variant is not None else {}),
        **(made_by or {}),
    }


def _write(asset: ItemAsset, manifest: Manifest, snapshot: BatchSnapshot, plan: Plan, raw: Any,
           made_by: dict[str, Any] | None, outcome: BatchOutcome) -> None:
    item = plan.item
    out = ItemOutput(manifest.folder, item.id, provenance(asset, snapshot, plan, made_by), variant=plan.variant)
    try:
        artifact = asset.write(out, item, plan.request, raw)
    except ItemRejected as exc:
        entry = {"identity": plan.identity, "rejected": {"check": exc.check, "reason": exc.reason},
                 "provenance": out.provenance}
    else:
        entry = {"identity": plan.identity, "files": out.records,
                 "provenance": out.provenance, "checks": _run_checks(asset, item, artifact)}
        stats = asset.stats(item, artifact)
        if stats is not None:
            entry["stats"] = stats
    manifest.record(plan.key, entry, durable=False)
    outcome.add(plan, entry, generated=True)


def _score_candidates(asset: ItemAsset, context: AssetExecutionContext, models: Models, manifest: Manifest,
                      plans: list[Plan], devices: StepDevices) -> None:
    """Score the candidates that have no score yet (new ones) with the asset's scorer role, in batches
    of its ``batch_size``, and record the score in each candidate's entry. The scorer is loaded only
    when there is something to score (a new pick loads nothing)."""
    unscored = [(plan, entry) for plan in plans
                if "files" in (entry := manifest.entry(plan.key) or {}) and "score" not in entry]
    if not unscored:
        return
    resolved = models.resolve(asset.scorer)
    devices.claim(resolved.device)
    with models.use(resolved, on_progress=context.log.info) as model:
        size = model.spec.params.batch_size
        for start in range(0, len(unscored), size):
            part = unscored[start:start + size]
            outputs = [(plan.item, ItemOutput(manifest.folder, plan.item.id, entry["provenance"], entry["files"]))
                       for plan, entry in part]
            for (plan, entry), score in zip(part, asset.score(model, outputs), strict=True):
                manifest.record(plan.key, {**entry, "score": score, "scored_by": f"{model.spec.repo_id}@{model.commit}"})
    context.log.info(f"{asset.name}: scored {len(unscored)} candidate(s) with {resolved.role} "
                     f"({model.spec.repo_id}@{model.commit[:12]})")


def _default_pick(scores: list[float | None]) -> int:
    """The best scored candidate (the first of equals), or variant 0 unless every one has a score."""
    if None in scores:
        return 0
    return max(range(len(scores)), key=lambda index: (scores[index], -index))


def _publish_pick(manifest: Manifest, plans: list[Plan], chosen_pick: int | None, outcome: BatchOutcome) -> None:
    """Make the picked candidate (the person's, else the default) the item's output: its files linked
    under the item's own names (``variants/lamp.v2.png`` -> ``lamp.png``, atomically), and the item's
    entry (what derived assets, the pack and the review page read) a copy of the candidate's. Its
    identity covers every candidate and the pick, so a new pick or a re-roll is a new version of the
    item; the model makes nothing here."""
    scored = [(manifest.entry(plan.key) or {}).get("score") for plan in plans]
    pick = _default_pick(scored) if chosen_pick is None else chosen_pick
    chosen = plans[pick]
    item_id = chosen.item.id
    scores = {str(plan.variant): score for plan, score in zip(plans, scored, strict=True)}
    by = "person" if chosen_pick is not None else "score" if None not in scored else "default"
    identity = digest({"candidates": [plan.identity for plan in plans], "pick": pick, "by": by, "scores": scores})
    entry = manifest.current(item_id, identity)
    if entry is None:
        picked = manifest.entry(chosen.key)
        entry = {key: value for key, value in picked.items() if key != "files"}
        entry.update(identity=identity, variant=pick, picked_by=by, scores=scores,
                     variants={str(plan.variant): plan.key for plan in plans})
        if "files" in picked:
            prefix = f"{VARIANTS_FOLDER}/{chosen.key}"
            entry["files"] = {}
            for name, record in picked["files"].items():
                own = item_id + name[len(prefix):]
                stat = atomic_link(manifest.folder / name, manifest.folder / own)
                entry["files"][own] = {**record, "mtime_ns": stat.st_mtime_ns}
            previous = manifest.entry(item_id) or {}
            for stale in set(previous.get("files", {})) - set(entry["files"]):
                (manifest.folder / stale).unlink(missing_ok=True)
        manifest.record(item_id, entry)
    current = {plan.key for plan in plans}
    for key in [key for key in manifest.entries if key.startswith(f"{item_id}.v") and key not in current]:
        for name in manifest.entries[key].get("files", {}):  # candidates beyond a lowered count
            (manifest.folder / name).unlink(missing_ok=True)
    outcome.pick(chosen, entry)


def _run_checks(asset: ItemAsset, item: Any, artifact: Any) -> dict[str, dict[str, Any]]:
    return {check.name: {**check.check(item, artifact).to_json(), "blocking": check.blocking}
            for check in asset.checks}


def _verdicts_for_reused(asset: ItemAsset, manifest: Manifest, items: list[Any], outcome: BatchOutcome) -> None:
    """A reused item whose entry lacks a verdict (a check added since) is loaded and checked once."""
    for item in items:
        entry = manifest.entry(item.id)
        if item.id not in outcome.reused or "rejected" in entry:
            continue
        stored = entry.get("checks", {})
        if all(check.name in stored for check in asset.checks):
            continue
        artifact = asset.load(ItemOutput(manifest.folder, item.id, entry["provenance"], entry["files"]), item)
        entry = {**entry, "checks": {**stored, **_run_checks(asset, item, artifact)}}
        manifest.record(item.id, entry)
        outcome.entries[item.id] = entry


def _batch_files(asset: ItemAsset, ctx: BatchContext, manifest: Manifest, items: list[Any],
                 outcome: BatchOutcome) -> dict[str, Any] | None:
    """Batch-level files (e.g. an atlas), rebuilt only when an item's identity changed."""
    if asset.batch_files is None:
        return None
    written = [(item, outcome.entries[item.id]) for item in items
               if item.id in outcome.entries and "files" in outcome.entries[item.id]]
    identity = digest({"asset": f"{asset.name}/{asset.code_version}",
                       "items": [(item.id, entry["identity"]) for item, entry in written]})
    folder_name, stem = asset.batch_files
    folder = asset_folder(ctx.output_dir, ctx.batch_id, folder_name)
    previous = manifest.batch_entry
    if previous and previous.get("identity") == identity and files_verify(previous, folder):
        outcome.batch_files = [folder / name for name in previous["files"]]
        return previous
    if not written:
        return None
    out = ItemOutput(folder, stem, {"batch": ctx.batch_id, "identity": identity,
                                    "code_version": f"{asset.name}/{asset.code_version}"})
    asset.batch_output(ctx, out, [(item, ItemOutput(manifest.folder, item.id, entry["provenance"], entry["files"]))
                                  for item, entry in written])
    outcome.batch_files = list(out.written)
    return {"identity": identity, "folder": folder_name, "files": out.records}
