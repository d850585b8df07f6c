"""``textures`` (seamless, power-of-two) and ``pbr_maps`` (height, normal, roughness, AO) per batch."""

import time
from dataclasses import replace

from dagster import AssetExecutionContext, AutomationCondition, BackfillPolicy, Failure, MaterializeResult, asset

from assetgen_dagster import checks
from assetgen_dagster.assets.checks import spec
from assetgen_dagster.assets.common import MODEL_ASSET_ARGS, OWNERS, image_requests
from assetgen_dagster.assets.images import (
    BatchOutcome,
    Manifest,
    digest,
    entry,
    finish_outcome,
    file_record,
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
from assetgen_dagster.partitions import prompt_batches

KIND = "texture"
TEXTURES, PBR_MAPS = "textures", "pbr_maps"
CODE_VERSION = "1"
MAP_NAMES = ("height", "normal", "roughness", "ao")
TEXTURE_CHECKS = ("tileable", "power_of_two", "not_constant")
PBR_CHECKS = ("normals_unit_length", "maps_tile", "not_constant")


def texture_requests(batch: PromptBatch, items: list[Item], defaults: GenerationParams) -> list:
    """Image requests that generate with wrap-around padding on each item's ``tile`` axes."""
    return [replace(request, tile=item.tile) for request, item in zip(image_requests(batch, items, defaults), items)]


def textures_batch(context: AssetExecutionContext, models: ModelLoader, batch_id: str) -> BatchOutcome:
    import numpy as np

    plan = plan_batch(models, batch_id, TEXTURES, KIND, CODE_VERSION, texture_requests)
    outcome = start_outcome(plan)
    if not plan.items:
        return outcome
    generated = generate_todo(context, models, KIND, plan)
    manifest, arrays = plan.manifest, {}
    started = time.perf_counter()
    for item in plan.items:
        out = output_path(batch_id, TEXTURES, item.id)
        if item.id in plan.reused:
            arrays[item.id] = load_rgba(out, "RGB")
            continue
        image = generated.images[item.id]
        item_provenance = provenance(plan, generated, item, CODE_VERSION)
        write_png(out, image, item_provenance)
        manifest.add(item.id, entry(plan.identities[item.id], [out], item_provenance))
        arrays[item.id] = np.asarray(image)
        outcome.previews.append(image)
    manifest.finish([item.id for item in plan.items])
    outcome.files = [output_path(batch_id, TEXTURES, item.id) for item in plan.items]
    tiles = checks.tileable({item.id: (arrays[item.id], item.tile) for item in plan.items})
    outcome.extra["max_seam_ratio"] = tiles.metadata["max_seam_ratio"]
    outcome.checks = {"tileable": tiles, "power_of_two": checks.power_of_two(arrays),
                      "not_constant": checks.not_constant(arrays)}
    return finish_outcome(outcome, plan, generated, started)


@asset(
    name=TEXTURES,
    group_name="materials",
    code_version=CODE_VERSION,
    **MODEL_ASSET_ARGS,
    check_specs=[
        spec(TEXTURES, "tileable", "Opposite edges meet: wrap-around edge difference <= 1.5x the neighbour "
             "differences next to the edges, on every tiled axis. Blocks pbr_maps.", blocking=True),
        spec(TEXTURES, "power_of_two", "Width and height are powers of two. Blocks pbr_maps.", blocking=True),
        spec(TEXTURES, "not_constant", "No flat or NaN-derived image."),
    ],
    description=(
        "Seamless textures: one tileable PNG per `texture` item, generated with circular padding in the "
        "UNet and VAE convolutions on the item's `tile` axes (both, x or y), at power-of-two sizes. "
        "`<output_dir>/<batch>/textures/<item>.png`."
    ),
)
def textures(context: AssetExecutionContext, models: ModelLoader) -> MaterializeResult:
    return materialize_partitions(context, lambda batch_id: textures_batch(context, models, batch_id),
                                  TEXTURE_CHECKS, "textures")


def pbr_batch(context: AssetExecutionContext, batch_id: str) -> BatchOutcome:
    from assetgen_dagster.assets.common import read_partition_batch
    from assetgen_dagster.generate import pbr

    batch, path = read_partition_batch(batch_id)
    items = batch.items_of_kind(KIND)
    outcome = BatchOutcome(batch_id, items=len(items))
    if not items:
        return outcome
    manifest, normals, heights, all_maps = Manifest(batch_id, PBR_MAPS), {}, {}, {}
    started = time.perf_counter()
    for item in items:
        source = output_path(batch_id, TEXTURES, item.id)
        if not source.is_file():
            raise Failure(f"{path.name}: item {item.id!r}: texture {source} is missing; materialize "
                          f"`textures` for this partition first", allow_retries=False)
        source_sha256 = file_record(source)["sha256"]
        identity = digest({"asset": f"{PBR_MAPS}/{CODE_VERSION}", "source": source_sha256,
                           "strength": item.normal_strength, "convention": item.normal_convention})
        files = [output_path(batch_id, PBR_MAPS, item.id, f"_{name}.png") for name in MAP_NAMES]
        if manifest.reuse(item.id, identity):
            outcome.reused += 1
            encoded = {name: load_rgba(f, "RGB" if name == "normal" else "L") for name, f in zip(MAP_NAMES, files)}
        else:
            texture = load_rgba(source, "RGB")
            maps = pbr.pbr_maps(texture, item.normal_strength, item.normal_convention)
            encoded = {"height": pbr.to_uint8(maps.height), "normal": pbr.encode_normal(maps.normal),
                       "roughness": pbr.to_uint8(maps.roughness), "ao": pbr.to_uint8(maps.ao)}
            item_provenance = {"source": str(source), "source_sha256": source_sha256,
                               "normal_strength": item.normal_strength,
                               "normal_convention": item.normal_convention, "identity": identity,
                               "code_version": f"{PBR_MAPS}/{CODE_VERSION}"}
            for name, file in zip(MAP_NAMES, files):
                write_png(file, encoded[name], {**item_provenance, "map": name})
            manifest.add(item.id, entry(identity, files, item_provenance))
            outcome.generated += 1
            outcome.previews += [encoded[name] for name in MAP_NAMES]
        outcome.files += files
        outcome.identities.append(identity)
        normals[item.id] = encoded["normal"]
        heights[item.id] = (encoded["height"], item.tile)
        all_maps.update({f"{item.id}_{name}": array for name, array in encoded.items()})
    manifest.finish([item.id for item in items])
    outcome.seconds = {"seconds": time.perf_counter() - started}
    outcome.checks = {"normals_unit_length": checks.unit_normals(normals), "maps_tile": checks.tileable(heights),
                      "not_constant": checks.not_constant(all_maps)}
    return outcome


@asset(
    name=PBR_MAPS,
    partitions_def=prompt_batches,
    deps=[TEXTURES],
    backfill_policy=BackfillPolicy.single_run(),
    automation_condition=AutomationCondition.eager(),
    group_name="materials",
    kinds={"numpy", "image"},
    owners=OWNERS,
    code_version=CODE_VERSION,
    check_specs=[
        spec(PBR_MAPS, "normals_unit_length", "Decoded normals have unit length (+-0.02) and face outwards."),
        spec(PBR_MAPS, "maps_tile", "Height maps tile like their texture (wrap-around filtering)."),
        spec(PBR_MAPS, "not_constant", "No flat or NaN-derived map."),
    ],
    description=(
        "PBR maps for every texture: height (luminance), normal (wrap-around Sobel; `normal_strength`, "
        "OpenGL or DirectX green channel per `normal_convention`), roughness and ambient-occlusion "
        "estimates, all tileable. `<output_dir>/<batch>/pbr_maps/<item>_<map>.png`. Follows `textures` "
        "automatically (eager automation condition)."
    ),
)
def pbr_maps(context: AssetExecutionContext) -> MaterializeResult:
    return materialize_partitions(context, lambda batch_id: pbr_batch(context, batch_id),
                                  PBR_CHECKS, "PBR maps")
