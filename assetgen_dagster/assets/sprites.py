"""``sprites`` (transparent, trimmed, plus a batch atlas) and ``icons`` (transparent, several sizes)."""

import time
from dataclasses import replace

from dagster import AssetExecutionContext, MaterializeResult, asset

from assetgen_dagster import checks
from assetgen_dagster.assets.checks import spec
from assetgen_dagster.assets.common import MODEL_ASSET_ARGS, image_requests
from assetgen_dagster.assets.images import (
    BatchOutcome,
    entry,
    finish_outcome,
    generate_todo,
    load_rgba,
    materialize_partitions,
    output_path,
    plan_batch,
    provenance,
    start_outcome,
    write_png,
)
from assetgen_dagster.batches import Item, PromptBatch
from assetgen_dagster.catalog import GenerationParams
from assetgen_dagster.models import ModelLoader
from assetgen_dagster.outputs import atomic_write_json

CODE_VERSION = "1"
SPRITES, ICONS, ATLAS = "sprites", "icons", "sprites_atlas"
SPRITE_CHECKS = ("has_transparency", "trimmed", "not_constant")
ICON_CHECKS = ("exact_sizes", "has_transparency")


def keyable_requests(batch: PromptBatch, items: list[Item], defaults: GenerationParams) -> list:
    """Requests whose prompts ask for the subject on the item's flat key background."""
    from assetgen_dagster.generate.sprites import background_prompt

    return [replace(request, prompt=background_prompt(request.prompt, item.background))
            for request, item in zip(image_requests(batch, items, defaults), items)]


def sprites_batch(context: AssetExecutionContext, models: ModelLoader, batch_id: str) -> BatchOutcome:
    import numpy as np

    from assetgen_dagster.generate.sprites import EmptySpriteError, atlas_json, key_out, pack_atlas, trim

    plan = plan_batch(models, batch_id, SPRITES, "sprite", CODE_VERSION, keyable_requests)
    outcome = start_outcome(plan)
    if not plan.items:
        return outcome
    generated = generate_todo(context, models, "sprite", plan)
    manifest, keyed = plan.manifest, {}
    started = time.perf_counter()
    for item in plan.items:
        out = output_path(batch_id, SPRITES, item.id)
        if item.id in plan.reused:
            keyed[item.id] = load_rgba(out)
            continue
        try:
            sprite, box = trim(key_out(np.asarray(generated.images[item.id].convert("RGB"))), item.margin)
        except EmptySpriteError:
            context.log.warning(f"{plan.path.name}: item {item.id!r}: empty after keying; not written")
            keyed[item.id] = None
            continue
        item_provenance = provenance(plan, generated, item, CODE_VERSION, content_box=list(box))
        write_png(out, sprite, item_provenance)
        manifest.add(item.id, entry(plan.identities[item.id], [out], item_provenance))
        keyed[item.id] = sprite
        outcome.previews.append(sprite)
    written = {item_id: sprite for item_id, sprite in keyed.items() if sprite is not None}
    if written:
        atlas, frames = pack_atlas(written)
        atlas_png = write_png(output_path(batch_id, ATLAS, "atlas"), atlas, {"batch": batch_id, "frames": len(frames)})
        atlas_map = output_path(batch_id, ATLAS, "atlas", ".json")
        atomic_write_json(atlas_map, atlas_json(frames, atlas_png.name, (atlas.shape[1], atlas.shape[0])))
        outcome.files += [atlas_png, atlas_map]
    manifest.finish(list(written))
    outcome.files += [output_path(batch_id, SPRITES, item_id) for item_id in written]
    outcome.checks = {
        "has_transparency": checks.has_transparency(keyed),
        "trimmed": checks.trimmed(written, {item.id: item.margin for item in plan.items}),
        "not_constant": checks.not_constant(written),
    }
    return finish_outcome(outcome, plan, generated, started)


@asset(
    name=SPRITES,
    group_name="images_2d",
    code_version=CODE_VERSION,
    **MODEL_ASSET_ARGS,
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
    return materialize_partitions(context, lambda batch_id: sprites_batch(context, models, batch_id),
                                  SPRITE_CHECKS, "sprites")


def icons_batch(context: AssetExecutionContext, models: ModelLoader, batch_id: str) -> BatchOutcome:
    import numpy as np

    from assetgen_dagster.generate.sprites import EmptySpriteError, key_out, resize_rgba, square

    plan = plan_batch(models, batch_id, ICONS, "icon", CODE_VERSION, keyable_requests)
    outcome = start_outcome(plan)
    if not plan.items:
        return outcome
    generated = generate_todo(context, models, "icon", plan)
    manifest, by_item, largest = plan.manifest, {}, {}
    started = time.perf_counter()
    for item in plan.items:
        files = [output_path(batch_id, ICONS, item.id, f"_{size}.png") for size in item.sizes]
        if item.id in plan.reused:
            by_item[item.id] = {size: load_rgba(f) for size, f in zip(item.sizes, files)}
        else:
            try:
                canvas = square(key_out(np.asarray(generated.images[item.id].convert("RGB"))))
            except EmptySpriteError:
                context.log.warning(f"{plan.path.name}: item {item.id!r}: empty after keying; not written")
                largest[item.id] = None
                continue
            item_provenance = provenance(plan, generated, item, CODE_VERSION)
            by_item[item.id] = {size: resize_rgba(canvas, size) for size in item.sizes}
            for size, file in zip(item.sizes, files):
                write_png(file, by_item[item.id][size], {**item_provenance, "icon_size": size})
            manifest.add(item.id, entry(plan.identities[item.id], files, item_provenance))
            outcome.previews.append(by_item[item.id][max(item.sizes)])
        largest[item.id] = by_item[item.id][max(item.sizes)]
        outcome.files += files
    manifest.finish(list(by_item))
    outcome.checks = {
        "exact_sizes": checks.exact_sizes(by_item, {item.id: item.sizes for item in plan.items}),
        "has_transparency": checks.has_transparency(largest),
    }
    return finish_outcome(outcome, plan, generated, started)


@asset(
    name=ICONS,
    group_name="images_2d",
    code_version=CODE_VERSION,
    **MODEL_ASSET_ARGS,
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
    return materialize_partitions(context, lambda batch_id: icons_batch(context, models, batch_id),
                                  ICON_CHECKS, "icons")
