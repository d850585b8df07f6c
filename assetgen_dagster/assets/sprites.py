"""``sprites`` (transparent, trimmed, plus a batch atlas) and ``icons`` (transparent, several sizes)."""

import time
from dataclasses import replace

import numpy as np
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assetgen_dagster import checks
from assetgen_dagster.assets.checks import result, skipped, spec
from assetgen_dagster.assets.common import MODEL_RETRY_POLICY, OWNERS, dagster_failures, image_requests
from assetgen_dagster.assets.images import (
    generate_kind,
    load_kind,
    output_path,
    run_metadata,
    write_manifest,
    write_png,
)
from assetgen_dagster.batches import Item, PromptBatch, batch_hash
from assetgen_dagster.catalog import GenerationParams
from assetgen_dagster.models import ModelLoader
from assetgen_dagster.outputs import atomic_write_json
from assetgen_dagster.partitions import prompt_batches

CODE_VERSION = "1"
SPRITES, ICONS, ATLAS = "sprites", "icons", "sprites_atlas"


def keyable_requests(batch: PromptBatch, items: list[Item], defaults: GenerationParams) -> list:
    """Requests whose prompts ask for the subject on the item's flat key background."""
    from assetgen_dagster.generate.sprites import background_prompt

    return [replace(request, prompt=background_prompt(request.prompt, item.background))
            for request, item in zip(image_requests(batch, items, defaults), items)]


@asset(
    name=SPRITES,
    partitions_def=prompt_batches,
    group_name="images_2d",
    kinds={"pytorch", "image"},
    owners=OWNERS,
    code_version=CODE_VERSION,
    retry_policy=MODEL_RETRY_POLICY,
    check_specs=[
        spec(SPRITES, "has_transparency", "Every sprite has visible and fully transparent pixels."),
        spec(SPRITES, "trimmed", "No transparent border wider than the item's margin."),
        spec(SPRITES, "not_constant", "No flat or NaN-derived image."),
    ],
    description=(
        "Transparent sprites: generated on a flat key background (item `background`), keyed out with "
        "soft, colour-unmixed edges, trimmed to the content plus `margin`. `<output_dir>/<batch>/sprites/"
        "<item>.png`, and the batch's atlas in `sprites_atlas/atlas.png` + `atlas.json` (TexturePacker "
        "JSON-hash layout)."
    ),
)
def sprites(context: AssetExecutionContext, models: ModelLoader) -> MaterializeResult:
    from assetgen_dagster.generate.sprites import EmptySpriteError, atlas_json, key_out, pack_atlas, trim

    with dagster_failures():
        batch, path, items = load_kind(context, "sprite")
        names = ("has_transparency", "trimmed", "not_constant")
        if not items:
            context.log.info(f"{path.name}: no sprite items")
            return MaterializeResult(metadata={"items": 0, "batch_hash": batch_hash(batch)},
                                     check_results=[skipped(n) for n in names])
        run = generate_kind(context, models, "sprite", CODE_VERSION, batch, items, keyable_requests)
        started = time.perf_counter()
        written, entries, sprites_by_id, keyed = [], {}, {}, {}
        for item, request, image in zip(items, run.requests, run.images, strict=True):
            try:
                sprite, box = trim(key_out(np.asarray(image.convert("RGB"))), item.margin)
            except EmptySpriteError:
                context.log.warning(f"{path.name}: item {item.id!r}: empty after keying; not written")
                keyed[item.id] = None
                continue
            provenance = run.provenance(item, request, content_box=list(box))
            out = write_png(output_path(run.batch_id, SPRITES, item.id), sprite, provenance)
            written.append(out)
            entries[item.id] = {"files": [out], "provenance": provenance}
            sprites_by_id[item.id] = keyed[item.id] = sprite
        if sprites_by_id:
            atlas, frames = pack_atlas(sprites_by_id)
            atlas_png = write_png(output_path(run.batch_id, ATLAS, "atlas"), atlas,
                                  {"batch": run.batch_id, "frames": len(frames)})
            atlas_map = output_path(run.batch_id, ATLAS, "atlas", ".json")
            atomic_write_json(atlas_map, atlas_json(frames, atlas_png.name, (atlas.shape[1], atlas.shape[0])))
            written += [atlas_png, atlas_map]
        write_manifest(run.batch_id, SPRITES, entries)
        write_seconds = time.perf_counter() - started

    from PIL import Image

    previews = [Image.fromarray(s) for s in sprites_by_id.values()] or run.images
    sprite_arrays = {k: v for k, v in keyed.items() if v is not None}
    return MaterializeResult(
        metadata={**run_metadata(run, written, previews, write_seconds, f"{run.batch_id} sprites"),
                  "sprites_written": len(sprites_by_id)},
        check_results=[
            result("has_transparency", checks.has_transparency(keyed)),
            result("trimmed", checks.trimmed(sprite_arrays, {item.id: item.margin for item in items})),
            result("not_constant", checks.not_constant(sprite_arrays)),
        ],
    )


