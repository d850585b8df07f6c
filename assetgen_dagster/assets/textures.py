"""``textures`` (seamless, power-of-two) and ``pbr_maps`` (height, normal, roughness, AO) per batch."""

import time

import numpy as np
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

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
from assetgen_dagster.partitions import prompt_batches

KIND = "texture"
TEXTURES, PBR_MAPS = "textures", "pbr_maps"
CODE_VERSION = "1"
MAP_NAMES = ("height", "normal", "roughness", "ao")


def texture_requests(batch: PromptBatch, items: list[Item], defaults: GenerationParams) -> list:
    """Image requests that generate with wrap-around padding on each item's ``tile`` axes."""
    from dataclasses import replace

    return [replace(request, tile=item.tile) for request, item in zip(image_requests(batch, items, defaults), items)]


@asset(
    name=TEXTURES,
    partitions_def=prompt_batches,
    group_name="materials",
    kinds={"pytorch", "image"},
    owners=OWNERS,
    code_version=CODE_VERSION,
    retry_policy=MODEL_RETRY_POLICY,
    check_specs=[
        spec(TEXTURES, "tileable", "Opposite edges meet: wrap-around edge difference <= 1.5x interior "
             "neighbour difference on every tiled axis. Blocks pbr_maps.", blocking=True),
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
    with dagster_failures():
        batch, path, items = load_kind(context, KIND)
        if not items:
            context.log.info(f"{path.name}: no {KIND} items")
            return MaterializeResult(
                metadata={"items": 0, "batch_hash": batch_hash(batch)},
                check_results=[skipped("tileable"), skipped("power_of_two"), skipped("not_constant")],
            )
        run = generate_kind(context, models, KIND, CODE_VERSION, batch, items, texture_requests)
        started = time.perf_counter()
        written, entries, arrays = [], {}, {}
        for item, request, image in zip(items, run.requests, run.images, strict=True):
            provenance = run.provenance(item, request)
            out = write_png(output_path(run.batch_id, TEXTURES, item.id), image, provenance)
            written.append(out)
            entries[item.id] = {"files": [out], "provenance": provenance}
            arrays[item.id] = np.asarray(image)
        write_manifest(run.batch_id, TEXTURES, entries)
        write_seconds = time.perf_counter() - started

    tiles = checks.tileable({item.id: (arrays[item.id], item.tile) for item in items})
    return MaterializeResult(
        metadata={**run_metadata(run, written, run.images, write_seconds, f"{run.batch_id} textures"),
                  "max_seam_ratio": tiles.metadata["max_seam_ratio"]},
        check_results=[
            result("tileable", tiles),
            result("power_of_two", checks.power_of_two(arrays)),
            result("not_constant", checks.not_constant(arrays)),
        ],
    )


@asset(
    name=PBR_MAPS,
    partitions_def=prompt_batches,
    deps=[TEXTURES],
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
        "estimates, all tileable. `<output_dir>/<batch>/pbr_maps/<item>_<map>.png`."
    ),
)
def pbr_maps(context: AssetExecutionContext) -> MaterializeResult:
    from PIL import Image

    from assetgen_dagster.generate import pbr

    with dagster_failures():
        batch, path, items = load_kind(context, KIND)
        names = ("normals_unit_length", "maps_tile", "not_constant")
        if not items:
            return MaterializeResult(metadata={"items": 0}, check_results=[skipped(n) for n in names])
        started = time.perf_counter()
        written, entries, normals, heights, all_maps = [], {}, {}, {}, {}
        for item in items:
            source = output_path(context.partition_key, TEXTURES, item.id)
            if not source.is_file():
                raise Failure(f"{path.name}: item {item.id!r}: texture {source} is missing; materialize "
                              f"`textures` for this partition first", allow_retries=False)
            with Image.open(source) as image:
                texture = np.asarray(image.convert("RGB"))
                source_provenance = image.text.get("assetgen", "{}")
            maps = pbr.pbr_maps(texture, item.normal_strength, item.normal_convention)
            encoded = {"height": pbr.to_uint8(maps.height), "normal": pbr.encode_normal(maps.normal),
                       "roughness": pbr.to_uint8(maps.roughness), "ao": pbr.to_uint8(maps.ao)}
            provenance = {"source": str(source), "source_provenance": source_provenance,
                          "normal_strength": item.normal_strength, "normal_convention": item.normal_convention,
                          "code_version": f"{PBR_MAPS}/{CODE_VERSION}"}
            files = [write_png(output_path(context.partition_key, PBR_MAPS, item.id, f"_{name}.png"),
                               encoded[name], {**provenance, "map": name}) for name in MAP_NAMES]
            written += files
            entries[item.id] = {"files": files, "provenance": provenance}
            normals[item.id] = encoded["normal"]
            heights[item.id] = (encoded["height"], item.tile)
            all_maps.update({f"{item.id}_{name}": array for name, array in encoded.items()})
        write_manifest(context.partition_key, PBR_MAPS, entries)
        seconds = time.perf_counter() - started

    from assetgen_dagster.generate.preview import preview_markdown

    previews = [Image.fromarray(all_maps[f"{item.id}_{name}"]) for item in items for name in MAP_NAMES]
    return MaterializeResult(
        metadata={
            "items": len(items),
            "maps": len(written),
            "seconds": round(seconds, 3),
            "outputs": MetadataValue.json([str(p) for p in written]),
            "preview": MetadataValue.md(preview_markdown(previews, f"{context.partition_key} PBR maps")),
        },
        check_results=[
            result("normals_unit_length", checks.unit_normals(normals)),
            result("maps_tile", checks.tileable(heights)),
            result("not_constant", checks.not_constant(all_maps)),
        ],
    )