@asset(
    name=ICONS,
    partitions_def=prompt_batches,
    group_name="images_2d",
    kinds={"pytorch", "image"},
    owners=OWNERS,
    code_version=CODE_VERSION,
    retry_policy=MODEL_RETRY_POLICY,
    check_specs=[
        spec(ICONS, "exact_sizes", "Every requested size exists and is exactly size x size."),
        spec(ICONS, "has_transparency", "Every icon has visible and fully transparent pixels."),
    ],
    description=(
        "Transparent UI icons: one generation per `icon` item, keyed out, centred on a square and "
        "downscaled (Lanczos, premultiplied alpha) to each of the item's `sizes` (default 256/128/64/32). "
        "`<output_dir>/<batch>/icons/<item>_<size>.png`."
    ),
)
def icons(context: AssetExecutionContext, models: ModelLoader) -> MaterializeResult:
    from assetgen_dagster.generate.sprites import EmptySpriteError, key_out, resize_rgba, square

    with dagster_failures():
        batch, path, items = load_kind(context, "icon")
        if not items:
            context.log.info(f"{path.name}: no icon items")
            return MaterializeResult(metadata={"items": 0, "batch_hash": batch_hash(batch)},
                                     check_results=[skipped("exact_sizes"), skipped("has_transparency")])
        run = generate_kind(context, models, "icon", CODE_VERSION, batch, items, keyable_requests)
        started = time.perf_counter()
        written, entries, by_item, largest = [], {}, {}, {}
        for item, request, image in zip(items, run.requests, run.images, strict=True):
            try:
                canvas = square(key_out(np.asarray(image.convert("RGB"))))
            except EmptySpriteError:
                context.log.warning(f"{path.name}: item {item.id!r}: empty after keying; not written")
                largest[item.id] = None
                continue
            provenance = run.provenance(item, request)
            by_item[item.id] = {size: resize_rgba(canvas, size) for size in item.sizes}
            files = [write_png(output_path(run.batch_id, ICONS, item.id, f"_{size}.png"), icon,
                               {**provenance, "icon_size": size}) for size, icon in by_item[item.id].items()]
            written += files
            entries[item.id] = {"files": files, "provenance": provenance}
            largest[item.id] = by_item[item.id][max(item.sizes)]
        write_manifest(run.batch_id, ICONS, entries)
        write_seconds = time.perf_counter() - started

    from PIL import Image

    previews = [Image.fromarray(icon) for icon in largest.values() if icon is not None] or run.images
    return MaterializeResult(
        metadata={**run_metadata(run, written, previews, write_seconds, f"{run.batch_id} icons"),
                  "icon_files": MetadataValue.int(len(written))},
        check_results=[
            result("exact_sizes", checks.exact_sizes(by_item, {item.id: item.sizes for item in items})),
            result("has_transparency", checks.has_transparency(largest)),
        ],
    )
